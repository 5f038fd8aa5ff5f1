import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { DEFAULT_RETIRE_TIMEOUT_MS, LocalFleet, type LocalFleetOptions } from './local-fleet.ts';
import type { UnitRecord } from './unit-records.ts';
import type { UnitSighting, UnitStart, WorkerRuntime } from './worker-runtime.ts';

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

/** Options of a fleet of containers of the real worker image. */
export interface PodmanFleetOptions extends LocalFleetOptions {
  /** The worker image (its entrypoint reads OQ_* variables and names the worker `oq@<container hostname>`). */
  readonly image: string;
  readonly broker: PodmanBrokerSettings;
  /** Host directory mounted read-only at OQ_SHARED_DIR, as EFS is on Fargate. */
  readonly sharedDir: string;
  /** Host file the tasks journal to (test app images); its directory is mounted read-write. @default none */
  readonly journalPath?: string;
  /** Label value that groups this fleet's containers, so parallel fleets never see each other. @default from stateDir */
  readonly pool?: string;
  /** The podman command. @default `podman --runtime runc --cgroup-manager=cgroupfs` (what runs on these hosts). */
  readonly podman?: readonly string[];
  /**
   * Entrypoint variables that replace this runtime's defaults, for a master of the caller's (its DbServer port
   * and authkey, receiver ports, shared_dir). OQ_AMQP_PASSWORD and OQ_DBSERVER_AUTHKEY go to podman by name only.
   * @default the test app's: no DbServer, shared_dir at /opt/openquake/shared
   */
  readonly workerEnvironment?: Readonly<Record<string, string>>;
  /** See {@link LocalFleetOptions.shutdownTimeoutMs}. @default 20000 */
  readonly shutdownTimeoutMs?: number;
}

/**
 * The `podman` fleet: each unit is a container of the worker image, hostname `<unitId>`, so its celery worker is
 * `oq@<unitId>` as on Fargate. The image's entrypoint validates the same variables as the ECS task definition
 * sets; host networking stands in for the VPC.
 */
export function podmanFleet(options: PodmanFleetOptions): LocalFleet {
  const retireTimeoutMs = options.retireTimeoutMs ?? DEFAULT_RETIRE_TIMEOUT_MS;
  return new LocalFleet(new PodmanRuntime({ ...options, retireTimeoutMs }), {
    ...options,
    retireTimeoutMs,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 20_000,
  });
}

/** The engine's shared_dir inside a worker (contract/cluster-constants.ts SHARED_DIR). */
const CONTAINER_SHARED_DIR = '/opt/openquake/shared';
const CONTAINER_JOURNAL_DIR = '/var/lib/oq-journal';
const POOL_LABEL = 'oqe.pool';
const UNIT_LABEL = 'oqe.unit';
/** Container states of a unit that is alive (starting or running). */
const ALIVE_STATES = new Set(['running', 'created', 'configured']);

interface PsEntry {
  readonly Names?: string[];
  readonly State?: string;
  readonly Labels?: Record<string, string>;
  readonly Created?: number;
  readonly StartedAt?: number;
  readonly ExitCode?: number;
}

/**
 * Workers as podman containers named `oq-<unitId>`, labelled with their pool and unit, so that `podman ps` finds
 * a fleet whatever its records say; each container's output is kept in `<stateDir>/<unitId>.log` when it goes.
 */
export class PodmanRuntime implements WorkerRuntime<object> {
  readonly name = 'podman';
  readonly unitIdPrefix = 'c';
  private readonly pool: string;
  private readonly podman: readonly string[];
  /** Seconds between SIGTERM and SIGKILL, as the container's own stop timeout. */
  private readonly stopTimeoutSeconds: number;

  constructor(private readonly options: PodmanFleetOptions & { readonly retireTimeoutMs: number }) {
    if (!options.image) throw new Error('podmanFleet: image is empty; pass the worker image tag');
    if (!Number.isInteger(options.broker.port) || options.broker.port < 1 || options.broker.port > 65535) {
      throw new Error(`podmanFleet: broker.port is ${options.broker.port}; pass a TCP port (1-65535)`);
    }
    this.pool =
      options.pool ??
      `oqe-${createHash('sha256').update(resolve(options.stateDir)).digest('hex').slice(0, 12)}`;
    this.podman = options.podman ?? ['podman', '--runtime', 'runc', '--cgroup-manager=cgroupfs'];
    this.stopTimeoutSeconds = Math.ceil(options.retireTimeoutMs / 1000);
  }

