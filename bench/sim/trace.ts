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
  /** The engine 3.11 phases around the main (classical) phase, for the 3.x traces. */
  readonly engine: EnginePhases;
}

/**
 * What an engine 3.11 classical calculation does besides its main phase: master-side pre-processing before
 * any task, a preclassical phase submitted all at once (a Starmap over the source groups; `num_cores` does not
 * window it), then master-side work before the classical phase is submitted.
 */
export interface EnginePhases {
  /** Reading inputs and building the composite source model on the master, seconds. */
  readonly preprocessSeconds: number;
  readonly preclassical: {
    readonly tasks: number;
    readonly meanSeconds: number;
    readonly maxSeconds: number;
  };
  /** Master-side work between the last preclassical result and the first classical task, seconds. */
  readonly gapSeconds: number;
  /** Where the figures come from. */
  readonly source: string;
}

/**
 * The three published-like runs of issue 6: task counts, mean and max durations as reported for real engine
 * hazard calculations (the engine's own performance reports give per-task mean and max).
 */
export const RUN_SHAPES: readonly RunShape[] = [
  {
    name: 'small',
    tasks: 565,
    meanSeconds: 96,
    maxSeconds: 389,
    engine: {
      preprocessSeconds: 15,
      preclassical: { tasks: 41, meanSeconds: 17.9, maxSeconds: 145.1 },
      gapSeconds: 30,
      source:
        'composite source model 15 s (BC Hydro NVA, gem/oq-engine#11677); preclassical 41 tasks, mean 17.9 s, max 145.1 s (South America after the fix of gem/oq-engine#8266)',
    },
  },
  {
    name: 'medium',
    tasks: 568,
    meanSeconds: 275,
    maxSeconds: 1478,
    engine: {
      preprocessSeconds: 323,
      preclassical: { tasks: 236, meanSeconds: 17.3, maxSeconds: 1126 },
      gapSeconds: 120,
      source:
        'composite source model 322.9 s (New Zealand, gem/oq-engine#11544); preclassical 236 tasks, mean 17.26 s, max 1126 s (USA, gem/oq-engine#10286)',
    },
  },
  {
    name: 'large',
    tasks: 1022,
    meanSeconds: 2327,
    maxSeconds: 6256,
    engine: {
      preprocessSeconds: 805,
      preclassical: { tasks: 321, meanSeconds: 2.13, maxSeconds: 511.6 },
      gapSeconds: 300,
      source:
        'composite source model 805 s (Australia, gem/oq-engine#7896); preclassical 321 tasks, mean 2.13 s, max 511.6 s (South America before the fix of gem/oq-engine#8266)',
    },
  },
];

/**
 * The calculation fields of an engine 3.11 run of `shape`: its pre-processing and its preclassical phase.
 * The preclassical durations are drawn like the main ones (`taskDurations`).
 */
export function enginePhasesOf(
  shape: RunShape,
  prng: Prng,
): Pick<CalculationSpec, 'preprocessSeconds' | 'leadPhases'> {
  const e = shape.engine;
  const pre: RunShape = { ...shape, name: `${shape.name} preclassical`, ...e.preclassical };
  return {
    preprocessSeconds: e.preprocessSeconds,
    leadPhases: [
      { name: 'preclassical', durations: taskDurations(pre, prng), gapAfterSeconds: e.gapSeconds },
    ],
  };
}

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
  /**
   * Seconds the master works (reading the inputs, building the composite source model) between the
   * calculation's start and its first task; default 0.
   */
  readonly preprocessSeconds?: number;
  /**
   * Phases before the main one (engine 3.11: preclassical), each submitted all at once and each followed by
   * master-side work; the main phase (`durations`, `submission`) follows the last of them.
   */
  readonly leadPhases?: readonly LeadPhase[];
}

/** A phase the master submits all at once before the main phase (a Starmap of all its tasks). */
export interface LeadPhase {
  readonly name: string;
  /** Task durations, seconds. */
  readonly durations: readonly number[];
  /** Seconds the master works after this phase's last task ends before it submits the next phase. */
  readonly gapAfterSeconds: number;
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

const PHASE_SEED_OFFSET = 7919;

/** One calculation submitted at t = 0. */
export function singleRunTrace(
  shape: RunShape,
  submission: Submission,
  numCores: number,
  seed: number,
): Trace {
  const prng = new Prng(seed);
  const durations = taskDurations(shape, prng);
  const windowed = submission === 'windowed';
  const e = shape.engine;
  return {
    name: `${shape.name}-${windowed ? '3x' : '2x'}`,
    description: `one ${shape.name} run (${shape.tasks} tasks, mean ${shape.meanSeconds} s, max ${shape.maxSeconds} s), ${windowed ? `engine 3.11: ${e.preprocessSeconds} s of pre-processing, ${e.preclassical.tasks} preclassical tasks at once, ${e.gapSeconds} s of master work, then the classical phase in a window of num_cores = ${numCores}` : 'engine 2.x, all tasks at once, task phase only'}`,
    calculations: [
      {
        id: 1,
        submitAt: 0,
        durations,
        submission,
        numCores,
        // A separate stream, so that the 2.x and 3.x traces of one shape share their main-phase durations.
        ...(windowed ? enginePhasesOf(shape, new Prng(seed + PHASE_SEED_OFFSET)) : {}),
      },
    ],
  };
}

/**
 * A working day: runs of the small and medium shapes alternating, submitted between 08:00 and 17:00 with gaps
 * of 20 to 60 minutes after each run's expected end on a full fleet, so that the fleet sits idle in between.
 */
export function workingDayTrace(submission: Submission, numCores: number, seed: number, runs = 6): Trace {
  const prng = new Prng(seed);
  const phasePrng = new Prng(seed + PHASE_SEED_OFFSET);
  const shapes = [RUN_SHAPES[0]!, RUN_SHAPES[1]!];
  const calculations: CalculationSpec[] = [];
  let t = 0;
  for (let i = 0; i < runs; i++) {
    const shape = shapes[i % shapes.length]!;
    const durations = taskDurations(shape, prng);
    const phases = submission === 'windowed' ? enginePhasesOf(shape, phasePrng) : {};
    calculations.push({ id: i + 1, submitAt: Math.round(t), durations, submission, numCores, ...phases });
    const ideal = Math.max(durations.reduce((a, b) => a + b, 0) / numCores, Math.max(...durations));
    t += ideal + 1200 + prng.next() * 2400;
  }
  return {
    name: `day-${submission === 'windowed' ? '3x' : '2x'}`,
    description: `a working day of ${runs} runs (small and medium alternating) with 20 to 60 min gaps, ${submission === 'windowed' ? `engine 3.11 phases (pre-processing, preclassical at once, master work, classical in a window of num_cores = ${numCores})` : 'engine 2.x, all at once, task phase only'}`,
    calculations,
  };
}
