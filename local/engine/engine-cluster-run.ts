import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import type { LifecycleEvent } from '../fleet/lifecycle-log.ts';
import type { ComputeObservation } from '../../bridge/src/observe/observation.ts';
import type { DecisionLine } from '../cluster/live-view.ts';
import { startLocalBridge } from '../cluster/local-bridge.ts';
import { localRunPolicy } from '../cluster/local-run-policy.ts';
import {
  compareEngineResults,
  readEngineResults,
  type EngineResults,
  type ResultsComparison,
} from './engine-results.ts';
import { type EngineBroker, type EngineJob, LocalEngineMaster } from './local-engine-master.ts';
import { referenceResults, type ReferenceResults } from './reference-results.ts';
import { analyzeWorkerLogs, type WorkerTaskAnalysis } from './worker-task-log.ts';
import { sleep, withTimeout } from '../timeouts.ts';
import { writeRunRecord } from '../run-record.ts';
import { createRunVhost, type LocalBroker } from '../run-vhost.ts';

/** The local RabbitMQ and an administrator that may create a vhost for the run. */
export type EngineRunBroker = LocalBroker;

/** A local backend the run can drive, read and clean up. */
export interface EngineRunBackend extends ComputeBackend {
  /** Every spawn, retire, kill and exit of a unit. */
  lifecycle(): LifecycleEvent[];
  /** Stops every unit, whatever it runs (the end of the run). */
  shutdownAll(): Promise<void>;
}

/** What a backend factory gets: the master its workers must serve, and a directory of the run's own. */
export interface EngineBackendContext {
  readonly master: LocalEngineMaster;
  readonly stateDir: string;
  /** Registers what to release when the run ends (a readiness probe's broker session). */
  onCleanup(release: () => Promise<void>): void;
}

/** Options of {@link runEngineCluster}. */
export interface EngineClusterOptions {
  readonly broker: EngineRunBroker;
  /** The calculations, submitted together (each a job.ini; QA jobs of the engine wheel are copied first). */
  readonly jobs: readonly string[];
  readonly backend: (context: EngineBackendContext) => EngineRunBackend;
  /** Where each unit's log is, for the analysis. */
  readonly workerLogs: (context: EngineBackendContext) => Array<{ unitId: string; text: string }>;
  readonly maxWorkers: number;
  readonly slotsPerWorker: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  /** Runs alongside the calculations (fault injection: a SIGKILL, an `oq abort`). */
  readonly during?: (run: EngineRunHandle) => Promise<void>;
  /** Give up after this long. @default 600 */
  readonly timeoutSeconds?: number;
  /** A line now and then for a terminal. */
  readonly progress?: (line: string) => void;
  /** See LocalEngineMasterOptions.serializeJobs. @default the master's */
  readonly serializeJobs?: number;
}

/** What a fault-injection hook can see and do. */
export interface EngineRunHandle {
  readonly master: LocalEngineMaster;
  readonly backend: EngineRunBackend;
  readonly jobs: readonly EngineJob[];
  readonly context: EngineBackendContext;
  readonly decisions: readonly DecisionLine[];
}

/** One calculation's outcome. */
export interface EngineJobOutcome {
  readonly jobIni: string;
  readonly jobId: number;
  readonly exitCode: number;
  readonly status: string;
  readonly log: string;
  readonly results?: EngineResults;
  readonly reference?: ReferenceResults;
  /** Against the single-machine reference; undefined when the job did not complete. */
  readonly comparison?: ResultsComparison;
}

/** The outcome of {@link runEngineCluster}. */
export interface EngineClusterResult {
  readonly jobs: readonly EngineJobOutcome[];
  readonly decisions: readonly DecisionLine[];
  readonly lifecycle: readonly LifecycleEvent[];
  readonly workers: WorkerTaskAnalysis;
  readonly finalFleet: ComputeObservation;
  readonly returnedToZeroAfterSeconds?: number;
  readonly peakDesired: number;
  readonly calculationSeconds: number;
  readonly wallSeconds: number;
  readonly referenceSeconds: number;
  readonly rootDir: string;
}

/**
 * Real OpenQuake Engine calculations on one machine, the product's main job: a local master (DbServer as
 * openquake, the master's own openquake.cfg, a vhost of its own), the real bridge loop starting workers from
 * zero on a local backend, `oq engine --run` of each job, then the fleet back to zero and every job's exports
 * compared with a single-machine run of the same job (cached by job and engine release).
 */
