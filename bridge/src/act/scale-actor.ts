/**
 * Carries out a decision: scale out at once; scale in only through the drain protocol (cancel the chosen idle
 * workers' consumers in one command, look again at exactly them, retire exactly the units still idle, give the
 * others their consumer back); keep busy units protected from scale-in and release idle ones. One action at a
 * time.
 */
import { clockWith, type Clock } from '../clock.ts';
import type { ComputeBackend } from '../compute/compute-backend.ts';
import { isIdle } from '../decide/decide.ts';
import type { Decision } from '../decide/decision.ts';
import type { Observation, WorkerObservation } from '../observe/observation.ts';
import { actionResult, type ActionResult } from './action-result.ts';
import type { WorkerControl } from './worker-control.ts';

/** `now` and `sleep` (the wait before the second look) default to the wall clock. */
export interface ScaleActorOptions extends Partial<Clock> {
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
  private readonly clock: Clock;
  private readonly log: (event: string, fields: Record<string, unknown>) => void;

  constructor(private readonly options: ScaleActorOptions) {
    this.settleMs = options.settleMs ?? 500;
    this.protectMinutes = options.protectMinutes ?? 10;
    this.releaseAfterMs = (options.releaseAfterIdleSeconds ?? 30) * 1000;
    this.clock = clockWith(options);
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
    // decision) gets its consumer back: one command for all of them.
    const toRestore = [...running.values()].filter((unit) => {
      const w = workerOf.get(unit.celeryHostname);
      return w !== undefined && !w.consuming && !retiring.has(unit.unitId);
    });
    const restoredHosts =
      toRestore.length > 0
        ? await control
            .addConsumer(
              toRestore.map((u) => u.celeryHostname),
              queue,
            )
            .catch(() => new Set<string>())
        : new Set<string>();
    const restored = toRestore.filter((u) => restoredHosts.has(u.celeryHostname)).map((u) => u.unitId);
    for (const unit of toRestore) {
      this.log('consumer-restored', {
        unit: unit.unitId,
        hostname: unit.celeryHostname,
        confirmed: restoredHosts.has(unit.celeryHostname),
      });
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

    // The decision's drains run as one batch: one cancel_consumer, one settle and one look (active, reserved,
    // active_queues) with the whole list as destination, so a scale-in costs a handful of broadcasts however
    // many workers it retires (each broadcast reaches every worker's control queue).
    const targets = decision.retire.flatMap((unitId) => {
      const unit = running.get(unitId);
      if (!unit) return [];
      const ghosts = (workerOf.get(unit.celeryHostname)?.ghosts ?? []).map((t) => t.id);
      return [{ unitId, hostname: unit.celeryHostname, ghosts: new Set(ghosts) }];
    });
    const idle = await this.drain(targets);
    const drained = decision.retire.map((unitId) => ({
      unitId,
      ok: idle.has(running.get(unitId)?.celeryHostname ?? ''),
    }));
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
   * The drain protocol for a batch of workers: cancel their consumers, wait for anything in flight to land,
   * look again at exactly them. Resolves with the hostnames confirmed idle that consume nothing; every other
   * one (busy, silent, or its cancel never took effect) gets its consumer back. `ghosts` are the ids of `active`
   * claims the observation proved hold no message (ghost-tasks.ts).
   */
  private async drain(
    targets: readonly { hostname: string; ghosts: ReadonlySet<string> }[],
  ): Promise<Set<string>> {
    const { control, queue } = this.options;
    const confirmed = new Set<string>();
    if (targets.length === 0) return confirmed;
    const cancelled = await control
      .cancelConsumer(
        targets.map((t) => t.hostname),
        queue,
      )
      .catch(() => new Set<string>());
    const lastLook = new Map<string, WorkerObservation | undefined>();
    // Celery acknowledges cancel_consumer before doing it: the control command only schedules the cancel with
    // `consumer.call_soon` (celery/worker/control.py, `cancel_consumer`, the same in 4.4.7 and 5.5), so the
    // second look also checks that the queue is really gone; a worker still consuming is looked at again.
    let looking = targets.filter((t) => cancelled.has(t.hostname));
    for (let look = 0; look < 3 && looking.length > 0; look++) {
      await this.clock.sleep(this.settleMs);
      const fresh = await control
        .inspect(looking.map((t) => t.hostname))
        .catch(() => new Map<string, WorkerObservation>());
      const again: typeof looking = [];
      for (const target of looking) {
        let seen = fresh.get(target.hostname);
        // Claims the observation found to be ghosts (the broker holds no message for them) stay ghosts; any
        // other task, a new one included, makes the worker busy.
        if (seen && target.ghosts.size > 0)
          seen = { ...seen, active: seen.active.filter((t) => !target.ghosts.has(t.id)) };
        lastLook.set(target.hostname, seen);
        if (seen && isIdle(seen) && !seen.consuming) confirmed.add(target.hostname);
        else if (seen && isIdle(seen)) again.push(target);
      }
      looking = again;
    }
    for (const hostname of confirmed) this.log('drain-confirmed', { hostname });
    // Not confirmed idle (took a task, did not answer, still consuming): each keeps working and consuming.
    const aborted = targets.map((t) => t.hostname).filter((h) => !confirmed.has(h));
    if (aborted.length > 0) {
      const restored = await control.addConsumer(aborted, queue).catch(() => new Set<string>());
      for (const hostname of aborted) {
        const fresh = lastLook.get(hostname);
        this.log('drain-aborted', {
          hostname,
          cancelled: cancelled.has(hostname),
          answered: fresh !== undefined,
          active: fresh?.active.length,
          reserved: fresh?.reserved,
          stillConsuming: fresh?.consuming,
          consumerRestored: restored.has(hostname),
        });
      }
    }
    return confirmed;
  }

  /** Protect busy units (renewed at half their expiry) and, unless told not to, release units idle for a while. */
  private async upkeepProtection(
    decision: Decision,
    observation: Observation,
    workerOf: Map<string, WorkerObservation>,
    { release } = { release: true },
  ): Promise<void> {
    const { backend } = this.options;
    const now = this.clock.now();
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
