/**
 * Carries out a decision: scale out at once; scale in only through the drain protocol (cancel the chosen idle
 * worker's consumer, look again, retire exactly that unit if it is still idle, else give its consumer back);
 * keep busy units protected from scale-in and release idle ones. One action at a time.
 */
import type { ComputeBackend } from '../compute/compute-backend.ts';
import { isIdle } from '../decide/decide.ts';
import type { Decision } from '../decide/decision.ts';
import type { Observation, WorkerObservation } from '../observe/observation.ts';
import { actionResult, type ActionResult } from './action-result.ts';
import type { WorkerControl } from './worker-control.ts';

export interface ScaleActorOptions {
  readonly backend: ComputeBackend;
  readonly control: WorkerControl;
  /** The celery queue whose consumer is cancelled and given back (`celery`). */
  readonly queue: string;
  /**
   * Wait between the confirmed cancel and the second look, so that a task delivered just before the cancel
   * shows up in `active` or `reserved`. @default 500
   */
  readonly settleMs?: number;
  /** Expiry of the scale-in protection of busy units, renewed while they stay busy. @default 10 */
  readonly protectMinutes?: number;
  /** A unit idle this long has its protection released (so deployments are not blocked). @default 30 */
  readonly releaseAfterIdleSeconds?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  /** Structured log sink for what the actor does between decisions. */
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

/** Executes decisions against a compute backend and the workers' remote control. */
export class ScaleActor {
  private busy = false;
  /** Protection expiry per unit id as this process set it; rebuilt from observation after a restart. */
  private readonly protectedUntil = new Map<string, number>();
  private readonly settleMs: number;
  private readonly protectMinutes: number;
  private readonly releaseAfterMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly log: (event: string, fields: Record<string, unknown>) => void;

  constructor(private readonly options: ScaleActorOptions) {
    this.settleMs = options.settleMs ?? 500;
    this.protectMinutes = options.protectMinutes ?? 10;
    this.releaseAfterMs = (options.releaseAfterIdleSeconds ?? 30) * 1000;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.now = options.now ?? Date.now;
    this.log = options.log ?? (() => undefined);
  }

  /** True while an action runs; the loop reports `HoldActionInFlight` instead of starting another. */
  get inFlight(): boolean {
    return this.busy;
  }

  /** Act on one decision made from `observation`. Never throws: failures come back as `kind: 'failed'`. */
  async act(decision: Decision, observation: Observation): Promise<ActionResult> {
    if (this.busy) return actionResult('skipped', 'previous action still in flight');
    this.busy = true;
    try {
      return await this.actNow(decision, observation);
    } catch (error) {
      return actionResult('failed', `action failed: ${describeError(error)}`);
    } finally {
      this.busy = false;
    }
  }

  private async actNow(decision: Decision, observation: Observation): Promise<ActionResult> {
    // Holds scale nothing and touch no consumer: the data behind them is missing, stale or contradictory. They
    // still renew protection (never release it), counting every unit not seen idle as busy: a hold longer than
    // half the expiry (a broker or API outage, new tasks of a deployment not answering yet) would otherwise let
    // a busy worker's protection lapse, and an ECS deployment stop it mid-task.
    if (decision.reason.startsWith('Hold') || !observation.compute || !observation.workers) {
      if (observation.compute) {
        const workerOf = new Map((observation.workers ?? []).map((w) => [w.hostname, w]));
        await this.upkeepProtection(decision, observation, workerOf, { release: false });
      }
      return actionResult('none', `hold: ${decision.reason}`);
    }
    const { backend, control, queue } = this.options;
    const compute = observation.compute;
    const running = new Map(compute.units.filter((u) => u.state === 'running').map((u) => [u.unitId, u]));
    const workerOf = new Map(observation.workers.map((w) => [w.hostname, w]));
    const retiring = new Set(decision.retire);

    // A drained worker that is not being retired (left over from before a restart, or kept by a changed
    // decision) gets its consumer back.
    const restored: string[] = [];
    for (const unit of running.values()) {
      const w = workerOf.get(unit.celeryHostname);
      if (w && !w.consuming && !retiring.has(unit.unitId)) {
        if (await control.addConsumer(w.hostname, queue)) restored.push(unit.unitId);
        this.log('consumer-restored', { unit: unit.unitId, hostname: w.hostname });
      }
    }

    await this.upkeepProtection(decision, observation, workerOf);

    const current = decision.current ?? compute.desired;
    if (decision.desired > current && decision.retire.length === 0) {
      await backend.scaleTo(decision.desired);
      return actionResult('scaleOut', `desired ${current} -> ${decision.desired}`, {
        from: current,
        to: decision.desired,
        restored,
      });
    }
    if (decision.retire.length === 0) return actionResult('none', 'no change', { restored });

    // The drains run side by side: each is a cancel, a 500 ms settle and a second look at one worker, so the
    // cycle takes one drain's time however many workers retire.
    const drained = await Promise.all(
      decision.retire.map(async (unitId) => {
        const unit = running.get(unitId);
        const ghosts = new Set((workerOf.get(unit?.celeryHostname ?? '')?.ghosts ?? []).map((t) => t.id));
        return { unitId, ok: unit !== undefined && (await this.drain(unit.celeryHostname, ghosts)) };
      }),
    );
    const confirmed = drained.filter((d) => d.ok).map((d) => d.unitId);
    const aborted = drained.filter((d) => !d.ok).map((d) => d.unitId);
    if (confirmed.length > 0) {
      // Every other ECS task holds its scale-in protection, so lowering the desired count takes only these.
      // `retire` returns once the stop is ordered: the workers' warm shutdown goes on in the background.
      await backend.retire(confirmed);
      for (const id of confirmed) this.protectedUntil.delete(id);
    }
    const to = current - confirmed.length;
    return actionResult(
      confirmed.length > 0 ? 'scaleIn' : 'none',
      `retired ${confirmed.length} (${confirmed.join(', ') || '-'}), aborted ${aborted.length} (${aborted.join(', ') || '-'})`,
      { from: current, to, retired: confirmed, aborted, restored },
    );
  }

