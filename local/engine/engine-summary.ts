import type { EngineClusterResult } from './engine-cluster-run.ts';

/** The demo's closing summary of a real engine run: the job, its tasks, the comparison, the fleet. */
export function formatEngineSummary(
  r: EngineClusterResult,
  o: { maxWorkers: number; backend: string },
): string {
  const lines = [
    "summary (from the engine's database and datastore, the workers' logs and the backend's lifecycle log):",
  ];
  for (const job of r.jobs) {
    const tasks = job.results?.tasks ?? {};
    const perPhase = Object.entries(tasks)
      .map(([phase, n]) => `${phase} ${n}`)
      .join(', ');
    lines.push(
      `  ${`engine job ${job.jobId}:`.padEnd(24)}${job.status} (oq engine exit ${job.exitCode}), ${shortJob(job.jobIni)}`,
      `  tasks:                  ${Object.values(tasks).reduce((a, b) => a + b, 0)} (${perPhase || 'none recorded'}); ${r.workers.tasksReceived} through the celery queue`,
      `  results:                ${resultsVerdict(job)}`,
    );
  }
  const retireEvents = r.lifecycle.filter((e) => e.event === 'retire').length;
  lines.push(
    `  tasks lost:             ${r.workers.unfinished.length}`,
    `  tasks run twice:        ${r.workers.receivedTwice.length}${r.workers.receivedTwice.length > 0 ? ' (redelivered after a worker died)' : ''}`,
    `  busy workers retired:   ${r.workers.busyWhenStopped.length} (of ${retireEvents} retired)`,
    `  fleet:                  0 -> ${r.peakDesired} -> ${r.finalFleet.units.length} workers (${o.backend} backend, at most ${o.maxWorkers})`,
    `  fleet back to 0:        ${r.returnedToZeroAfterSeconds === undefined ? 'NO' : `${r.returnedToZeroAfterSeconds.toFixed(1)} s after the calculation`}`,
    `  calculation:            ${r.calculationSeconds.toFixed(0)} s; wall time ${r.wallSeconds.toFixed(0)} s`,
    `  logs:                   ${r.rootDir} (removed after a clean run unless OQE_KEEP_RUN_LOGS=1)`,
  );
  return lines.join('\n');
}

/** What makes the run a failure; empty for a good run. */
export function engineSummaryFailures(r: EngineClusterResult): string[] {
  const failures: string[] = [];
  for (const job of r.jobs) {
    if (job.status !== 'complete') failures.push(`engine job ${job.jobId} is ${job.status}`);
    else if (!job.comparison?.equal) failures.push(`job ${job.jobId}: ${resultsVerdict(job)}`);
  }
  if (r.workers.unfinished.length > 0) failures.push(`tasks lost: ${r.workers.unfinished.length}`);
  if (r.workers.busyWhenStopped.length > 0)
    failures.push(`busy workers retired: ${r.workers.busyWhenStopped.join(', ')}`);
  if (r.returnedToZeroAfterSeconds === undefined) failures.push('the fleet did not return to 0');
  return failures;
}

function resultsVerdict(job: EngineClusterResult['jobs'][number]): string {
  if (job.status !== 'complete') return `not compared: the job is ${job.status}`;
  if (!job.comparison) return 'not compared: no single-machine reference';
  const where = job.reference?.cached
    ? 'cached'
    : `computed now in ${job.reference?.runSeconds.toFixed(0)} s`;
  return job.comparison.equal
    ? `equal to a single-machine run (hazard curves and maps, CSV and datastore; reference ${where})`
    : `DIFFERENT from a single-machine run: ${job.comparison.differences.join('; ')}`;
}

function shortJob(jobIni: string): string {
  const marker = 'qa_tests_data/';
  const at = jobIni.indexOf(marker);
  return at >= 0 ? `the engine's QA job ${jobIni.slice(at + marker.length)}` : jobIni;
}