export async function runEngineCluster(options: EngineClusterOptions): Promise<EngineClusterResult> {
  const started = Date.now();
  const say = options.progress ?? (() => undefined);
  const { broker } = options;
  const run = await createRunVhost(broker, 'oqe-engine');
  const vhost = run.name;
  const { managementUrl } = run;
  const engineBroker: EngineBroker = {
    host: broker.host,
    port: broker.amqpPort,
    user: broker.adminUser,
    password: broker.adminPassword,
    vhost,
  };
  const numCores = options.maxWorkers * options.slotsPerWorker;
  const master = await LocalEngineMaster.start({
    broker: engineBroker,
    numCores,
    serializeJobs: options.serializeJobs,
  });
  const stateDir = mkdtempSync(join(tmpdir(), 'oqe-engine-workers-'));
  const cleanups: Array<() => Promise<void>> = [];
  const context: EngineBackendContext = { master, stateDir, onCleanup: (release) => cleanups.push(release) };
  let backend: EngineRunBackend | undefined;
  let bridge: { stop(): Promise<void> } | undefined;
  const decisions: DecisionLine[] = [];
  let keepLogs = true;
  try {
    // The references first (cached after the first run): computing one while the workers run would share the
    // CPUs with them and slow the calculation the run measures.
    const references = new Map<string, ReferenceResults>();
    for (const jobIni of new Set(options.jobs)) {
      say(`reference: single-machine run of ${jobIni} (cached by job and engine release)`);
      references.set(jobIni, await referenceResults(master, jobIni));
    }
    const referenceSeconds = (Date.now() - started) / 1000;

    backend = options.backend(context);
    const policy = localRunPolicy({ ...options, minWorkers: 0, workerStartupSeconds: 30 });
    bridge = await startLocalBridge({
      backend,
      broker: {
        host: broker.host,
        port: broker.amqpPort,
        vhost,
        username: broker.adminUser,
        password: broker.adminPassword,
      },
      managementUrl,
      policy,
      pollSeconds: options.pollSeconds,
      logPath: join(master.rootDir, 'bridge.log'),
      remoteControlSerializer: 'json',
      onDecision: (d) => {
        decisions.push(d);
        if (d.reason !== 'Steady' || d.action) say(`bridge: ${d.reason} desired ${d.desired} ${d.detail}`);
      },
    });
    // For a second terminal: `npm run status:local` finds the run by this record.
    writeRunRecord(stateDir, { vhost, backend: backend.name, remoteControlSerializer: 'json' });

    const calcStarted = Date.now();
    const jobs = options.jobs.map((jobIni) => master.runJob(master.stageJob(jobIni)));
    const handle: EngineRunHandle = { master, backend, jobs, context, decisions };
    const hook = options.during ? options.during(handle) : Promise.resolve();
    const finished = await withTimeout(
      Promise.all([Promise.all(jobs.map((j) => j.finished)), hook]).then(([f]) => f),
      (options.timeoutSeconds ?? 600) * 1000,
      'the calculations to finish',
    );
    const calculationSeconds = (Date.now() - calcStarted) / 1000;
    say(`calculations finished in ${calculationSeconds.toFixed(0)} s; waiting for the fleet to return to 0`);
    const doneAt = Date.now();
    let returnedToZeroAfterSeconds: number | undefined;
    // The idle grace, the drain, and room for a warm shutdown that hangs (issue 11, trap 2) until SIGKILL.
    const zeroDeadline = Date.now() + (options.idleGraceSeconds + 90 + 10 * options.maxWorkers) * 1000;
    let finalFleet = await backend.describe();
    while (Date.now() < zeroDeadline) {
      finalFleet = await backend.describe();
      if (finalFleet.desired === 0 && finalFleet.units.length === 0) {
        returnedToZeroAfterSeconds = (Date.now() - doneAt) / 1000;
        break;
      }
      await sleep(500);
    }

    const outcomes: EngineJobOutcome[] = [];
    for (const [i, job] of jobs.entries()) {
      const jobIni = options.jobs[i]!;
      const jobId = await job.jobId;
      const { code, log } = finished[i]!;
      const status = await master.jobStatus(jobId);
      const reference = references.get(jobIni);
      let results: EngineResults | undefined;
      let comparison: ResultsComparison | undefined;
      if (status === 'complete' && existsSync(master.datastorePath(jobId))) {
        results = await readEngineResults(master.datastorePath(jobId), await master.exportOutputs(jobId));
        comparison = reference ? compareEngineResults(reference.results, results) : undefined;
      }
      outcomes.push({ jobIni, jobId, exitCode: code, status, log, results, reference, comparison });
    }
    const lifecycle = backend.lifecycle();
    const workers = analyzeWorkerLogs(options.workerLogs(context));
    keepLogs =
      returnedToZeroAfterSeconds === undefined ||
      workers.unfinished.length + workers.busyWhenStopped.length > 0 ||
      outcomes.some((o) => !o.comparison?.equal && o.status === 'complete');
    return {
      jobs: outcomes,
      decisions,
      lifecycle,
      workers,
      finalFleet,
      returnedToZeroAfterSeconds,
      peakDesired: Math.max(0, ...decisions.map((d) => d.desired)),
      calculationSeconds,
      wallSeconds: (Date.now() - started) / 1000,
      referenceSeconds,
      rootDir: master.rootDir,
    };
  } finally {
    await bridge?.stop().catch(() => undefined);
    await backend?.shutdownAll().catch(() => undefined);
    await backend?.close().catch(() => undefined);
    for (const release of cleanups) await release().catch(() => undefined);
    // The workers' logs go next to the master's, which a run that went wrong keeps for a look.
    cpSync(stateDir, join(master.rootDir, 'workers'), { recursive: true });
    rmSync(stateDir, { recursive: true, force: true });
    await master.stop(keepLogs);
    await run.remove().catch(() => undefined);
  }
}

/** Each unit's log in a state directory where the process backend writes `<unitId>.log`. */
export function unitLogsIn(stateDir: string): Array<{ unitId: string; text: string }> {
  if (!existsSync(stateDir)) return [];
  return readdirSync(stateDir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => ({ unitId: f.slice(0, -4), text: readFileSync(join(stateDir, f), 'utf8') }));
}
