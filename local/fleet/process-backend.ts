import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ComputeObservation, ComputeUnit } from '../../bridge/src/observe/observation.ts';
import {
  assertDesiredCount,
  fleetObservation,
  type ComputeBackend,
} from '../../bridge/src/compute/compute-backend.ts';
import { testAppLaunch, type WorkerLaunch, type WorkerReadiness } from './worker-launch.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Options of the `process` backend: celery workers as local processes. */
export interface ProcessBackendOptions {
  /**
   * How to start one worker: any celery app and command with exactly the environment it needs (for the real
   * engine, the product's worker entrypoint). @default the engine-like test app of `brokerUrl`, `python`,
   * `appDir` and `journalPath`
   */
  readonly launch?: WorkerLaunch;
  /**
   * Which workers are ready, asked of the workers themselves (a remote-control `ping`). @default the test app's
   * INFO log line ` ready.` (a worker at another log level would never count as ready)
   */
  readonly readiness?: WorkerReadiness;
  /**
   * AMQP URL (with vhost) the test app's workers connect to, when no `launch` is given. It holds a password: it
   * is passed in the environment only.
   */
  readonly brokerUrl?: string;
  /**
   * Directory of unit records, worker logs and the lifecycle log. Workers outlive the bridge (like ECS tasks),
   * so a bridge restarted with the same directory finds the fleet it left.
   */
  readonly stateDir: string;
  /** Python with celery. @default `<repo>/.venv/bin/python` */
  readonly python?: string;
  /** Directory of the celery app module `oq_testapp`. @default `<repo>/worker-image/testapp` */
  readonly appDir?: string;
  /** Worker processes per worker (celery `-c`). @default 2 */
  readonly concurrency?: number;
  /** The tasks' journal, passed to the workers as OQ_TESTAPP_JOURNAL. @default none */
  readonly journalPath?: string;
  /**
   * How long a retired worker may take to finish its warm shutdown before SIGKILL. 120 s is Fargate's largest
   * `stopTimeout` (ECS task definition parameters), so a local run never waits longer than ECS would.
   * @default 120000
   */
  readonly retireTimeoutMs?: number;
}

/** One record per unit, in `<stateDir>/units/<unitId>.json`. */
interface UnitRecord {
  readonly unitId: string;
  readonly pid: number;
  readonly startedAt: number;
  readonly logPath: string;
  stopping?: boolean;
  ready?: boolean;
  protected?: boolean;
}

/** One line of `<stateDir>/lifecycle.jsonl`: what the backend did to units, for the journal analysis. */
export interface LifecycleEvent {
  readonly event: 'spawn' | 'retire' | 'kill' | 'exit';
  readonly unitId: string;
  readonly t: number;
  readonly signal?: string;
  /** For an exit: the exit code and the last lines of the unit's output when it failed (secrets are not in it). */
  readonly exitCode?: number;
  readonly detail?: string;
}

/** Celery's worker logs `<hostname> ready.` once its consumers are started (celery/apps/worker.py). */
const READY_MARK = ' ready.';

/**
 * The `process` compute backend: each unit is one celery worker (the engine-like test app by default, or any
 * `launch`, such as the product's worker entrypoint with the real engine), started as a detached process group
 * named `oq@<unitId>`, never with `--purge` (a worker that purges on start would erase a running calculation's
 * queued tasks). Like an ECS service it keeps `desired` units alive,
 * replacing any that die; `retire` sends a warm shutdown (SIGTERM) to exactly the named units.
 */
export class ProcessBackend implements ComputeBackend {
  readonly name = 'process';
  private readonly unitsDir: string;
  private readonly lifecyclePath: string;
  private readonly launch: WorkerLaunch;
  private readonly concurrency: number;
  private readonly retireTimeoutMs: number;
  /** Exits of retired units still being watched. */
  private readonly exiting = new Set<Promise<void>>();
  private desired: number;

