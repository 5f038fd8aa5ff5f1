/**
 * Calibration on a real OpenQuake Engine calculation: the demo's engine run (engine 3.11.5, `oq engine --run`
 * of a QA job, workers started from zero by the real bridge loop on the process backend) against the
 * simulator's prediction of the same run. The simulator gets the phases and task durations the workers' own
 * logs recorded, the run's policy and window, and one measured platform figure, the workers' start-up (spawn to
 * first task received). Nothing else is fitted.
 */
import { DEFAULT_DEMO_JOB, runEngineDemo } from '../../local/engine/engine-demo.ts';
import type { EngineRunBroker } from '../../local/engine/engine-cluster-run.ts';
import { workerTime } from '../../local/cluster/journal-analysis.ts';
import type { LifecycleEvent } from '../../local/fleet/lifecycle-log.ts';
import type { WorkerLog } from '../../local/engine/worker-task-log.ts';
import type { CalibrationResult } from './bench-results.ts';
import { taskPhases, timedTasks, workerReadyTimes, type TaskPhase } from './engine-task-timeline.ts';
import { median, predictLocalRun } from './local-run-prediction.ts';
import { DEFAULT_FARGATE_MODEL } from '../sim/fargate-model.ts';
import type { Trace } from '../sim/trace.ts';

export interface EngineCalibrationOptions {
  readonly broker: EngineRunBroker;
  /** A QA job of the engine wheel. @default the demo's, classical/case_13 */
  readonly job?: string;
  readonly maxWorkers: number;
  readonly slotsPerWorker: number;
  readonly idleGraceSeconds: number;
  readonly log?: (line: string) => void;
}

/** What one real engine run recorded, enough to predict it. */
export interface RecordedEngineRun {
  readonly logs: readonly WorkerLog[];
  readonly lifecycle: readonly LifecycleEvent[];
  readonly maxWorkers: number;
  readonly slotsPerWorker: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  readonly label: string;
}

/**
 * The simulator's trace of a recorded run: every phase but the last submitted all at once (the engine's
 * Starmaps: preclassical), each followed by the master's measured gap; the last one windowed by `num_cores`.
 */
export function traceOfPhases(phases: readonly TaskPhase[], numCores: number, name: string): Trace {
  const durations = (p: TaskPhase) => p.tasks.map((t) => t.endedAt - t.receivedAt);
  const main = phases[phases.length - 1]!;
  return {
    name,
    description: `a recorded real engine run: ${phases.map((p) => p.tasks.length).join(' + ')} tasks`,
    calculations: [
      {
        id: 1,
        submitAt: 0,
        durations: durations(main),
        submission: 'windowed',
        numCores,
        leadPhases: phases.slice(0, -1).map((p, i) => ({
          name: `phase ${i + 1}`,
          durations: durations(p),
          gapAfterSeconds: phases[i + 1]!.firstReceivedAt - p.lastEndedAt,
        })),
      },
    ],
  };
}

