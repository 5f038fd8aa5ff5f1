import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LifecycleEvent } from '../fleet/lifecycle-log.ts';
import type { LocalFleet } from '../fleet/local-fleet.ts';
import { podmanFleet } from '../fleet/podman-runtime.ts';
import { processFleet } from '../fleet/process-runtime.ts';
import type { ComputeObservation } from '../../bridge/src/observe/observation.ts';
import { BrokerSampler, type BrokerSample } from './broker-sampler.ts';
import { chartSvg, type RunSample } from './chart-svg.ts';
import { EngineMaster } from './engine-master.ts';
import { analyzeRun, readJournal, type JournalEntry, type RunAnalysis } from './journal-analysis.ts';
import type { DecisionLine } from './live-view.ts';
import { startLocalBridge, type LocalBridge } from './local-bridge.ts';
import { localRunPolicy } from './local-run-policy.ts';
import { renderLiveView } from './live-view.ts';
import { hazardLikeDurations } from './workload.ts';
import { sleep, waitFor, withTimeout } from '../timeouts.ts';
import { writeRunRecord } from '../run-record.ts';
import { createRunVhost, type LocalBroker, type RunVhost } from '../run-vhost.ts';
export type { LocalBroker } from '../run-vhost.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** How often the run's waits look again: each look asks the backend or the management API. */
const POLL_MS = 200;

/** Options of one local run: a calculation, the real bridge loop and a local compute backend. */
export interface LocalRunOptions {
  readonly backend: 'process' | 'podman';
  readonly broker: LocalBroker;
  /** Number of tasks of the synthetic calculation. */
  readonly tasks: number;
  /** Mean task duration, seconds. */
  readonly meanTaskSeconds: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  /** Celery worker processes per worker. */
  readonly slotsPerWorker: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  /** Worker image for the podman backend. */
  readonly image?: string;
  /**
   * Where the chart and the logs go. @default a new temporary directory, removed after a clean run (the chart
   * with it) unless OQE_KEEP_RUN_LOGS=1
   */
  readonly outDir?: string;
  /** Redraw a terminal view every second (a TTY), or print a progress line every few seconds. */
  readonly view?: 'live' | 'lines' | 'none';
  /** Runs alongside the calculation, for fault injection in the end-to-end tests. */
  readonly during?: (run: LocalRunHandle) => Promise<void>;
  /** How long to wait, after the last task, for the fleet to return to the minimum. @default idle grace + 30 s + 10 s a worker */
  readonly awaitMinSeconds?: number;
  /** Give up after this long. @default 300 */
  readonly timeoutSeconds?: number;
}

/** What a fault-injection hook can see and do. */
export interface LocalRunHandle {
  readonly backend: LocalFleet;
  readonly master: EngineMaster;
  readonly journalPath: string;
  /** Task durations by task number, seconds. */
  readonly durations: readonly number[];
  /** The latest fleet as the backend reports it. */
  fleet(): Promise<ComputeObservation>;
  /** Stops the bridge process and starts a new one on the same fleet (a new backend object too). */
  restartBridge(): Promise<void>;
  /** Periods when the hook took the broker down on purpose, for the analysis. */
  readonly brokerOutages: Array<{ from: number; to: number }>;
  /** Resolves once `probe` returns true, polling every 200 ms; rejects after `timeoutMs`. */
  waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs?: number): Promise<void>;
}

