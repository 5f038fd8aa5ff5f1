/**
 * The master's calculation events as the decision reads them. Pure. Absent or stale figures give no signal at
 * all, so that the decision is then exactly the queue-only one; a `started` or `between-phases` status older
 * than the hold limit counts as unknown (neither holding nor ended), so that a lost `ended` event cannot keep a
 * fleet for ever.
 */
import type { CalculationsObservation } from '../observe/observation.ts';
import type { ScalingPolicy } from './decision.ts';

/** Default of `ScalingPolicy.calculationHoldSeconds`. */
export const DEFAULT_CALCULATION_HOLD_SECONDS = 900;

export interface CalculationSignal {
  /** Calculations pre-processing (no task queued yet), within the hold limit. */
  readonly starting: readonly number[];
  /** Calculations between two phases, within the hold limit. */
  readonly betweenPhases: readonly number[];
  /** Calculations with a phase's tasks queued or running. */
  readonly running: readonly number[];
  /** Calculations `started` or `between-phases` for longer than the hold limit: status unknown. */
  readonly overdue: readonly number[];
  /** Nothing is running, starting, between phases or overdue: every listed calculation has ended. */
  readonly noneActive: boolean;
  /**
   * Every active calculation is running a phase whose tasks the master has all submitted (none starting,
   * between phases or overdue, and each said how many it holds back: 0). Then a worker that turns idle while
   * nothing is ready gets no more work from this phase.
   */
  readonly allSubmitted: boolean;
}

/** The signal in `observation`, or undefined when there is none to act on (absent or stale). */
export function readCalculationSignal(
  observation: CalculationsObservation | undefined,
  policy: ScalingPolicy,
  now: number,
): CalculationSignal | undefined {
  if (!observation) return undefined;
  if (now - observation.observedAt > policy.staleAfterSeconds * 1000) return undefined;
  const holdMs = (policy.calculationHoldSeconds ?? DEFAULT_CALCULATION_HOLD_SECONDS) * 1000;
  const starting: number[] = [];
  const betweenPhases: number[] = [];
  const running: number[] = [];
  const overdue: number[] = [];
  let allSubmitted = true;
  for (const c of observation.calculations) {
    if (c.status === 'ended') continue;
    if (c.status !== 'running' || c.tasksHeldByMaster !== 0) allSubmitted = false;
    if (c.status === 'running') running.push(c.id);
    else if (now - c.since > holdMs) overdue.push(c.id);
    else if (c.status === 'started') starting.push(c.id);
    else betweenPhases.push(c.id);
  }
  return {
    starting,
    betweenPhases,
    running,
    overdue,
    noneActive: starting.length + betweenPhases.length + running.length + overdue.length === 0,
    allSubmitted,
  };
}

/** For the decision's detail: `calculations: 12 started, 13 between phases`. */
export function describeSignal(signal: CalculationSignal): string {
  const parts = [
    signal.starting.length > 0 ? `${signal.starting.join(', ')} started` : '',
    signal.running.length > 0 ? `${signal.running.join(', ')} running` : '',
    signal.betweenPhases.length > 0 ? `${signal.betweenPhases.join(', ')} between phases` : '',
    signal.overdue.length > 0 ? `${signal.overdue.join(', ')} status overdue` : '',
  ].filter((p) => p !== '');
  return `calculations: ${parts.length > 0 ? parts.join(', ') : 'none running'}`;
}