  async start({ unitId, concurrency }: UnitStart): Promise<object> {
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
      OQ_WORKER_CONCURRENCY: String(concurrency),
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
    await this.podmanRun(args, {
      env: {
        ...process.env,
        OQ_AMQP_PASSWORD: b.password,
        OQ_DBSERVER_AUTHKEY: authkey ?? 'local-no-dbserver',
      },
    });
    return {};
  }

  async survey(records: readonly UnitRecord[]): Promise<UnitSighting<object>[]> {
    const args = ['ps', '-a', '--filter', `label=${POOL_LABEL}=${this.pool}`, '--format', 'json'];
    const { stdout } = await this.podmanRun(args);
    const entries = (stdout.trim() ? JSON.parse(stdout) : []) as PsEntry[];
    const recorded = new Map(records.map((r) => [r.unitId, r]));
    const sightings: UnitSighting<object>[] = [];
    for (const e of entries) {
      const unitId = e.Labels?.[UNIT_LABEL] ?? '';
      if (unitId === '') continue;
      const startedAt = e.StartedAt ? e.StartedAt * 1000 : e.Created ? e.Created * 1000 : Date.now();
      const record = recorded.get(unitId) ?? { unitId, startedAt };
      recorded.delete(unitId);
      sightings.push({
        record,
        alive: ALIVE_STATES.has((e.State ?? '').toLowerCase()),
        exitCode: e.ExitCode,
      });
    }
    // A recorded unit without a container was removed behind the fleet's back.
    for (const record of recorded.values()) sightings.push({ record, alive: false });
    return sightings;
  }

  async output(unit: UnitRecord): Promise<string> {
    const logs = await this.podmanRun(['logs', containerName(unit.unitId)]).catch(() => undefined);
    return logs ? `${logs.stdout}${logs.stderr}` : '';
  }

  async stop(unit: UnitRecord, timeoutMs: number): Promise<void> {
    // podman stop: the image's stop signal (SIGTERM), then SIGKILL after the timeout, as ECS does.
    const seconds = Math.ceil(timeoutMs / 1000);
    await this.podmanRun(['stop', '-t', String(seconds), containerName(unit.unitId)], {
      timeout: (seconds + 30) * 1000,
    }).catch(() => undefined);
  }

  async kill(unit: UnitRecord, signal: NodeJS.Signals): Promise<boolean> {
    await this.podmanRun(['kill', '-s', signal.replace(/^SIG/, ''), containerName(unit.unitId)]);
    return true;
  }

  async remove(unit: UnitRecord, { exitCode }: { readonly exitCode?: number }): Promise<string | undefined> {
    const name = containerName(unit.unitId);
    let detail: string | undefined;
    if (exitCode !== undefined && exitCode !== 0 && !unit.stopping) {
      // Like an ECS stoppedReason: the entrypoint prints why it refused to start (never a secret's value).
      const logs = await this.podmanRun(['logs', '--tail', '6', name]).catch(() => undefined);
      detail = `${logs?.stdout ?? ''}${logs?.stderr ?? ''}`.trim().split('\n').slice(-6).join(' | ');
    }
    // The worker's whole log stays in the state directory, for an analysis after the run.
    const all = await this.podmanRun(['logs', name]).catch(() => undefined);
    if (all) appendFileSync(join(this.options.stateDir, `${unit.unitId}.log`), `${all.stdout}${all.stderr}`);
    await this.podmanRun(['rm', '-f', '-v', '-t', '0', name]).catch(() => undefined);
    return detail;
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
        `podmanFleet: podman ${args[0]} failed: ${stderr.trim().split('\n').slice(-2).join(' ')}`,
      );
    }
  }
}

function containerName(unitId: string): string {
  return `oq-${unitId}`;
}
