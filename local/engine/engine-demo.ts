import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { enginePodmanBackend, engineProcessBackend } from './engine-backends.ts';
import {
  runEngineCluster,
  unitLogsIn,
  type EngineClusterResult,
  type EngineRunBroker,
} from './engine-cluster-run.ts';
import { assertEngineEnv, engineQaDir } from './engine-env.ts';
import { engineSummaryFailures, formatEngineSummary } from './engine-summary.ts';

/** The demo's default calculation: the engine's classical QA case 13, 19 celery tasks, about 15 s on one core. */
export const DEFAULT_DEMO_JOB = 'classical/case_13';

/** Options of {@link runEngineDemo}. */
export interface EngineDemoOptions {
  readonly broker: EngineRunBroker;
  /** A QA job of the engine wheel (`classical/case_13`) or a path to any job.ini. */
  readonly job: string;
  readonly maxWorkers: number;
  readonly slotsPerWorker: number;
  readonly idleGraceSeconds: number;
  /** Workers as processes (the entrypoint on the engine's Python) or as containers of the real worker image. */
  readonly backend: 'process' | 'podman';
  /** The worker image for the podman backend (`scripts/build-worker-image.sh engine-local`). */
  readonly image?: string;
  /** A line now and then. */
  readonly progress: (line: string) => void;
  /** Gets every worker's log at the end of the run (the engine calibration times the tasks from them). */
  readonly onWorkerLogs?: (logs: Array<{ unitId: string; text: string }>) => void;
}

/** The job.ini a `--job` value names: a path as given, else a QA job of the engine wheel. */
export function resolveDemoJob(job: string): string {
  const candidates = [job.endsWith('.ini') ? resolve(job) : '', join(engineQaDir(), job, 'job.ini')];
  if (isAbsolute(job) && !job.endsWith('.ini')) candidates.unshift(join(job, 'job.ini'));
  const found = candidates.find((c) => c !== '' && existsSync(c));
  if (!found) {
    throw new Error(
      `--job '${job}' is neither a job.ini nor a QA job of the engine wheel (${engineQaDir()}); ` +
        `try ${DEFAULT_DEMO_JOB}`,
    );
  }
  return found;
}

/**
 * The real calculation of `npm run demo`: one engine job on workers the real bridge loop starts from zero (the
 * product's worker entrypoint, as processes or in the real worker image), compared with a single-machine run. Returns the summary and what
 * made the run a failure (empty for a good run).
 */
export async function runEngineDemo(
  options: EngineDemoOptions,
): Promise<{ result: EngineClusterResult; summary: string; failures: string[] }> {
  assertEngineEnv();
  const jobIni = resolveDemoJob(options.job);
  const result = await runEngineCluster({
    broker: options.broker,
    jobs: [jobIni],
    backend: (context) =>
      options.backend === 'podman'
        ? enginePodmanBackend(context, { image: options.image ?? '', concurrency: options.slotsPerWorker })
        : engineProcessBackend(context, { concurrency: options.slotsPerWorker }),
    workerLogs: ({ stateDir }) => {
      const logs = unitLogsIn(stateDir);
      options.onWorkerLogs?.(logs);
      return logs;
    },
    maxWorkers: options.maxWorkers,
    slotsPerWorker: options.slotsPerWorker,
    idleGraceSeconds: options.idleGraceSeconds,
    pollSeconds: 1,
    timeoutSeconds: 900,
    progress: options.progress,
  });
  return {
    result,
    summary: formatEngineSummary(result, { maxWorkers: options.maxWorkers, backend: options.backend }),
    failures: engineSummaryFailures(result),
  };
}