  /**
   * The drain protocol for one worker: cancel its consumer, wait for anything in flight to land, look again.
   * True when it is confirmed idle and consumes nothing; otherwise its consumer is given back. `ghosts` are
   * the ids of `active` claims the observation proved hold no message (ghost-tasks.ts).
   */
  private async drain(hostname: string, ghosts: ReadonlySet<string>): Promise<boolean> {
    const { control, queue } = this.options;
    const cancelled = await control.cancelConsumer(hostname, queue).catch(() => false);
    let fresh: WorkerObservation | undefined;
    if (cancelled) {
      // Celery acknowledges cancel_consumer before doing it: the control command only schedules the cancel
      // with `consumer.call_soon` (celery/worker/control.py, `cancel_consumer`, the same in 4.4.7 and 5.5), so
      // the second look also checks that the queue is really gone from the worker.
      for (let look = 0; look < 3; look++) {
        await this.sleep(this.settleMs);
        fresh = await control.inspect(hostname).catch(() => undefined);
        // Claims the observation found to be ghosts (the broker holds no message for them) stay ghosts; any
        // other task, a new one included, makes the worker busy.
        if (fresh && ghosts.size > 0)
          fresh = { ...fresh, active: fresh.active.filter((t) => !ghosts.has(t.id)) };
        if (!fresh || !isIdle(fresh) || !fresh.consuming) break;
      }
    }
    if (cancelled && fresh && isIdle(fresh) && !fresh.consuming) {
      this.log('drain-confirmed', { hostname });
      return true;
    }
    // Not confirmed idle (took a task, did not answer): it keeps working and consuming.
    const restoredOk = await control.addConsumer(hostname, queue).catch(() => false);
    this.log('drain-aborted', {
      hostname,
      cancelled,
      answered: fresh !== undefined,
      active: fresh?.active.length,
      reserved: fresh?.reserved,
      stillConsuming: fresh?.consuming,
      consumerRestored: restoredOk,
    });
    return false;
  }

  /** Protect busy units (renewed at half their expiry) and, unless told not to, release units idle for a while. */
  private async upkeepProtection(
    decision: Decision,
    observation: Observation,
    workerOf: Map<string, WorkerObservation>,
    { release } = { release: true },
  ): Promise<void> {
    const { backend } = this.options;
    const now = this.now();
    const renewBefore = now + (this.protectMinutes * 60_000) / 2;
    const toProtect: string[] = [];
    const toRelease: string[] = [];
    for (const unit of observation.compute!.units) {
      if (unit.state !== 'running') continue;
      const w = workerOf.get(unit.celeryHostname);
      const until = this.protectedUntil.get(unit.unitId);
      // A running unit whose worker did not answer counts as busy: celery 4.4 cannot answer `active` while it
      // runs an engine task (docs/observe.md). Protecting a silent unit costs at most a delayed deployment.
      if (!w || !isIdle(w)) {
        if (until === undefined || until < renewBefore) toProtect.push(unit.unitId);
      } else {
        const idleSince = decision.history.idleSince[w.hostname] ?? now;
        const known = until !== undefined || unit.protected === true;
        if (
          release &&
          known &&
          now - idleSince >= this.releaseAfterMs &&
          !decision.retire.includes(unit.unitId)
        ) {
          toRelease.push(unit.unitId);
        }
      }
    }
    try {
      if (toProtect.length > 0) {
        await backend.protect(toProtect, this.protectMinutes);
        for (const id of toProtect) this.protectedUntil.set(id, now + this.protectMinutes * 60_000);
      }
      if (toRelease.length > 0) {
        await backend.release(toRelease);
        for (const id of toRelease) this.protectedUntil.delete(id);
      }
    } catch (error) {
      // Protection is a safeguard against others (deployments, manual changes), not part of our own drain:
      // a failure is logged and retried next cycle.
      this.log('protection-failed', { error: describeError(error), toProtect, toRelease });
    }
  }
}

/** An error's name and message only: never a request, a URL or a stack that could carry a credential. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
