/**
 * The pure scaling decision: (observation, policy, history, now) -> desired count, units to retire, reason.
 * No I/O and no clock reads, so that the table tests, the property tests and the simulator all run it as is.
 *
 * The shape follows the Kubernetes HPA replica calculator (a count and a reason out) with KEDA's split of
 * activation (0 -> 1) from sizing (1 -> N). Scale-in is only ever "retire these idle units": the actor drains
 * them before the backend stops them, so a busy worker is never chosen here.
 */
import type { ComputeUnit, Observation, WorkerObservation } from '../observe/observation.ts';
import { describeSignal, readCalculationSignal } from './calculation-signal.ts';
import type { Decision, DecisionHistory, DecisionReason, ScalingPolicy } from './decision.ts';

/** Default of `ScalingPolicy.workerStartupSeconds`: Fargate starts typically take 30 to 90 s (image pull). */
export const DEFAULT_WORKER_STARTUP_SECONDS = 120;

/** A running unit together with its worker's reply, when it answered. */
interface UnitView {
  readonly unit: ComputeUnit;
  readonly worker?: WorkerObservation;
}

/** Whether a worker has nothing to do: no running task and nothing prefetched. */
export function isIdle(worker: WorkerObservation): boolean {
  return worker.active.length === 0 && worker.reserved === 0;
}

/** Tasks in a worker's hands: running plus prefetched. */
function inHand(worker: WorkerObservation): number {
  return worker.active.length + worker.reserved;
}

/** The most workers `maxHourlyCost` pays for; Infinity when there is no cap or no cost. */
export function costCapWorkers(policy: ScalingPolicy): number {
  if (!Number.isFinite(policy.maxHourlyCost) || policy.workerHourlyCost <= 0) return Infinity;
  // The epsilon keeps 1.2 / 0.4 = 2.9999999999999996 from flooring to 2.
  return Math.floor(policy.maxHourlyCost / policy.workerHourlyCost + 1e-9);
}

