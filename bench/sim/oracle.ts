/**
 * The two lower bounds every policy is measured against. The oracle keeps the warm fixed fleet's schedule
 * (every task starts when it would on a fleet that is always there) but launches each worker just in time for
 * its first task and stops it the moment its last task ends; it also stops a worker through an idle gap
 * longer than one start-up and relaunches it just in time. The busy floor is the task time alone: no start-up,
 * no idle process, nothing a scaler can save.
 */
import { billedSeconds, type FargateModel } from './fargate-model.ts';
import type { SimResult, UnitRun } from './fleet-simulator.ts';
import type { Trace } from './trace.ts';

/** The busy periods of one unit: the union of its task runs, sorted. */
export function busyPeriods(runs: readonly UnitRun[]): UnitRun[] {
  const sorted = [...runs].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = out[out.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/**
 * The sessions of one oracle worker that runs `periods`: an idle gap longer than one start-up
 * (`model.startupMedianSeconds`) ends a session, since stopping and relaunching just in time then costs less
 * than staying.
 */
export function oracleSessions(model: FargateModel, periods: readonly UnitRun[]): UnitRun[] {
  const out: [number, number][] = [];
  for (const [start, end] of periods) {
    const last = out[out.length - 1];
    if (last && start - last[1] <= model.startupMedianSeconds) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}

/** The oracle bound derived from the warm fixed fleet's run on the same trace. */
export function oracleResult(fixed: SimResult, model: FargateModel): SimResult {
  if (!fixed.finished) throw new Error(`oracle: the fixed fleet did not finish trace ${fixed.trace}`);
  if (fixed.lostTaskSeconds !== 0) {
    throw new Error(`oracle: the fixed fleet lost ${fixed.lostTaskSeconds} task-s on ${fixed.trace}`);
  }
  const sessions = fixed.unitRuns.flatMap((runs) => oracleSessions(model, busyPeriods(runs)));
  // Each session is launched one start-up before its first task and billed from then, like every policy's.
  const billed = sessions.reduce(
    (n, [start, end]) => n + billedSeconds(model, start - model.startupMedianSeconds, end),
    0,
  );
  const busy = fixed.unitRuns.reduce((n, runs) => n + runs.reduce((m, [s, e]) => m + e - s, 0), 0);
  const workerHours = billed / 3600;
  return {
    ...fixed,
    policy: 'oracle',
    workerHours,
    cost: workerHours * model.workerHourlyCost,
    idleWorkerHours: Math.max(0, workerHours - busy / model.slotsPerWorker / 3600),
    launches: sessions.length,
  };
}

/** Worker-hours no schedule can go below: every task's time, packed onto fully busy workers. */
export function busyFloorWorkerHours(trace: Trace, model: FargateModel): number {
  let seconds = 0;
  for (const c of trace.calculations) {
    seconds += c.durations.reduce((a, b) => a + b, 0);
    for (const p of c.leadPhases ?? []) seconds += p.durations.reduce((a, b) => a + b, 0);
  }
  return seconds / model.slotsPerWorker / 3600;
}