  constructor(private readonly options: ProcessBackendOptions) {
    const brokerUrl = options.brokerUrl ?? '';
    if (!options.launch && !brokerUrl.startsWith('amqp://') && !brokerUrl.startsWith('amqps://')) {
      throw new Error(
        'ProcessBackend: brokerUrl must be an amqp:// or amqps:// URL; set it to the broker of the vhost, or pass a launch',
      );
    }
    const concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(
        `ProcessBackend: concurrency is ${concurrency}; set a whole number of worker processes >= 1`,
      );
    }
    this.concurrency = concurrency;
    this.unitsDir = join(options.stateDir, 'units');
    this.lifecyclePath = join(options.stateDir, 'lifecycle.jsonl');
    this.launch =
      options.launch ??
      testAppLaunch({
        brokerUrl,
        python: options.python ?? join(REPO_ROOT, '.venv/bin/python'),
        appDir: options.appDir ?? join(REPO_ROOT, 'worker-image/testapp'),
        journalPath: options.journalPath === undefined ? undefined : resolve(options.journalPath),
      });
    this.retireTimeoutMs = options.retireTimeoutMs ?? 120_000;
    mkdirSync(this.unitsDir, { recursive: true });
    // A restarted bridge adopts the live fleet as its desired count rather than starting from zero.
    this.desired = this.liveRecords().filter((r) => !r.stopping).length;
  }

  async describe(): Promise<ComputeObservation> {
    this.reconcile();
    await this.markReady();
    const units: ComputeUnit[] = this.liveRecords().map((r) => ({
      unitId: r.unitId,
      celeryHostname: `oq@${r.unitId}`,
      state: r.stopping ? 'stopping' : r.ready ? 'running' : 'pending',
      startedAt: r.startedAt,
      protected: r.protected ?? false,
    }));
    return fleetObservation(this.desired, units, Date.now());
  }

  async scaleTo(desired: number): Promise<void> {
    assertDesiredCount('ProcessBackend.scaleTo', desired);
    this.desired = desired;
    this.reconcile();
  }

  async retire(unitIds: readonly string[]): Promise<void> {
    const records = new Map(this.liveRecords().map((r) => [r.unitId, r]));
    const unknown = unitIds.filter((id) => !records.has(id));
    if (unknown.length > 0) {
      throw new Error(`ProcessBackend.retire: no live unit ${unknown.join(', ')}; pass ids from describe()`);
    }
    for (const id of unitIds) {
      const record = records.get(id)!;
      if (!record.stopping) {
        record.stopping = true;
        this.writeRecord(record);
        this.desired = Math.max(0, this.desired - 1);
        this.logEvent({ event: 'retire', unitId: id, t: Date.now(), signal: 'SIGTERM' });
        // SIGTERM to the worker's main process only: celery's warm shutdown lets its pool finish running tasks.
        signal(record.pid, 'SIGTERM');
        // The exit (and the SIGKILL at the retire timeout) is watched in the background: see ComputeBackend.
        this.track(this.waitForExit(record));
      }
    }
  }

  /** Resolves once every unit retired so far has exited (for tests and an orderly shutdown). */
  async retirementsSettled(): Promise<void> {
    while (this.exiting.size > 0) await Promise.all([...this.exiting]);
  }

  private track(work: Promise<void>): void {
    const tracked = work.finally(() => this.exiting.delete(tracked));
    this.exiting.add(tracked);
  }

  async protect(unitIds: readonly string[], _minutes: number): Promise<void> {
    this.setProtected(unitIds, true);
  }

  async release(unitIds: readonly string[]): Promise<void> {
    this.setProtected(unitIds, false);
  }

  /**
   * Waits for the retired units to exit; the other workers are detached on purpose and keep running for the
   * next bridge.
   */
  async close(): Promise<void> {
    await this.retirementsSettled();
  }

  /**
   * Kills a unit's whole process group at once, as a crashed host or an out-of-memory kill would. For tests of
   * redelivery: the desired count is unchanged, so the next reconcile starts a replacement, as ECS would.
   */
  kill(unitId: string, sig: NodeJS.Signals = 'SIGKILL'): void {
    const record = this.liveRecords().find((r) => r.unitId === unitId);
    if (!record) throw new Error(`ProcessBackend.kill: no live unit ${unitId}`);
    signal(-record.pid, sig);
    this.logEvent({ event: 'kill', unitId, t: Date.now(), signal: sig });
  }

  /** Stops every unit (warm shutdown, then SIGKILL after the retire timeout) and sets desired to 0. */
  async shutdownAll(timeoutMs = this.retireTimeoutMs): Promise<void> {
    this.desired = 0;
    const records = this.liveRecords();
    for (const r of records) {
      r.stopping = true;
      this.writeRecord(r);
      signal(r.pid, 'SIGTERM');
    }
    await Promise.all(records.map((r) => this.waitForExit(r, timeoutMs)));
  }

  /** The lifecycle log: every spawn, retire, kill and exit this backend (or an earlier one) recorded. */
  lifecycle(): LifecycleEvent[] {
    return readJsonLines<LifecycleEvent>(this.lifecyclePath);
  }

  /** Drops records of dead units, starts units up to `desired`. */
  private reconcile(): void {
    const live = this.liveRecords();
    const active = live.filter((r) => !r.stopping).length;
    for (let i = active; i < this.desired; i++) this.spawnUnit();
  }

  /** Marks pending units ready: by asking the workers (`readiness`), or from the test app's log line. */
  private async markReady(): Promise<void> {
    const pending = this.liveRecords().filter((r) => !r.ready && !r.stopping);
    if (pending.length === 0) return;
    const answered = this.options.readiness
      ? await this.options.readiness(pending.map((r) => `oq@${r.unitId}`)).catch(() => new Set<string>())
      : new Set(pending.filter((r) => logShowsReady(r.logPath)).map((r) => `oq@${r.unitId}`));
    for (const r of pending) {
      if (answered.has(`oq@${r.unitId}`)) {
        r.ready = true;
        this.writeRecord(r);
      }
    }
  }

  private spawnUnit(): void {
    const unitId = `p${randomBytes(4).toString('hex')}`;
    const logPath = join(this.options.stateDir, `${unitId}.log`);
    const unitDir = join(this.options.stateDir, unitId);
    mkdirSync(unitDir, { recursive: true, mode: 0o700 });
    const unit = { unitId, hostname: `oq@${unitId}`, concurrency: this.concurrency, unitDir };
    const out = openSync(logPath, 'a');
    // Only what the worker needs: never the caller's environment (the bridge's holds OQE_BROKER_PASSWORD).
    const env: NodeJS.ProcessEnv = {
      PATH: this.launch.path ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: unitDir,
      LANG: 'C.UTF-8',
      ...this.launch.env(unit),
      // How isUnitAlive tells this unit's process from a process that reused its pid.
      OQE_UNIT_ID: unitId,
    };
    const child = spawn(this.launch.command, this.launch.args(unit), {
      cwd: this.launch.cwd ?? unitDir,
      env,
      detached: true,
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    if (child.pid === undefined)
      throw new Error(`ProcessBackend: could not start ${this.launch.command}; check the path`);
    child.on('error', () => {}); // reported through the unit disappearing; never crash the bridge
    child.unref();
    const record: UnitRecord = { unitId, pid: child.pid, startedAt: Date.now(), logPath };
    this.writeRecord(record);
    this.logEvent({ event: 'spawn', unitId, t: record.startedAt });
  }

  private liveRecords(): UnitRecord[] {
    const live: UnitRecord[] = [];
    for (const file of readdirSync(this.unitsDir)) {
      if (!file.endsWith('.json')) continue;
      let record: UnitRecord;
      try {
        record = JSON.parse(readFileSync(join(this.unitsDir, file), 'utf8')) as UnitRecord;
      } catch {
        continue; // being written by a concurrent writer; seen next cycle
      }
      if (isUnitAlive(record.pid, record.unitId)) {
        live.push(record);
      } else {
        rmSync(join(this.unitsDir, file), { force: true });
        rmSync(join(this.options.stateDir, record.unitId), { recursive: true, force: true });
        this.logEvent({ event: 'exit', unitId: record.unitId, t: Date.now() });
      }
    }
    return live.sort((a, b) => a.startedAt - b.startedAt);
  }

  private writeRecord(record: UnitRecord): void {
    writeFileSync(join(this.unitsDir, `${record.unitId}.json`), JSON.stringify(record));
  }

  private setProtected(unitIds: readonly string[], value: boolean): void {
    for (const r of this.liveRecords()) {
      if (unitIds.includes(r.unitId)) {
        r.protected = value;
        this.writeRecord(r);
      }
    }
  }

  private logEvent(event: LifecycleEvent): void {
    appendFileSync(this.lifecyclePath, `${JSON.stringify(event)}\n`);
  }

  private async waitForExit(record: UnitRecord, timeoutMs = this.retireTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (isUnitAlive(record.pid, record.unitId)) {
      if (Date.now() > deadline) {
        this.logEvent({ event: 'kill', unitId: record.unitId, t: Date.now(), signal: 'SIGKILL' });
        signal(-record.pid, 'SIGKILL');
        await sleep(500);
        if (!isUnitAlive(record.pid, record.unitId)) break;
        continue;
      }
      await sleep(200);
    }
    // Pool children of a worker that was killed outright may linger: clear the group.
    signal(-record.pid, 'SIGKILL');
  }
}

/**
 * True while the process lives and is the unit's worker: the pid may have been reused by another program after
 * the worker exited, so the process must carry the unit id in its environment. Zombies count as dead.
 */
export function isUnitAlive(pid: number, unitId: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
    return environ.split('\0').includes(`OQE_UNIT_ID=${unitId}`);
  } catch {
    return false;
  }
}

function logShowsReady(logPath: string): boolean {
  try {
    return readFileSync(logPath, 'utf8').includes(READY_MARK);
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function readJsonLines<T>(path: string): T[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
