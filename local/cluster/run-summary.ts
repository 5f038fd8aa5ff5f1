import type { LocalRunOptions, LocalRunResult } from './local-cluster-run.ts';

/** The demo's closing summary, from the journal, the backend's lifecycle log and the broker. */
export function formatSummary(r: LocalRunResult, o: LocalRunOptions): string {
  const a = r.analysis;
  const saved = r.fixedFleetWorkerSeconds > 0 ? 1 - a.workerSeconds / r.fixedFleetWorkerSeconds : 0;
  const cost = (seconds: number) => ((seconds / 3600) * r.workerHourlyCost).toFixed(4);
  const acted = (kind: string) => r.decisions.filter((d) => d.action === kind).length;
  const queue = r.finalQueue ? `${r.finalQueue.ready + r.finalQueue.unacked}` : 'broker not answering';
  return [
    "summary (from the workers' journal, the backend's lifecycle log and the broker):",
    `  tasks completed:        ${a.completed}/${a.tasks}`,
    `  makespan:               ${a.makespanSeconds.toFixed(1)} s (first task start to last task end)`,
    `  worker-seconds used:    ${a.workerSeconds.toFixed(0)} (peak ${a.peakWorkers} workers), est. ${cost(a.workerSeconds)} USD`,
    `  fixed fleet of ${o.maxWorkers}:       ${r.fixedFleetWorkerSeconds.toFixed(0)} worker-seconds over the same period, est. ${cost(r.fixedFleetWorkerSeconds)} USD` +
      ` (elastic used ${(100 * (1 - saved)).toFixed(0)}%)`,
    `  utilisation:            ${(100 * (a.workerSeconds > 0 ? a.taskSeconds / (a.workerSeconds * o.slotsPerWorker) : 0)).toFixed(0)}% of the elastic fleet's slots were running tasks (${a.taskSeconds.toFixed(0)} task-seconds)`,
    `  bridge actions:         ${acted('scaleOut')} scale-out, ${acted('scaleIn')} scale-in over ${r.decisions.length} cycles`,
    `  tasks lost:             ${a.lost.length}`,
    `  tasks run twice:        ${a.runTwice.length}`,
    `  busy workers retired:   ${a.busyRetired.length}`,
    `  queue left on broker:   ${queue}`,
    `  fleet back to min (${o.minWorkers}): ${r.returnedToMinAfterSeconds === undefined ? 'NO' : `${r.returnedToMinAfterSeconds.toFixed(1)} s after the last task`}`,
    `  wall time:              ${r.wallSeconds.toFixed(0)} s`,
    `  chart:                  ${r.chartPath}`,
    `  last decisions:         ${r.decisionsFile} (during a run, npm run status:local shows them live)`,
  ].join('\n');
}

/** What makes the run a failure; empty for a good run. */
export function summaryFailures(r: LocalRunResult, o: LocalRunOptions): string[] {
  const a = r.analysis;
  const failures: string[] = [];
  if (a.lost.length > 0) failures.push(`tasks lost: ${a.lost.join(', ')}`);
  if (a.runTwice.length > 0) failures.push(`tasks run twice: ${a.runTwice.join(', ')}`);
  if (a.busyRetired.length > 0)
    failures.push(`busy workers retired: ${a.busyRetired.map((b) => b.unitId).join(', ')}`);
  if (!r.finalQueue || r.finalQueue.ready + r.finalQueue.unacked > 0) failures.push('queue not drained');
  if (r.returnedToMinAfterSeconds === undefined) failures.push(`fleet did not return to ${o.minWorkers}`);
  return failures;
}
