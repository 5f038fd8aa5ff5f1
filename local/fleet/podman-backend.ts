import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { ComputeObservation, ComputeUnit } from '../../bridge/src/observe/observation.ts';
import {
  assertDesiredCount,
  fleetObservation,
  type ComputeBackend,
} from '../../bridge/src/compute/compute-backend.ts';
import type { LifecycleEvent } from './process-backend.ts';
import type { WorkerReadiness } from './worker-launch.ts';

const run = promisify(execFile);

/** Where the workers find the broker: the variables of the worker image's entrypoint (the cross-team contract). */
export interface PodmanBrokerSettings {
  readonly host: string;
  readonly port: number;
  readonly vhost: string;
  readonly user: string;
  /** Passed to podman through its environment only, never on a command line. */
  readonly password: string;
}

/** Options of the `podman` backend: containers of the real worker image. */
export interface PodmanBackendOptions {
  /** The worker image (its entrypoint reads OQ_* variables and names the worker `oq@<container hostname>`). */
  readonly image: string;
  readonly broker: PodmanBrokerSettings;
  /** Lifecycle log and, by default, the pool label. */
  readonly stateDir: string;
  /** Host directory mounted read-only at OQ_SHARED_DIR, as EFS is on Fargate. */
  readonly sharedDir: string;
  /** Host file the tasks journal to (test app images); its directory is mounted read-write. @default none */
  readonly journalPath?: string;
  /** Worker processes per worker (OQ_WORKER_CONCURRENCY). @default 2 */
  readonly concurrency?: number;
  /** Label value that groups this fleet's containers, so parallel fleets never see each other. @default from stateDir */
  readonly pool?: string;
  /** The podman command. @default `podman --runtime runc --cgroup-manager=cgroupfs` (what runs on these hosts). */
  readonly podman?: readonly string[];
  /** Seconds between SIGTERM and SIGKILL on retire; 120 s is Fargate's largest stopTimeout. @default 120 */
  readonly stopTimeoutSeconds?: number;
  /**
   * Entrypoint variables that replace this backend's defaults, for a master of the caller's (its DbServer port
   * and authkey, receiver ports, shared_dir). OQ_AMQP_PASSWORD and OQ_DBSERVER_AUTHKEY go to podman by name only.
   * @default the test app's: no DbServer, shared_dir at /opt/openquake/shared
   */
  readonly workerEnvironment?: Readonly<Record<string, string>>;
  /**
   * Which workers are ready, asked of the workers themselves (a remote-control `ping`). @default the log line
   * ` ready.` of celery at INFO
   */
  readonly readiness?: WorkerReadiness;
}

/** The engine's shared_dir inside a worker (contract/cluster-constants.ts SHARED_DIR). */
const CONTAINER_SHARED_DIR = '/opt/openquake/shared';
const CONTAINER_JOURNAL_DIR = '/var/lib/oq-journal';
const READY_MARK = ' ready.';
const POOL_LABEL = 'oqe.pool';
const UNIT_LABEL = 'oqe.unit';

interface PsEntry {
  readonly Names?: string[];
  readonly State?: string;
  readonly Labels?: Record<string, string>;
  readonly Created?: number;
  readonly StartedAt?: number;
  readonly ExitCode?: number;
}

/**
 * The `podman` compute backend: each unit is a container of the worker image, hostname `<unitId>`, so its
 * celery worker is `oq@<unitId>` as on Fargate. The image's entrypoint validates the same variables as the ECS
 * task definition sets; host networking stands in for the VPC. Like an ECS service it keeps `desired` containers
 * and replaces dead ones; `retire` stops exactly the named containers with SIGTERM (celery's warm shutdown).
 */
export class PodmanBackend implements ComputeBackend {
  readonly name = 'podman';
  private readonly pool: string;
  private readonly podman: readonly string[];
  private readonly lifecyclePath: string;
  private readonly concurrency: number;
  private readonly stopTimeoutSeconds: number;
  private desired: number | undefined;
  private readonly ready = new Set<string>();
  private readonly stopping = new Set<string>();
  /** Stops of retired containers still under way. */
  private readonly exiting = new Set<Promise<void>>();
  private readonly protectedUnits = new Set<string>();
  private readonly seen = new Set<string>();
  private reconciling: Promise<unknown> = Promise.resolve();
  /** Why the last unit that failed on its own exited (its exit code and last output lines), for logs and tests. */
  lastFailure?: string;