/** The outcome of a run, computed from the journal, the backend's lifecycle log and the broker. */
export interface LocalRunResult {
  readonly analysis: RunAnalysis;
  /** ready + unacked on the broker at the end (must be 0). */
  readonly finalQueue?: BrokerSample;
  /** Fleet at the end, after the idle grace. */
  readonly finalFleet: ComputeObservation;
  readonly returnedToMinAfterSeconds?: number;
  readonly peakDesired: number;
  /**
   * A fixed fleet of maxWorkers over the same period (from the calculation's submission until the elastic fleet
   * was back at the minimum), worker-seconds: what the same maximum would cost if it were always on.
   */
  readonly fixedFleetWorkerSeconds: number;
  readonly workerHourlyCost: number;
  readonly decisions: readonly DecisionLine[];
  /** The bridge's last decisions as its loop wrote them (OQE_DECISIONS_FILE), read by `status` (`npm run status:local`). */
  readonly decisionsFile: string;
  /** What the backend did to its units (spawn, retire, kill, exit). */
  readonly lifecycle: readonly LifecycleEvent[];
  /** Everything the workers journaled (the run's temporary directory is gone afterwards). */
  readonly journal: readonly JournalEntry[];
  readonly samples: readonly RunSample[];
  readonly chartPath: string;
  readonly outDir: string;
  readonly wallSeconds: number;
}

/**
 * One calculation on one machine: a vhost of its own on the local RabbitMQ, the real bridge loop driving a
 * local backend, an engine-like master keeping `maxWorkers x slotsPerWorker` tasks in flight. Ends when every
 * task has ended and the fleet is back to the minimum (or the timeout), then stops every worker it started.
 */
