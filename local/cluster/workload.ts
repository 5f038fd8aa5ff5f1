/**
 * A synthetic hazard-like workload: task durations with a heavy tail. In an engine's classical hazard run most
 * source groups are small and a few are large (the engine splits heavy sources, but the tail remains), so a
 * log-normal spread with a cap stands in for it here.
 */

import { Prng } from '../../common/prng.ts';

/** Options of the synthetic workload. */
export interface WorkloadOptions {
  /** Number of tasks. */
  readonly count: number;
  /** Mean task duration in seconds after scaling. */
  readonly meanSeconds: number;
  /** Log-normal sigma: 0 gives equal tasks, 1 a long tail. @default 0.9 */
  readonly sigma?: number;
  /** The longest task, as a multiple of the mean, so one task cannot dominate the demo. @default 6 */
  readonly capFactor?: number;
  /** Seed of the generator, so a run is repeatable. @default 42 */
  readonly seed?: number;
}

/** Durations in seconds (rounded to 10 ms), whose mean is `meanSeconds`. */
export function hazardLikeDurations(options: WorkloadOptions): number[] {
  const { count, meanSeconds } = options;
  const sigma = options.sigma ?? 0.9;
  const capFactor = options.capFactor ?? 6;
  if (!Number.isInteger(count) || count < 1) {
    throw new Error(`hazardLikeDurations: count is ${count}; pass a whole number of tasks >= 1`);
  }
  if (!(meanSeconds > 0)) {
    throw new Error(`hazardLikeDurations: meanSeconds is ${meanSeconds}; pass a positive number of seconds`);
  }
  const random = new Prng(options.seed ?? 42);
  const raw: number[] = [];
  for (let i = 0; i < count; i++) raw.push(Math.exp(sigma * random.normal()));
  const rawMean = raw.reduce((a, b) => a + b, 0) / count;
  const capped = raw.map((r) => Math.min((r / rawMean) * meanSeconds, capFactor * meanSeconds));
  // Rescale once more so the cap does not shrink the total work.
  const cappedMean = capped.reduce((a, b) => a + b, 0) / count;
  return capped.map((d) => Math.max(0.05, Math.round((d * meanSeconds * 100) / cappedMean) / 100));
}
