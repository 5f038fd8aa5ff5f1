import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ComputeObservation, ComputeUnit } from '../../bridge/src/observe/observation.ts';
import {
  assertDesiredCount,
  fleetObservation,
  type ComputeBackend,
} from '../../bridge/src/compute/compute-backend.ts';
import { LifecycleLog, type LifecycleEvent } from './lifecycle-log.ts';
import { UnitRecords, type UnitRecord } from './unit-records.ts';
import type { WorkerReadiness } from './worker-launch.ts';
import type { WorkerRuntime } from './worker-runtime.ts';

/** What every local fleet has, whatever runs its workers. */
export interface LocalFleetOptions {
  /**
   * Directory of unit records, worker logs and the lifecycle log. Workers outlive the bridge (like ECS tasks),
   * so a bridge restarted with the same directory finds the fleet it left.
   */
  readonly stateDir: string;
  /** Worker processes per worker (celery `-c`). @default 2 */
  readonly concurrency?: number;
  /**
   * Which workers are ready, asked of the workers themselves (a remote-control `ping`). @default celery's INFO
   * log line ` ready.` (a worker at another log level would never count as ready)
   */
  readonly readiness?: WorkerReadiness;
  /**
   * How long a retired worker may take to finish its warm shutdown before SIGKILL. 120 s is Fargate's largest
   * `stopTimeout` (ECS task definition parameters), so a local run never waits longer than ECS would.
   * @default 120000
   */
  readonly retireTimeoutMs?: number;
  /** How long {@link LocalFleet.shutdownAll} gives each worker by default. @default `retireTimeoutMs` */
  readonly shutdownTimeoutMs?: number;
}

/** Fargate's largest stopTimeout, in ms: see {@link LocalFleetOptions.retireTimeoutMs}. */
export const DEFAULT_RETIRE_TIMEOUT_MS = 120_000;

/** Celery's worker logs `<hostname> ready.` once its consumers are started (celery/apps/worker.py). */
const READY_MARK = ' ready.';

/**
 * A fleet of celery workers on this machine, the local stand-in for an ECS service: it keeps `desired` units
 * alive, replacing any that die, and `retire` sends a warm shutdown (SIGTERM) to exactly the named units. Where
 * a unit runs (a process, a container) is its {@link WorkerRuntime}'s; what the fleet knows of its units is in
 * the state directory, so any fleet object on that directory (a restarted bridge, a status command) sees the
 * same fleet. Each unit's celery worker is `oq@<unitId>`.
 */