export async function runLocalCluster(options: LocalRunOptions): Promise<LocalRunResult> {
  const started = Date.now();
  const outDir = options.outDir ?? mkdtempSync(join(tmpdir(), 'oqe-demo-'));
  mkdirSync(outDir, { recursive: true });
  const dirs = prepareStateDir(options.backend);
  const { stateDir, journalPath } = dirs;
  const { broker } = options;
  const vhost = await createRunVhost(broker, 'oqe-demo');
  const makeBackend = backendFactory(options, vhost, dirs);
  const policy = localRunPolicy({
    ...options,
    workerStartupSeconds: options.backend === 'podman' ? 90 : 30,
  });
  const { workerHourlyCost } = policy;
  let backend = makeBackend();
  const decisions: DecisionLine[] = [];
  const bridgeSettings = {
    broker: {
      host: broker.host,
      port: broker.amqpPort,
      vhost: vhost.name,
      username: broker.adminUser,
      password: broker.adminPassword,
    },
    managementUrl: vhost.managementUrl,
    policy,
    pollSeconds: options.pollSeconds,
    logPath: join(outDir, 'bridge.log'),
    decisionsFile: join(outDir, 'decisions.json'),
    onDecision: (d: DecisionLine) => {
      decisions.push(d);
    },
  };
  let bridge: LocalBridge = await startLocalBridge({ ...bridgeSettings, backend });
  // For a second terminal: `npm run status:local` finds the run by this record.
  writeRunRecord(stateDir, {
    vhost: vhost.name,
    backend: backend.name,
    remoteControlSerializer: 'pickle',
    decisionsFile: bridgeSettings.decisionsFile,
  });

  const sampler = new BrokerSampler({
    amqpUrl: vhost.amqpUrl,
    managementUrl: vhost.managementUrl,
    user: broker.adminUser,
    password: broker.adminPassword,
    vhost: vhost.name,
  });
  const calcId = 1;
  const durations = hazardLikeDurations({ count: options.tasks, meanSeconds: options.meanTaskSeconds });
  const calcStartedAt = Date.now();
  const master = new EngineMaster({
    python: join(REPO_ROOT, '.venv/bin/python'),
    brokerUrl: vhost.amqpUrl,
    journalPath,
    calcId,
    numCores: options.maxWorkers * options.slotsPerWorker,
    durations,
    workDir: stateDir,
  });
  const sampling = startSampling({
    options,
    started,
    vhost: vhost.name,
    sampler,
    master,
    journalPath,
    workerHourlyCost,
    backend: () => backend,
    decisions: () => decisions.slice(-6),
  });

  const brokerOutages: Array<{ from: number; to: number }> = [];
  const handle: LocalRunHandle = {
    get backend() {
      return backend;
    },
    master,
    journalPath,
    durations,
    brokerOutages,
    fleet: () => backend.describe(),
    restartBridge: async () => {
      await bridge.stop();
      await backend.close();
      backend = makeBackend();
      bridge = await startLocalBridge({ ...bridgeSettings, backend });
    },
    waitFor: async (what, probe, timeoutMs = 60_000) => {
      await waitFor(what, probe, timeoutMs, POLL_MS);
    },
  };

  let ending: RunEnding = { finalFleet: sampling.lastFleet(), fleetAtMinAt: Date.now() };
  let failed = true;
  try {
    const hook = options.during ? options.during(handle) : Promise.resolve();
    await withTimeout(
      Promise.all([master.finished, hook]),
      (options.timeoutSeconds ?? 300) * 1000,
      'the calculation to finish',
    );
    ending = await awaitRunEnd(options, backend, sampler);
    failed = false;
  } finally {
    await sampling.stop();
    master.stop();
    await bridge.stop().catch(() => undefined);
    await sampler.close();
    // Workers are detached on purpose (they outlive a bridge): stop them here, whatever happened.
    await backend.shutdownAll().catch(() => undefined);
    await backend.close();
    await vhost.remove().catch(() => undefined);
    keepWorkerLogs(stateDir, outDir);
    if (failed) rmSync(stateDir, { recursive: true, force: true });
  }

  const end = Date.now();
  const lifecycle = backend.lifecycle();
  const journal = readJournal(journalPath);
  const { fleetAtMinAt } = ending;
  const analysis = analyzeRun({
    calcId,
    taskCount: options.tasks,
    journal,
    lifecycle,
    brokerOutages,
    window: { from: calcStartedAt, to: fleetAtMinAt },
  });

  const chartPath = join(outDir, 'demo-chart.svg');
  const title = `oq-elastic local run (${options.backend}): ${options.tasks} tasks, 0 to ${options.maxWorkers} workers`;
  writeFileSync(chartPath, chartSvg(sampling.samples, title));
  rmSync(stateDir, { recursive: true, force: true });
  // A run that made its own output directory (the tests) removes it unless something went wrong, so that
  // the bridge's and workers' logs stay for a look; OQE_KEEP_RUN_LOGS=1 keeps them always.
  const suspicious =
    analysis.lost.length + analysis.startedTwiceUnexplained.length + analysis.busyRetired.length > 0;
  if (options.outDir === undefined && !suspicious && process.env.OQE_KEEP_RUN_LOGS !== '1') {
    rmSync(outDir, { recursive: true, force: true });
  }
  return {
    analysis,
    finalQueue: ending.finalQueue,
    finalFleet: ending.finalFleet,
    returnedToMinAfterSeconds: ending.returnedToMinAfterSeconds,
    peakDesired: Math.max(0, ...sampling.samples.map((s) => s.desired)),
    fixedFleetWorkerSeconds: (options.maxWorkers * (fleetAtMinAt - calcStartedAt)) / 1000,
    workerHourlyCost,
    decisions,
    decisionsFile: bridgeSettings.decisionsFile,
    lifecycle,
    journal,
    samples: sampling.samples,
    chartPath,
    outDir,
    wallSeconds: (end - started) / 1000,
  };
}

/** The run's private directories: the workers' journal, the shared dir and the backend's state. */
interface RunDirs {
  readonly stateDir: string;
  readonly journalPath: string;
  readonly sharedDir: string;
}

function prepareStateDir(backend: LocalRunOptions['backend']): RunDirs {
  const stateDir = mkdtempSync(join(tmpdir(), `oqe-local-${backend}-`));
  // The workers of the podman backend run as uid 1200: the journal's directory must be writable by them.
  const journalDir = join(stateDir, 'journal');
  mkdirSync(journalDir, { recursive: true });
  chmodSync(journalDir, 0o777);
  const journalPath = join(journalDir, 'tasks.jsonl');
  writeFileSync(journalPath, '');
  chmodSync(journalPath, 0o666);
  const sharedDir = join(stateDir, 'shared');
  mkdirSync(sharedDir, { recursive: true });
  chmodSync(sharedDir, 0o755);
  return { stateDir, journalPath, sharedDir };
}