/** Compares a recorded run with the simulator's prediction of it. Pure: the records in, the comparison out. */
export function compareWithSimulator(run: RecordedEngineRun): CalibrationResult {
  const tasks = timedTasks(run.logs);
  if (tasks.length === 0) throw new Error('the workers logged no finished task: nothing to calibrate on');
  const phases = taskPhases(tasks);
  const firstReceived = tasks[0]!.receivedAt;
  const lastEnded = Math.max(...tasks.map((t) => t.endedAt));
  // Start-up: each unit's spawn to celery's `ready.` line (the stand-in for Fargate's image pull); the first task
  // received where a worker did not log it. Every unit counts, also those that never got a task.
  const firstByUnit = new Map<string, number>();
  for (const t of tasks) if (!firstByUnit.has(t.unitId)) firstByUnit.set(t.unitId, t.receivedAt);
  const readyAt = workerReadyTimes(run.logs);
  const startups = run.lifecycle
    .filter((e) => e.event === 'spawn')
    .map((e) => (readyAt.get(e.unitId) ?? firstByUnit.get(e.unitId) ?? Number.NaN) - e.t / 1000)
    .filter((s) => s > 0);
  const startup = startups.length > 0 ? median(startups) : 5;
  const { workerSeconds } = workerTime(run.lifecycle);
  // Shutdown: each retired unit's retire request to its exit (celery's warm shutdown), the simulator's
  // idle-shutdown time; measured, like the start-up, not fitted.
  const retiredAt = new Map(run.lifecycle.filter((e) => e.event === 'retire').map((e) => [e.unitId, e.t]));
  const shutdowns = run.lifecycle
    .filter((e) => e.event === 'exit' && retiredAt.has(e.unitId))
    .map((e) => (e.t - retiredAt.get(e.unitId)!) / 1000);
  const shutdown = shutdowns.length > 0 ? median(shutdowns) : DEFAULT_FARGATE_MODEL.idleShutdownSeconds;

  const trace = traceOfPhases(phases, run.maxWorkers * run.slotsPerWorker, 'engine-demo');
  const sim = predictLocalRun(
    trace,
    { ...run, minWorkers: 0, workerStartupSeconds: 30 },
    { startupSeconds: startup, idleShutdownSeconds: shutdown },
  );
  const gaps = phases.slice(1).map((p, i) => (p.firstReceivedAt - phases[i]!.lastEndedAt).toFixed(1));
  return {
    trace: run.label,
    // As for the synthetic calibration: first task received to last task ended.
    realMakespanSeconds: lastEnded - firstReceived,
    simMakespanSeconds: sim.makespanSeconds - sim.timeToFirstWorkerSeconds,
    realWorkerSeconds: workerSeconds,
    simWorkerSeconds: sim.workerHours * 3600,
    notes:
      `The simulator was given the ${tasks.length} celery tasks as the workers' logs timed them (Received to succeeded), ` +
      `in ${phases.length} phases of ${phases.map((p) => p.tasks.length).join(', ')} tasks with measured master gaps of ${gaps.join(', ') || 'none'} s ` +
      `(the earlier phases submitted at once, the last windowed by num_cores ${run.maxWorkers * run.slotsPerWorker}), ` +
      `the median worker start-up (spawn to celery's ready line) of ${startup.toFixed(1)} s over ${startups.length} workers, ` +
      `and the median shutdown (retire to exit) of ${shutdown.toFixed(1)} s over ${shutdowns.length} workers; ` +
      `billing minimum off. Worker-seconds are each unit's spawn to exit, from the backend's lifecycle log.`,
  };
}

/** Runs the demo's real engine calculation once and compares it with the simulator's prediction. */
export async function calibrateOnEngine(o: EngineCalibrationOptions): Promise<CalibrationResult> {
  const pollSeconds = 1;
  const job = o.job ?? DEFAULT_DEMO_JOB;
  let logs: WorkerLog[] = [];
  const { result, failures } = await runEngineDemo({
    broker: o.broker,
    job,
    maxWorkers: o.maxWorkers,
    slotsPerWorker: o.slotsPerWorker,
    idleGraceSeconds: o.idleGraceSeconds,
    backend: 'process',
    progress: o.log ?? (() => undefined),
    onWorkerLogs: (l) => {
      logs = l;
    },
  });
  if (failures.length > 0) throw new Error(`the engine run failed: ${failures.join('; ')}`);
  return compareWithSimulator({
    logs,
    lifecycle: result.lifecycle,
    maxWorkers: o.maxWorkers,
    slotsPerWorker: o.slotsPerWorker,
    idleGraceSeconds: o.idleGraceSeconds,
    pollSeconds,
    label: `the demo's real engine run (engine 3.11.5, \`oq engine --run\` of ${job}, process backend), 0 to ${o.maxWorkers} workers of ${o.slotsPerWorker} processes, poll ${pollSeconds} s, idle grace ${o.idleGraceSeconds} s`,
  });
}