export class LocalFleet<Runtime extends object = object> implements ComputeBackend {
  readonly name: string;
  /** Why the last unit that failed on its own exited (its exit code and last output lines), for logs and tests. */
  lastFailure?: string;
  private readonly label: string;
  private readonly records: UnitRecords<Runtime>;
  private readonly log: LifecycleLog;
  private readonly concurrency: number;
  private readonly retireTimeoutMs: number;
  private readonly shutdownTimeoutMs: number;
  /** Unset until the first look at the fleet: a restarted bridge adopts the live fleet as its desired count. */
  private desired: number | undefined;
  /** Stops of retired units still under way. */
  private readonly exiting = new Set<Promise<void>>();
  /** Removals under way, so that a unit seen gone twice at once is cleared once. */
  private readonly removals = new Map<string, Promise<void>>();
  private reconciling: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly runtime: WorkerRuntime<Runtime>,
    private readonly options: LocalFleetOptions,
  ) {
    this.name = runtime.name;
    this.label = `LocalFleet(${runtime.name})`;
    const concurrency = options.concurrency ?? 2;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new Error(
        `${this.label}: concurrency is ${concurrency}; set a whole number of worker processes >= 1`,
      );
    }
    this.concurrency = concurrency;
    this.retireTimeoutMs = options.retireTimeoutMs ?? DEFAULT_RETIRE_TIMEOUT_MS;
    this.shutdownTimeoutMs = options.shutdownTimeoutMs ?? this.retireTimeoutMs;
    this.records = new UnitRecords(options.stateDir);
    this.log = new LifecycleLog(join(options.stateDir, 'lifecycle.jsonl'));
  }

  async describe(): Promise<ComputeObservation> {
    const live = await this.reconcile({ markReady: true });
    return observationOf(this.desired ?? activeCount(live), live);
  }

  /**
   * The fleet as {@link describe} reports it, without acting on it: no unit started or cleared, no record
   * written; for a second process that only watches (`status:local`). Its desired count is the live units not
   * stopping, as a restarted bridge adopts them: the count the fleet's own bridge keeps is in its memory.
   */
  async observe(): Promise<ComputeObservation> {
    const live = (await this.runtime.survey(this.records.all()))
      .filter((s) => s.alive)
      .map((s) => s.record)
      .sort(byAge);
    const ready = await this.readyAmong(live);
    return observationOf(
      activeCount(live),
      live.map((r) => (ready.has(hostnameOf(r)) ? { ...r, ready: true } : r)),
    );
  }

  async scaleTo(desired: number): Promise<void> {
    assertDesiredCount(`${this.label}.scaleTo`, desired);
    this.desired = desired;
    await this.reconcile({ markReady: false });
  }

  async retire(unitIds: readonly string[]): Promise<void> {
    const live = new Map((await this.liveUnits()).map((r) => [r.unitId, r]));
    const unknown = unitIds.filter((id) => !live.has(id));
    if (unknown.length > 0) {
      throw new Error(`${this.label}.retire: no live unit ${unknown.join(', ')}; pass ids from describe()`);
    }
    this.desired ??= activeCount([...live.values()]);
    for (const id of unitIds) {
      const record = live.get(id)!;
      if (record.stopping) continue;
      record.stopping = true;
      this.records.update(record, { stopping: true });
      this.desired = Math.max(0, this.desired - 1);
      this.log.append({ event: 'retire', unitId: id, t: Date.now(), signal: 'SIGTERM' });
      // The exit (and the SIGKILL at the retire timeout) is watched in the background: see ComputeBackend.
      this.track(this.stopUnit(record, this.retireTimeoutMs));
    }
  }

  /** Resolves once every unit retired so far has exited and been cleared (for tests and an orderly shutdown). */
  async retirementsSettled(): Promise<void> {
    while (this.exiting.size > 0) await Promise.all([...this.exiting]);
  }

  async protect(unitIds: readonly string[], _minutes: number): Promise<void> {
    this.setProtected(unitIds, true);
  }

  async release(unitIds: readonly string[]): Promise<void> {
    this.setProtected(unitIds, false);
  }

  /** Waits for the retired units to exit; the other workers keep running for the next bridge, like ECS tasks. */
  async close(): Promise<void> {
    await this.retirementsSettled();
  }

  /**
   * Kills a unit outright, as a crashed host or an out-of-memory kill would. For tests of redelivery: the desired
   * count is unchanged, so the next reconcile starts a replacement, as ECS would.
   */
  async kill(unitId: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const record = this.records.all().find((r) => r.unitId === unitId);
    if (!record || !(await this.runtime.kill(record, signal))) {
      throw new Error(`${this.label}.kill: no live unit ${unitId}`);
    }
    // Stamped once the signal is delivered: a runtime may take a moment, and the worker may start a task meanwhile.
    this.log.append({ event: 'kill', unitId, t: Date.now(), signal });
  }

  /** Stops every unit (warm shutdown, then SIGKILL after `timeoutMs`) and sets desired to 0. */
  async shutdownAll(timeoutMs = this.shutdownTimeoutMs): Promise<void> {
    this.desired = 0;
    const live = await this.liveUnits();
    await Promise.all(
      live.map(async (record) => {
        record.stopping = true;
        this.records.update(record, { stopping: true });
        await this.stopUnit(record, timeoutMs);
      }),
    );
  }

  /** The lifecycle log: every spawn, retire, kill and exit this fleet (or an earlier one on its directory) recorded. */
  lifecycle(): LifecycleEvent[] {
    return this.log.read();
  }

  /**
   * Clears units that are gone, marks ready ones (when asked), starts units up to `desired`; returns the live
   * units. One pass at a time: a start takes a moment (a second for `podman run`), and two overlapping passes (the
   * bridge's describe and a scaleTo, or another reader) would both see the fleet short and start a unit each.
   */
  private reconcile(how: { markReady: boolean }): Promise<UnitRecord<Runtime>[]> {
    const next = this.reconciling.then(
      () => this.reconcileNow(how),
      () => this.reconcileNow(how),
    );
    this.reconciling = next.catch(() => undefined);
    return next;
  }

  private async reconcileNow(how: { markReady: boolean }): Promise<UnitRecord<Runtime>[]> {
    const live = await this.liveUnits();
    if (how.markReady) await this.markReady(live);
    this.desired ??= activeCount(live);
    const starts: Promise<UnitRecord<Runtime>>[] = [];
    for (let i = activeCount(live); i < this.desired; i++) starts.push(this.startUnit());
    live.push(...(await Promise.all(starts)));
    return live;
  }

  /** The live units, oldest first; units found gone are cleared on the way, and units found unrecorded adopted. */
  private async liveUnits(): Promise<UnitRecord<Runtime>[]> {
    const records = this.records.all();
    const recorded = new Set(records.map((r) => r.unitId));
    const live: UnitRecord<Runtime>[] = [];
    for (const { record, alive, exitCode } of await this.runtime.survey(records)) {
      if (!alive) {
        await this.removeUnit(record, exitCode);
        continue;
      }
      if (!recorded.has(record.unitId)) this.records.write(record);
      live.push(record);
    }
    return live.sort(byAge);
  }

  /** Marks pending units ready, in their records too. */
  private async markReady(live: readonly UnitRecord<Runtime>[]): Promise<void> {
    const ready = await this.readyAmong(live);
    for (const r of live) {
      if (ready.has(hostnameOf(r))) {
        r.ready = true;
        this.records.update(r, { ready: true });
      }
    }
  }

  /**
   * The celery hostnames of the pending units that are ready now: by asking the workers (`readiness`), or from
   * celery's line in their output.
   */
  private async readyAmong(live: readonly UnitRecord<Runtime>[]): Promise<ReadonlySet<string>> {
    const pending = live.filter((r) => !r.ready && !r.stopping);
    if (pending.length === 0) return new Set();
    if (this.options.readiness) {
      return this.options.readiness(pending.map(hostnameOf)).catch(() => new Set<string>());
    }
    const ready = new Set<string>();
    for (const r of pending)
      if ((await this.runtime.output(r)).includes(READY_MARK)) ready.add(hostnameOf(r));
    return ready;
  }

  private async startUnit(): Promise<UnitRecord<Runtime>> {
    const unitId = `${this.runtime.unitIdPrefix}${randomBytes(4).toString('hex')}`;
    const startedAt = Date.now();
    const found = await this.runtime.start({ unitId, concurrency: this.concurrency });
    const record: UnitRecord<Runtime> = { ...found, unitId, startedAt };
    this.records.write(record);
    this.log.append({ event: 'spawn', unitId, t: startedAt });
    return record;
  }

  /** A warm shutdown, then the unit's clearing once it is gone. */
  private async stopUnit(record: UnitRecord<Runtime>, timeoutMs: number): Promise<void> {
    await this.runtime.stop(record, timeoutMs, () =>
      this.log.append({ event: 'kill', unitId: record.unitId, t: Date.now(), signal: 'SIGKILL' }),
    );
    await this.removeUnit(record);
  }

  /** Clears a unit that is gone and logs its exit, once, whoever saw it gone first. */
  private removeUnit(record: UnitRecord<Runtime>, exitCode?: number): Promise<void> {
    const under = this.removals.get(record.unitId);
    if (under) return under;
    const removal = (async () => {
      const detail = await this.runtime.remove(record, { exitCode });
      if (detail !== undefined) this.lastFailure = `unit ${record.unitId} exited with ${exitCode}: ${detail}`;
      if (this.records.remove(record.unitId)) {
        this.log.append({ event: 'exit', unitId: record.unitId, t: Date.now(), exitCode, detail });
      }
    })().finally(() => this.removals.delete(record.unitId));
    this.removals.set(record.unitId, removal);
    return removal;
  }

  private track(work: Promise<void>): void {
    const tracked = work.catch(() => undefined).finally(() => this.exiting.delete(tracked));
    this.exiting.add(tracked);
  }

  private setProtected(unitIds: readonly string[], value: boolean): void {
    for (const r of this.records.all()) {
      if (unitIds.includes(r.unitId)) this.records.update(r, { protected: value });
    }
  }
}

/** What `describe` reports of these live units. */
function observationOf(desired: number, live: readonly UnitRecord[]): ComputeObservation {
  const units: ComputeUnit[] = live.map((r) => ({
    unitId: r.unitId,
    celeryHostname: hostnameOf(r),
    state: r.stopping ? 'stopping' : r.ready ? 'running' : 'pending',
    startedAt: r.startedAt,
    protected: r.protected ?? false,
  }));
  return fleetObservation(desired, units, Date.now());
}

function byAge(a: UnitRecord, b: UnitRecord): number {
  return a.startedAt - b.startedAt;
}

/** The celery hostname of a unit: `oq@<unitId>`, as on Fargate, where it is the task's hostname. */
function hostnameOf(record: UnitRecord): string {
  return `oq@${record.unitId}`;
}

/** Units not stopping: those that count towards the desired count. */
function activeCount(live: readonly UnitRecord[]): number {
  return live.filter((r) => !r.stopping).length;
}