/** Decide this cycle's desired count, the units to retire and why. */
export function decide(
  observation: Observation,
  policy: ScalingPolicy,
  history: DecisionHistory,
  now: number,
): Decision {
  const { queue, workers, compute } = observation;
  const staleMs = policy.staleAfterSeconds * 1000;

  const hold = (reason: DecisionReason, detail: string, demand = 0, keepIdle = false): Decision => ({
    desired: compute?.desired ?? history.lastObservedDesired ?? policy.minWorkers,
    retire: [],
    reason,
    detail,
    demand,
    current: compute?.desired,
    // Missing or stale data restarts every idle streak: a worker idle before an outage may have been busy
    // during it, so it must be seen idle for a full grace again before it can be retired.
    history: {
      idleSince: keepIdle ? history.idleSince : {},
      lastActionAt: history.lastActionAt,
      lastObservedDesired: compute?.desired ?? history.lastObservedDesired,
    },
  });

  // 1. Missing data: never act on what was not observed.
  const missing: string[] = [];
  if (!queue) missing.push('queue');
  if (!workers) missing.push('workers');
  if (!compute) missing.push('compute');
  if (missing.length > 0) {
    const why = observation.errors.length > 0 ? `: ${observation.errors.join('; ')}` : '';
    return hold('HoldOnMissingData', `holding: no ${missing.join(', ')} observation this cycle${why}`);
  }

  // 2. Stale data: figures older than staleAfterSeconds describe a fleet that may no longer exist.
  const stale: string[] = [];
  if (now - queue!.observedAt > staleMs) stale.push(`queue ${ageSeconds(now, queue!.observedAt)} s old`);
  if (now - compute!.observedAt > staleMs)
    stale.push(`compute ${ageSeconds(now, compute!.observedAt)} s old`);
  for (const w of workers!) {
    if (now - w.observedAt > staleMs) stale.push(`${w.hostname} ${ageSeconds(now, w.observedAt)} s old`);
  }
  if (stale.length > 0) {
    return hold(
      'HoldOnStaleData',
      `holding: stale figures (${stale.join(', ')}; limit ${policy.staleAfterSeconds} s)`,
    );
  }

  const q = queue!;
  const c = compute!;
  const ws = workers!;
  const byHostname = new Map(ws.map((w) => [w.hostname, w]));
  const running: UnitView[] = c.units
    .filter((u) => u.state === 'running')
    .map((unit) => ({ unit, worker: byHostname.get(unit.celeryHostname) }));
  const managed = running.filter((v) => v.worker !== undefined).map((v) => v.worker!);

  // Demand: ready messages plus work in flight. The queue's unacked figure may lag (management API), the
  // workers' own active + reserved is live; the larger of the two is the safer count of work in flight.
  const workersInFlight = ws.reduce((sum, w) => sum + inHand(w), 0);
  const inFlight = Math.max(q.unacked, workersInFlight);
  const demand = q.ready + inFlight;
  const demandText = `demand ${q.ready} ready + ${inFlight} in flight (max of unacked ${q.unacked}, workers' active+reserved ${workersInFlight}) = ${demand}`;

  // 3. Contradiction: the backend runs units past their start-up time, yet not one worker answered and the
  //    queue has no consumer, while the broker answered. The workers may be cut off or gone: do nothing.
  //    Silent workers that do consume are not a contradiction: celery 4.4 (the engine's) cannot encode its
  //    `active` reply while it runs an engine task (docs/observe.md), so busy workers are silent. They are
  //    capacity at work and never retired (only workers that answered idle are).
  const startupMs = (policy.workerStartupSeconds ?? DEFAULT_WORKER_STARTUP_SECONDS) * 1000;
  const settled = running.filter((v) => v.unit.startedAt === undefined || now - v.unit.startedAt > startupMs);
  if (settled.length > 0 && managed.length === 0 && q.consumers === 0) {
    return hold(
      'HoldOnContradiction',
      `holding: the backend runs ${settled.length} settled unit(s) but none of their workers answered and the queue has no consumer; ${demandText}`,
      demand,
    );
  }

  // Slots per worker from `stats`: the smallest pool seen, so that a mixed fleet is never over-credited.
  const pools = managed.map((w) => w.poolSize).filter((p): p is number => p !== undefined && p > 0);
  const slots = pools.length > 0 ? Math.min(...pools) : policy.slotsPerWorkerFallback;

  // Idle streaks, for running units whose worker answered.
  const idleSince: Record<string, number> = {};
  for (const w of managed) {
    if (isIdle(w)) idleSince[w.hostname] = history.idleSince[w.hostname] ?? now;
  }
  const nextHistory: DecisionHistory = {
    idleSince,
    lastActionAt: history.lastActionAt,
    lastObservedDesired: c.desired,
  };

  const current = c.desired;
  const raw = demand === 0 ? 0 : Math.ceil(demand / slots);
  const costCap = costCapWorkers(policy);
  const upper = Math.min(policy.maxWorkers, costCap);
  const target = Math.max(policy.minWorkers, Math.min(raw, upper));
  const sizing = `ceil(${demand} / ${slots} slots) = ${raw}`;
  const capName: DecisionReason = costCap < policy.maxWorkers ? 'CostCap' : 'AtMax';
  const capText =
    capName === 'CostCap'
      ? `cost cap floor(${policy.maxHourlyCost} / ${policy.workerHourlyCost}) = ${costCap} workers`
      : `maxWorkers ${policy.maxWorkers}`;
  const result = (
    reason: DecisionReason,
    desired: number,
    detail: string,
    retire: readonly string[] = [],
  ): Decision => ({
    desired,
    retire,
    reason,
    detail: c.shortfall ? `${detail}; backend short of ${c.desired}: ${c.shortfall}` : detail,
    demand,
    current,
    target,
    slotsPerWorker: slots,
    history: nextHistory,
  });

  const sharedDirNotReady = (wanted: number): Decision | undefined => {
    const shared = observation.sharedDir;
    if (!shared || (shared.available && shared.mountTargetsReady)) return undefined;
    return result(
      'HoldSharedDirUnavailable',
      current,
      `holding at ${current}: wanted ${wanted} but shared_dir is not ready (${shared.detail ?? (shared.available ? 'mount targets missing' : 'file system not available')}); ${demandText}`,
    );
  };

  // The master's calculation events, when fresh. They only ever add workers (pre-warm) or keep idle ones
  // (hold) or shorten the idle grace once nothing runs; demand-driven scale-out is never held back by them.
  const signal = readCalculationSignal(observation.calculations, policy, now);
  const signalText = signal ? `; ${describeSignal(signal)}` : '';
  const prewarm = signal && signal.starting.length > 0 ? Math.min(upper, policy.prewarmWorkers ?? 0) : 0;

  // 3b. Pre-warm: a calculation is pre-processing; launch workers before its first task is queued.
  if (prewarm > target && prewarm > current) {
    const blocked = sharedDirNotReady(prewarm);
    if (blocked) return blocked;
    const stepped = Math.min(prewarm, current + policy.maxStepOut);
    return result(
      'PrewarmForCalculation',
      stepped,
      `pre-warm ${current} -> ${stepped} (prewarmWorkers ${policy.prewarmWorkers}, step ${policy.maxStepOut})${signalText}; ${demandText}; ${sizing}`,
    );
  }

  // 4. Scale out, at once, up to maxStepOut.
  if (target > current) {
    const blocked = sharedDirNotReady(target);
    if (blocked) return blocked;
    const stepped = Math.min(target, current + policy.maxStepOut);
    const arithmetic = `${demandText}; ${sizing}; clamped to [${policy.minWorkers}, ${upper}] = ${target}`;
    if (current === 0 && demand > 0) {
      return result(
        'Activate',
        stepped,
        `activate 0 -> ${stepped}: ${arithmetic}, step ${policy.maxStepOut}`,
      );
    }
    if (stepped < target) {
      return result(
        'ScaleUpLimit',
        stepped,
        `scale out ${current} -> ${stepped} (wanted ${target}, maxStepOut ${policy.maxStepOut}): ${arithmetic}`,
      );
    }
    if (raw > upper) {
      return result(
        capName,
        stepped,
        `scale out ${current} -> ${stepped}, capped by ${capText}: ${arithmetic}`,
      );
    }
    return result('ScaleOut', stepped, `scale out ${current} -> ${stepped}: ${arithmetic}`);
  }

  // 5. Hold steady.
  if (target === current) {
    if (raw > upper)
      return result(capName, current, `at ${current}, capped by ${capText}: ${demandText}; ${sizing}`);
    if (raw < target)
      return result('AtMin', current, `at minWorkers ${policy.minWorkers}: ${demandText}; ${sizing}`);
    return result('Steady', current, `steady at ${current}: ${demandText}; ${sizing}`);
  }

  // 6a. A calculation between phases keeps the whole fleet; one still pre-processing keeps its pre-warm.
  if (signal && (signal.betweenPhases.length > 0 || prewarm > target)) {
    const keep = signal.betweenPhases.length > 0 ? current : prewarm;
    if (keep >= current) {
      return result(
        'HoldForCalculation',
        current,
        `holding ${current} through the calculation's ${signal.betweenPhases.length > 0 ? 'gap between phases' : 'pre-processing'}${signalText}; target ${target}: ${demandText}; ${sizing}`,
      );
    }
  }
  const floor = Math.max(target, prewarm);

  // 6. Scale in: only running units whose worker answered idle, each after a full idle grace, or at once
  //    when the master says no calculation runs and nothing is queued or in flight, or that every running
  //    phase is fully submitted and nothing is ready (a worker idle then gets nothing more from the phase;
  //    the next phase, if any, comes after master-side work).
  const surplus = current - floor;
  const allEnded = signal !== undefined && signal.noneActive && demand === 0;
  const phaseTail = signal !== undefined && !signal.noneActive && signal.allSubmitted && q.ready === 0;
  const graceMs = allEnded || phaseTail ? 0 : policy.idleGraceSeconds * 1000;
  const idle = running
    .filter((v) => v.worker !== undefined && isIdle(v.worker))
    .map((v) => ({ unit: v.unit, worker: v.worker!, since: idleSince[v.worker!.hostname]! }));
  // Already-drained workers (consumer cancelled, e.g. before a restart) go first, then the longest idle.
  idle.sort(
    (a, b) =>
      Number(a.worker.consuming) - Number(b.worker.consuming) ||
      a.since - b.since ||
      a.unit.unitId.localeCompare(b.unit.unitId),
  );
  const eligible = idle.filter((i) => now - i.since >= graceMs);
  const count = Math.min(surplus, eligible.length, policy.maxStepIn ?? Infinity);
  const floorText = target === policy.minWorkers && raw < target ? ` (minWorkers ${policy.minWorkers})` : '';
  if (count > 0) {
    const retire = eligible.slice(0, count).map((i) => i.unit.unitId);
    // Named after the signal only when it made the difference: a worker past its grace is DrainingIdle anyway.
    const early = eligible.slice(0, count).some((i) => now - i.since < policy.idleGraceSeconds * 1000);
    const reason: DecisionReason = !early ? 'DrainingIdle' : allEnded ? 'CalculationsEnded' : 'PhaseTail';
    const how =
      reason === 'DrainingIdle'
        ? `for >= ${policy.idleGraceSeconds} s`
        : reason === 'CalculationsEnded'
          ? 'at once, no calculation running'
          : "at once, every running phase's tasks submitted and none ready";
    return result(
      reason,
      current - count,
      `scale in ${current} -> ${current - count}: retire ${count} idle ${how} (${retire.join(', ')}); target ${floor}${floorText}${signalText}: ${demandText}; ${sizing}`,
      retire,
    );
  }
  if (idle.length > 0) {
    const oldest = Math.floor((now - idle.reduce((m, i) => Math.min(m, i.since), now)) / 1000);
    return result(
      'IdleGrace',
      current,
      `${idle.length} idle worker(s), longest idle ${oldest} s < grace ${policy.idleGraceSeconds} s; target ${target}: ${demandText}; ${sizing}`,
    );
  }
  return result(
    'Steady',
    current,
    `target ${target} < ${current} but no idle worker to retire (${running.length} running, ${managed.length} answered): ${demandText}; ${sizing}`,
  );
}

function ageSeconds(now: number, at: number): number {
  return Math.round((now - at) / 100) / 10;
}
