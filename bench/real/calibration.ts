/**
 * Calibration: one run of the real local loop (the demo's process backend: the bridge's own loop scaling real
 * celery workers of the engine-like test app, fed by an engine-3.x-like master) against the simulator's
 * prediction of the same run. The simulator gets the run's task durations as the workers recorded them, the
 * same policy and window, and one platform parameter measured from the run itself: the workers' start-up
 * (spawn to first task), which stands in for Fargate's image pull. Nothing else is fitted.
 */
import { readJournal, type JournalEntry } from '../../local/cluster/journal-analysis.ts';
import { runLocalCluster, type LocalBroker } from '../../local/cluster/local-cluster-run.ts';
import type { CalibrationResult } from './bench-results.ts';
import { median, predictLocalRun } from './local-run-prediction.ts';
import type { Trace } from '../sim/trace.ts';

export interface CalibrationOptions {
  readonly broker: LocalBroker;
  readonly tasks: number;
  readonly meanTaskSeconds: number;
  readonly maxWorkers: number;
  readonly slotsPerWorker: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  readonly log?: (line: string) => void;
}

export async function calibrate(o: CalibrationOptions): Promise<CalibrationResult> {
  let journal: JournalEntry[] = [];
  let spawns: { unitId: string; t: number }[] = [];
  let submittedAt = 0;
  const result = await runLocalCluster({
    backend: 'process',
    broker: o.broker,
    tasks: o.tasks,
    meanTaskSeconds: o.meanTaskSeconds,
    minWorkers: 0,
    maxWorkers: o.maxWorkers,
    slotsPerWorker: o.slotsPerWorker,
    idleGraceSeconds: o.idleGraceSeconds,
    pollSeconds: o.pollSeconds,
    view: 'none',
    timeoutSeconds: 600,
    during: async (run) => {
      submittedAt = Date.now();
      await run.master.finished;
      // Read the records before the run deletes its state directory.
      journal = readJournal(run.journalPath);
      spawns = run.backend
        .lifecycle()
        .filter((e) => e.event === 'spawn')
        .map((e) => ({ unitId: e.unitId, t: e.t }));
    },
  });
  const a = result.analysis;
  o.log?.(`real: makespan ${a.makespanSeconds.toFixed(1)} s, worker-seconds ${a.workerSeconds.toFixed(1)}`);

  // Task durations as run, in task order; a task run twice keeps its last run.
  const starts = new Map<number, number>();
  const durations = new Map<number, number>();
  for (const e of journal) {
    if (e.event === 'start') starts.set(e.task_no, e.t);
    if (e.event === 'end' && starts.has(e.task_no)) durations.set(e.task_no, e.t - starts.get(e.task_no)!);
  }
  const ordered = [...durations.entries()].sort((x, y) => x[0] - y[0]).map(([, d]) => d);
  // Start-up: spawn to the worker's first task start.
  const firstStart = new Map<string, number>();
  for (const e of journal) {
    if (e.event !== 'start') continue;
    const prev = firstStart.get(e.worker);
    if (prev === undefined || e.t < prev) firstStart.set(e.worker, e.t);
  }
  const startups = spawns
    .map((s) => {
      const first = firstStart.get(`oq@${s.unitId}`);
      return first === undefined ? undefined : first - s.t / 1000;
    })
    .filter((x): x is number => x !== undefined && x > 0);
  const startup = startups.length > 0 ? median(startups) : 5;
  const firstTaskStart = Math.min(...journal.filter((e) => e.event === 'start').map((e) => e.t));

  const trace: Trace = {
    name: `local-${o.tasks}`,
    description: `the demo's calculation: ${o.tasks} tasks, mean ${o.meanTaskSeconds} s`,
    calculations: [
      {
        id: 1,
        submitAt: 0,
        durations: ordered,
        submission: 'windowed',
        numCores: o.maxWorkers * o.slotsPerWorker,
      },
    ],
  };
  const sim = predictLocalRun(
    trace,
    { ...o, minWorkers: 0, workerStartupSeconds: 30 },
    { startupSeconds: startup, idleShutdownSeconds: 1 },
  );
  // The demo's makespan is first task start to last task end.
  const simMakespan = sim.makespanSeconds - sim.timeToFirstWorkerSeconds;
  return {
    trace: `the demo's process backend, ${o.tasks} tasks (mean ${o.meanTaskSeconds} s), 0 to ${o.maxWorkers} workers of ${o.slotsPerWorker} processes, poll ${o.pollSeconds} s, idle grace ${o.idleGraceSeconds} s`,
    realMakespanSeconds: a.makespanSeconds,
    simMakespanSeconds: simMakespan,
    realWorkerSeconds: a.workerSeconds,
    simWorkerSeconds: sim.workerHours * 3600,
    notes: `The simulator was given the run's own task durations (${ordered.length} tasks) and one measured platform figure, the median worker start-up (spawn to first task) of ${startup.toFixed(1)} s over ${startups.length} workers; billing minimum off (local processes are not billed). Real time to first task ${(firstTaskStart - submittedAt / 1000).toFixed(1)} s, simulated ${sim.timeToFirstWorkerSeconds.toFixed(1)} s.`,
  };
}
