/**
 * The activation rule between two cycles: whether messages that became ready since the last cycle need a cycle
 * now rather than at the next poll. Pure (no I/O, no clock), beside `decide`; the control loop only probes the
 * queue's ready count and asks this rule (bridge/src/loop/control-loop.ts).
 */
import type { Observation } from '../observe/observation.ts';
import type { ScalingPolicy } from './decision.ts';

/** What the rule needs of the last cycle. */
export interface LastCycleView {
  /** What the last cycle observed. */
  readonly observation: Observation;
  /** The worker count the last cycle's action asked for when it scaled out (0 otherwise). */
  readonly askedWorkers: number;
}

/**
 * Why `ready` messages need a cycle now, or undefined. They do when they exceed the free slots of the fleet
 * the last cycle saw or asked for (no unit running or pending: no slot at all), and more are ready than that
 * cycle saw, so that its decision did not already answer them (a fleet held by its cost cap is not re-decided
 * every look), and the fleet is below its maximum.
 * @param ready the queue's ready count just probed
 * @param last the last cycle, undefined before the first
 * @param policy the maximum fleet and the slots per worker until the workers report their pool size
 */
export function unservedDemand(
  ready: number,
  last: LastCycleView | undefined,
  policy: Pick<ScalingPolicy, 'maxWorkers' | 'slotsPerWorkerFallback'>,
): string | undefined {
  if (!last || ready === 0) return undefined;
  const seenReady = last.observation.queue?.ready ?? 0;
  if (ready <= seenReady) return undefined;
  const { compute, workers } = last.observation;
  const fleet = Math.max(
    compute?.desired ?? 0,
    (compute?.running ?? 0) + (compute?.pending ?? 0),
    last.askedWorkers,
  );
  // At the maximum a cycle could add no worker.
  if (fleet >= policy.maxWorkers) return undefined;
  const pools = (workers ?? []).flatMap((w) => (w.poolSize !== undefined ? [w.poolSize] : []));
  const slotsPerWorker = pools.length > 0 ? Math.min(...pools) : policy.slotsPerWorkerFallback;
  const busy = (workers ?? []).reduce((n, w) => n + w.active.length + w.reserved, 0);
  const free = Math.max(0, fleet * slotsPerWorker - busy);
  if (ready <= free) return undefined;
  return fleet === 0
    ? `${ready} ready and no worker running or pending`
    : `${ready} ready above the ${free} free slots of ${fleet} workers (last cycle saw ${seenReady} ready)`;
}
