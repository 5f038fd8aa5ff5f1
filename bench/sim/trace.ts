/**
 * Workload traces: calculations shaped like published engine runs, submitted the way an engine 3.x master
 * does (a window of `num_cores` tasks, one more each time a task ends) or the way 2.x does (all at once).
 */
import { Prng } from '../../common/prng.ts';

/** The size and task-duration profile of one engine calculation. */
export interface RunShape {
  readonly name: string;
  readonly tasks: number;
  /** Mean task duration, seconds. */
  readonly meanSeconds: number;
  /** Longest task, seconds. */
  readonly maxSeconds: number;
}

/**
 * The three published-like runs of issue 6: task counts, mean and max durations as reported for real engine
 * hazard calculations (the engine's own performance reports give per-task mean and max).
 */
export const RUN_SHAPES: readonly RunShape[] = [
  { name: 'small', tasks: 565, meanSeconds: 96, maxSeconds: 389 },
  { name: 'medium', tasks: 568, meanSeconds: 275, maxSeconds: 1478 },
  { name: 'large', tasks: 1022, meanSeconds: 2327, maxSeconds: 6256 },
];

/** How the master hands tasks to the broker. */
export type Submission = 'windowed' | 'all-at-once';

/** One calculation in a trace. */
export interface CalculationSpec {
  readonly id: number;
  /** Seconds from the start of the trace. */
  readonly submitAt: number;
  /** Task durations in submission order, seconds. */
  readonly durations: readonly number[];
  readonly submission: Submission;
  /** The master's `[distribution] num_cores`: the window size when `submission` is windowed. */
  readonly numCores: number;
}

export interface Trace {
  readonly name: string;
  readonly description: string;
  readonly calculations: readonly CalculationSpec[];
}

/**
 * Task durations with exactly the shape's task count, mean and maximum: log-normal draws (sigma 1, a long
 * right tail like real hazard tasks) rescaled to the mean, with one task pinned at the maximum.
 */
export function taskDurations(shape: RunShape, prng: Prng): number[] {
  const { tasks: n, meanSeconds: mean, maxSeconds: max } = shape;
  if (n < 2 || !(mean > 0) || !(max >= mean)) {
    throw new Error(
      `RunShape ${shape.name}: need tasks >= 2 and 0 < meanSeconds <= maxSeconds, got ${n}, ${mean}, ${max}`,
    );
  }
  const rest = Array.from({ length: n - 1 }, () => prng.logNormal(1, 1));
  const restTotal = n * mean - max;
  // Rescale, clip at the max, and rescale the unclipped ones again until the total settles.
  for (let pass = 0; pass < 20; pass++) {
    const sum = rest.reduce((a, b) => a + b, 0);
    const scale = restTotal / sum;
    let clipped = false;
    for (let i = 0; i < rest.length; i++) {
      rest[i] = rest[i]! * scale;
      if (rest[i]! > max) {
        rest[i] = max;
        clipped = true;
      }
    }
    if (!clipped && Math.abs(rest.reduce((a, b) => a + b, 0) - restTotal) < 1e-6) break;
  }
  const at = prng.int(n);
  const out = [...rest.slice(0, at), max, ...rest.slice(at)];
  return out.map((d) => Math.max(1, d));
}

/** One calculation submitted at t = 0. */
export function singleRunTrace(
  shape: RunShape,
  submission: Submission,
  numCores: number,
  seed: number,
): Trace {
  const prng = new Prng(seed);
  return {
    name: `${shape.name}-${submission === 'windowed' ? '3x' : '2x'}`,
    description: `one ${shape.name} run (${shape.tasks} tasks, mean ${shape.meanSeconds} s, max ${shape.maxSeconds} s), ${submission === 'windowed' ? `engine 3.x window of num_cores = ${numCores}` : 'engine 2.x, all tasks at once'}`,
    calculations: [{ id: 1, submitAt: 0, durations: taskDurations(shape, prng), submission, numCores }],
  };
}

/**
 * A working day: runs of the small and medium shapes alternating, submitted between 08:00 and 17:00 with gaps
 * of 20 to 60 minutes after each run's expected end on a full fleet, so that the fleet sits idle in between.
 */
export function workingDayTrace(submission: Submission, numCores: number, seed: number, runs = 6): Trace {
  const prng = new Prng(seed);
  const shapes = [RUN_SHAPES[0]!, RUN_SHAPES[1]!];
  const calculations: CalculationSpec[] = [];
  let t = 0;
  for (let i = 0; i < runs; i++) {
    const shape = shapes[i % shapes.length]!;
    const durations = taskDurations(shape, prng);
    calculations.push({ id: i + 1, submitAt: Math.round(t), durations, submission, numCores });
    const ideal = Math.max(durations.reduce((a, b) => a + b, 0) / numCores, Math.max(...durations));
    t += ideal + 1200 + prng.next() * 2400;
  }
  return {
    name: `day-${submission === 'windowed' ? '3x' : '2x'}`,
    description: `a working day of ${runs} runs (small and medium alternating) with 20 to 60 min gaps, ${submission === 'windowed' ? `engine 3.x window of num_cores = ${numCores}` : 'engine 2.x, all at once'}`,
    calculations,
  };
}