  constructor(private readonly options: PodmanBackendOptions) {
    if (!options.image) throw new Error('PodmanBackend: image is empty; pass the worker image tag');
    if (!Number.isInteger(options.broker.port) || options.broker.port < 1 || options.broker.port > 65535) {
      throw new Error(`PodmanBackend: broker.port is ${options.broker.port}; pass a TCP port (1-65535)`);
    }
    const concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(
        `PodmanBackend: concurrency is ${concurrency}; set a whole number of worker processes >= 1`,
      );
    }
    this.concurrency = concurrency;
    mkdirSync(options.stateDir, { recursive: true });
    this.lifecyclePath = join(options.stateDir, 'lifecycle.jsonl');
    this.pool =
      options.pool ??
      `oqe-${createHash('sha256').update(resolve(options.stateDir)).digest('hex').slice(0, 12)}`;
    this.podman = options.podman ?? ['podman', '--runtime', 'runc', '--cgroup-manager=cgroupfs'];
    this.stopTimeoutSeconds = options.stopTimeoutSeconds ?? 120;
  }

  async describe(): Promise<ComputeObservation> {
    const containers = await this.reconcile();
    const units: ComputeUnit[] = containers.map((c) => ({
      unitId: c.unitId,
      celeryHostname: `oq@${c.unitId}`,
      state: this.stopping.has(c.unitId) ? 'stopping' : this.ready.has(c.unitId) ? 'running' : 'pending',
      startedAt: c.startedAt,
      protected: this.protectedUnits.has(c.unitId),
    }));
    return fleetObservation(this.desired ?? units.length, units, Date.now());
  }

  async scaleTo(desired: number): Promise<void> {
    assertDesiredCount('PodmanBackend.scaleTo', desired);
    if (this.desired === undefined) await this.reconcile();
    this.desired = desired;
    await this.reconcile();
  }

  async retire(unitIds: readonly string[]): Promise<void> {
    const live = new Set((await this.liveContainers()).map((c) => c.unitId));
    const unknown = unitIds.filter((id) => !live.has(id));
    if (unknown.length > 0) {
      throw new Error(`PodmanBackend.retire: no live unit ${unknown.join(', ')}; pass ids from describe()`);
    }
    if (this.desired === undefined) this.desired = live.size;
    for (const id of unitIds) {
      if (this.stopping.has(id)) continue;
      this.stopping.add(id);
      this.desired = Math.max(0, (this.desired ?? 1) - 1);
      this.logEvent({ event: 'retire', unitId: id, t: Date.now(), signal: 'SIGTERM' });
      // podman stop: the image's stop signal (SIGTERM), then SIGKILL after the timeout, as ECS does. Waited
      // for in the background: a retirement must not delay the next cycle (see ComputeBackend.retire).
      const stopping = (async () => {
        await this.podmanRun(['stop', '-t', String(this.stopTimeoutSeconds), containerName(id)], {
          timeout: (this.stopTimeoutSeconds + 30) * 1000,
        }).catch(() => undefined);
        await this.remove(id);
      })();
      const tracked = stopping.catch(() => undefined).finally(() => this.exiting.delete(tracked));
      this.exiting.add(tracked);
    }
  }

  /** Resolves once every container retired so far is stopped and removed. */
  async retirementsSettled(): Promise<void> {
    while (this.exiting.size > 0) await Promise.all([...this.exiting]);
  }

  async protect(unitIds: readonly string[], _minutes: number): Promise<void> {
    for (const id of unitIds) this.protectedUnits.add(id);
  }

  async release(unitIds: readonly string[]): Promise<void> {
    for (const id of unitIds) this.protectedUnits.delete(id);
  }

  /** Containers keep running for the next bridge, like ECS tasks. */
  async close(): Promise<void> {
    await this.retirementsSettled();
  }

  /** SIGKILL a unit's container, as a crashed host would; desired is unchanged, so it is replaced. */
  async kill(unitId: string, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.podmanRun(['kill', '-s', sig.replace(/^SIG/, ''), containerName(unitId)]);
    // Stamped once the signal is delivered: podman takes a moment, and the worker may start a task meanwhile.
    this.logEvent({ event: 'kill', unitId, t: Date.now(), signal: sig });
  }

  /** Stops and removes every container of this pool and sets desired to 0 (tests and the demo's cleanup). */
  async shutdownAll(timeoutSeconds = 20): Promise<void> {
    this.desired = 0;
    const live = await this.liveContainers(true);
    await Promise.all(
      live.map(async (c) => {
        this.stopping.add(c.unitId);
        await this.podmanRun(['stop', '-t', String(timeoutSeconds), containerName(c.unitId)]).catch(() => {});
        await this.remove(c.unitId);
      }),
    );
  }

  lifecycle(): LifecycleEvent[] {
    try {
      return readFileSync(this.lifecyclePath, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as LifecycleEvent);
    } catch {
      return [];
    }
  }

  /** Removes exited containers, marks ready ones from their logs, starts containers up to `desired`. */
  private reconcile(): Promise<Array<{ unitId: string; startedAt?: number }>> {
    // One at a time: `podman run` takes a second, and two overlapping passes (the bridge's describe and a
    // scaleTo, or another reader) would both see the fleet short and start a container each.
    const next = this.reconciling.then(
      () => this.reconcileNow(),
      () => this.reconcileNow(),
    );
    this.reconciling = next.catch(() => undefined);
    return next;
  }

  private async reconcileNow(): Promise<Array<{ unitId: string; startedAt?: number }>> {
    const all = await this.liveContainers(true);
    const live: Array<{ unitId: string; startedAt?: number }> = [];
    for (const c of all) {
      if (c.state !== 'running' && c.state !== 'created' && c.state !== 'configured') {
        await this.remove(c.unitId, c.exitCode);
        continue;
      }
      this.seen.add(c.unitId);
      if (!this.ready.has(c.unitId) && !this.stopping.has(c.unitId) && !this.options.readiness) {
        const logs = await this.podmanRun(['logs', containerName(c.unitId)]).catch(() => ({
          stdout: '',
          stderr: '',
        }));
        if (`${logs.stdout}${logs.stderr}`.includes(READY_MARK)) this.ready.add(c.unitId);
      }
      live.push(c);
    }
    const pending = live.filter((c) => !this.ready.has(c.unitId) && !this.stopping.has(c.unitId));
    if (this.options.readiness && pending.length > 0) {
      const answered = await this.options
        .readiness(pending.map((c) => `oq@${c.unitId}`))
        .catch(() => new Set<string>());
      for (const c of pending) if (answered.has(`oq@${c.unitId}`)) this.ready.add(c.unitId);
    }
    // A restarted bridge adopts the live fleet as its desired count rather than starting from zero.
    if (this.desired === undefined) this.desired = live.filter((c) => !this.stopping.has(c.unitId)).length;
    const active = live.filter((c) => !this.stopping.has(c.unitId)).length;
    const starts: Promise<{ unitId: string; startedAt: number }>[] = [];
    for (let i = active; i < this.desired; i++) starts.push(this.startUnit());
    live.push(...(await Promise.all(starts)));
    return live;
  }

  private async startUnit(): Promise<{ unitId: string; startedAt: number }> {
    const unitId = `c${randomBytes(4).toString('hex')}`;
    const b = this.options.broker;
    const args = ['run', '-d', '--name', containerName(unitId), '--hostname', unitId, '--network', 'host'];
    args.push('--label', `${POOL_LABEL}=${this.pool}`, '--label', `${UNIT_LABEL}=${unitId}`);
    // Fargate has no swap and these hosts need explicit limits (see DESIGN.md, containers without Docker).
    args.push('--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=10000:10000');
    args.push('--stop-signal', 'SIGTERM', '--stop-timeout', String(this.stopTimeoutSeconds));
    const given = { ...this.options.workerEnvironment };
    const { OQ_AMQP_PASSWORD: _password, OQ_DBSERVER_AUTHKEY: authkey, ...plain } = given;
    // The engine's workers open datastores by the master's absolute paths: shared_dir sits at the same path.
    const sharedDir = plain.OQ_SHARED_DIR ?? CONTAINER_SHARED_DIR;
    args.push('-v', `${resolve(this.options.sharedDir)}:${sharedDir}:ro`);
    const env: Record<string, string> = {
      OQ_MASTER_HOST: b.host,
      OQ_AMQP_PORT: String(b.port),
      OQ_AMQP_USER: b.user,
      OQ_AMQP_VHOST: b.vhost,
      OQ_CELERY_QUEUE: 'celery',
      OQ_DBSERVER_PORT: '1908',
      OQ_RECEIVER_PORTS: '1912-1920',
      OQ_SHARED_DIR: CONTAINER_SHARED_DIR,
      OQ_WORKER_CONCURRENCY: String(this.concurrency),
      ...plain,
    };
    if (this.options.journalPath) {
      const journal = resolve(this.options.journalPath);
      const dir = journal.slice(0, journal.lastIndexOf('/'));
      args.push('-v', `${dir}:${CONTAINER_JOURNAL_DIR}:rw`);
      env.OQ_TESTAPP_JOURNAL = `${CONTAINER_JOURNAL_DIR}/${journal.slice(journal.lastIndexOf('/') + 1)}`;
    }
    for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
    // Secrets by name only: podman copies the value from its own environment, so it is on no command line.
    args.push('-e', 'OQ_AMQP_PASSWORD', '-e', 'OQ_DBSERVER_AUTHKEY');
    args.push(this.options.image);
    const startedAt = Date.now();
    await this.podmanRun(args, {
      env: {
        ...process.env,
        OQ_AMQP_PASSWORD: b.password,
        OQ_DBSERVER_AUTHKEY: authkey ?? 'local-no-dbserver',
      },
    });
    this.logEvent({ event: 'spawn', unitId, t: startedAt });
    return { unitId, startedAt };
  }

  private async liveContainers(
    includeExited = false,
  ): Promise<Array<{ unitId: string; state: string; startedAt?: number; exitCode?: number }>> {
    const args = ['ps', '--filter', `label=${POOL_LABEL}=${this.pool}`, '--format', 'json'];
    if (includeExited) args.splice(1, 0, '-a');
    const { stdout } = await this.podmanRun(args);
    const entries = (stdout.trim() ? JSON.parse(stdout) : []) as PsEntry[];
    return entries
      .map((e) => ({
        unitId: e.Labels?.[UNIT_LABEL] ?? '',
        state: (e.State ?? '').toLowerCase(),
        exitCode: e.ExitCode,
        startedAt: e.StartedAt ? e.StartedAt * 1000 : e.Created ? e.Created * 1000 : undefined,
      }))
      .filter((e) => e.unitId !== '')
      .sort((a, b) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
  }

  private async remove(unitId: string, exitCode?: number): Promise<void> {
    let detail: string | undefined;
    if (exitCode !== undefined && exitCode !== 0 && !this.stopping.has(unitId)) {
      // Like an ECS stoppedReason: the entrypoint prints why it refused to start (never a secret's value).
      const logs = await this.podmanRun(['logs', '--tail', '6', containerName(unitId)]).catch(
        () => undefined,
      );
      detail = `${logs?.stdout ?? ''}${logs?.stderr ?? ''}`.trim().split('\n').slice(-6).join(' | ');
      this.lastFailure = `unit ${unitId} exited with ${exitCode}: ${detail}`;
    }
    // The worker's whole log stays in the state directory, for an analysis after the run.
    const all = await this.podmanRun(['logs', containerName(unitId)]).catch(() => undefined);
    if (all) appendFileSync(join(this.options.stateDir, `${unitId}.log`), `${all.stdout}${all.stderr}`);
    await this.podmanRun(['rm', '-f', '-v', '-t', '0', containerName(unitId)]).catch(() => undefined);
    if (this.seen.delete(unitId) || this.stopping.has(unitId)) {
      this.logEvent({ event: 'exit', unitId, t: Date.now(), exitCode, detail });
    }
    this.ready.delete(unitId);
    this.stopping.delete(unitId);
    this.protectedUnits.delete(unitId);
  }

  private logEvent(event: LifecycleEvent): void {
    appendFileSync(this.lifecyclePath, `${JSON.stringify(event)}\n`);
  }

  private async podmanRun(
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {},
  ): Promise<{ stdout: string; stderr: string }> {
    const [cmd, ...base] = this.podman;
    try {
      return await run(cmd, [...base, ...args], {
        env: opts.env ?? process.env,
        timeout: opts.timeout ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(
        `PodmanBackend: podman ${args[0]} failed: ${stderr.trim().split('\n').slice(-2).join(' ')}`,
      );
    }
  }
}

function containerName(unitId: string): string {
  return `oq-${unitId}`;
}