/** Makes the run's backend; called again on a bridge restart (a new backend object on the same fleet). */
function backendFactory(options: LocalRunOptions, vhost: RunVhost, dirs: RunDirs): () => LocalFleet {
  const { broker } = options;
  return () =>
    options.backend === 'process'
      ? processFleet({
          brokerUrl: vhost.amqpUrl,
          stateDir: dirs.stateDir,
          journalPath: dirs.journalPath,
          concurrency: options.slotsPerWorker,
          retireTimeoutMs: 60_000,
        })
      : podmanFleet({
          image: options.image ?? 'localhost/oq-elastic-worker:test',
          broker: {
            host: broker.host,
            port: broker.amqpPort,
            vhost: vhost.name,
            user: broker.adminUser,
            password: broker.adminPassword,
          },
          stateDir: dirs.stateDir,
          sharedDir: dirs.sharedDir,
          journalPath: dirs.journalPath,
          concurrency: options.slotsPerWorker,
          retireTimeoutMs: 60_000,
        });
}

/** What the sampling loop reads each second. */
interface SamplingInputs {
  readonly options: LocalRunOptions;
  readonly started: number;
  readonly vhost: string;
  readonly sampler: BrokerSampler;
  readonly master: EngineMaster;
  readonly journalPath: string;
  readonly workerHourlyCost: number;
  /** The current backend (a bridge restart replaces it). */
  readonly backend: () => LocalFleet;
  /** The decisions the view shows. */
  readonly decisions: () => readonly DecisionLine[];
}

/** The running sampling loop: the chart's samples, the last fleet seen, and its stop. */
interface Sampling {
  readonly samples: RunSample[];
  lastFleet(): ComputeObservation;
  stop(): Promise<void>;
}

/** Samples the broker, the fleet and the journal every second, for the chart and the live view. */
function startSampling(inputs: SamplingInputs): Sampling {
  const { options, sampler, master, journalPath, workerHourlyCost } = inputs;
  const samples: RunSample[] = [];
  let lastFleet: ComputeObservation = {
    desired: 0,
    running: 0,
    pending: 0,
    units: [],
    observedAt: Date.now(),
  };
  let lastQueue: BrokerSample | undefined;
  let stopped = false;
  let lastLine = 0;
  const view = options.view ?? 'none';
  const loop = (async () => {
    while (!stopped) {
      const t = Date.now();
      lastQueue = await sampler.sample();
      try {
        lastFleet = await inputs.backend().describe();
      } catch {
        // keep the last fleet: podman may be briefly busy
      }
      const journal = readJournal(journalPath);
      const busyHosts = busyWorkers(journal);
      const sample: RunSample = {
        t,
        // The management API's unacked figure lags by seconds; the workers' journal says what runs now.
        queue: (lastQueue?.ready ?? samples.at(-1)?.ready ?? 0) + inProgress(journal),
        ready: lastQueue?.ready ?? samples.at(-1)?.ready ?? 0,
        desired: lastFleet.desired,
        running: lastFleet.running,
        busy: busyHosts.size,
      };
      samples.push(sample);
      const billedSeconds = workerSecondsSoFar(inputs.backend().lifecycle(), t);
      const frame = {
        elapsedSeconds: (t - inputs.started) / 1000,
        backend: options.backend,
        vhost: inputs.vhost,
        progress: master.progress,
        tasks: options.tasks,
        queue: lastQueue,
        fleet: lastFleet,
        busy: busyHosts.size,
        slotsPerWorker: options.slotsPerWorker,
        busySlots: inProgress(journal),
        costSoFar: (billedSeconds / 3600) * workerHourlyCost,
        costPerHourNow: lastFleet.units.length * workerHourlyCost,
        decisions: inputs.decisions(),
      };
      if (view === 'live') process.stdout.write(`\x1b[H\x1b[J${renderLiveView(frame)}`);
      else if (view === 'lines' && t - lastLine >= 5000) {
        lastLine = t;
        process.stdout.write(`${renderLiveView(frame).split('\n').slice(0, 4).join(' | ')}\n`);
      }
      await sleep(Math.max(100, 1000 - (Date.now() - t)));
    }
  })();
  return {
    samples,
    lastFleet: () => lastFleet,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** How the run ended: the fleet back at the minimum (when), the last fleet and queue. */
interface RunEnding {
  readonly returnedToMinAfterSeconds?: number;
  readonly finalFleet: ComputeObservation;
  readonly finalQueue?: BrokerSample;
  /** When the fleet was back at the minimum (or the wait gave up): the end of the cost window. */
  readonly fleetAtMinAt: number;
}

/** After the last task: waits for the fleet to return to the minimum and the broker to report the queue empty. */
async function awaitRunEnd(
  options: LocalRunOptions,
  backend: LocalFleet,
  sampler: BrokerSampler,
): Promise<RunEnding> {
  const doneAt = Date.now();
  let returnedToMinAfterSeconds: number | undefined;
  // The fleet returns to the minimum once every worker has been idle for the grace, then drained.
  await waitFor(
    'the fleet to return to the minimum',
    async () => {
      const f = await backend.describe();
      return f.desired === options.minWorkers && f.units.length === options.minWorkers;
    },
    (options.awaitMinSeconds ?? options.idleGraceSeconds + 30 + 10 * options.maxWorkers) * 1000,
    POLL_MS,
  ).then(
    () => (returnedToMinAfterSeconds = (Date.now() - doneAt) / 1000),
    () => undefined,
  );
  const fleetAtMinAt = Date.now();
  const finalFleet = await backend.describe();
  let finalQueue: BrokerSample | undefined;
  // The management API's unacked figure lags by its statistics interval (5 s by default): wait for it to settle.
  await waitFor(
    'the broker to report the queue empty',
    async () => {
      finalQueue = await sampler.sample();
      return finalQueue !== undefined && finalQueue.ready + finalQueue.unacked === 0;
    },
    15_000,
    POLL_MS,
  ).catch(() => undefined);
  return { returnedToMinAfterSeconds, finalFleet, finalQueue, fleetAtMinAt };
}

/** Keeps the workers' own logs next to the bridge's, for a look after the run. */
function keepWorkerLogs(stateDir: string, outDir: string): void {
  const logsDir = join(outDir, 'worker-logs');
  mkdirSync(logsDir, { recursive: true });
  for (const file of readdirSync(stateDir).filter((f) => f.endsWith('.log'))) {
    copyFileSync(join(stateDir, file), join(logsDir, file));
  }
}

/** Workers running a task now, from the journal: started and not yet ended (or interrupted). */
function busyWorkers(journal: ReturnType<typeof readJournal>): Set<string> {
  const open = new Map<string, string>();
  for (const e of journal) {
    const key = `${e.worker}/${e.task_id}`;
    if (e.event === 'start') open.set(key, e.worker);
    else if (e.event === 'end') open.delete(key);
  }
  return new Set(open.values());
}

function inProgress(journal: ReturnType<typeof readJournal>): number {
  let n = 0;
  for (const e of journal) n += e.event === 'start' ? 1 : e.event === 'end' ? -1 : 0;
  return Math.max(0, n);
}

function workerSecondsSoFar(lifecycle: readonly LifecycleEvent[], now: number): number {
  const spans = new Map<string, [number, number?]>();
  for (const e of lifecycle) {
    if (e.event === 'spawn') spans.set(e.unitId, [e.t]);
    else if (e.event === 'exit' && spans.get(e.unitId)?.[1] === undefined) spans.get(e.unitId)?.push(e.t);
  }
  let ms = 0;
  for (const [from, to] of spans.values()) ms += (to ?? now) - from;
  return ms / 1000;
}
