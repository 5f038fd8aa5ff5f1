/**
 * `npm run bench`: the benchmark on real parts (the local RabbitMQ, real celery workers, the moto server):
 * decision latency, the bridge's cost per cycle, and the broker load with idle workers. Writes
 * docs/bench-real.json and regenerates docs/benchmarks.md with it. Needs `scripts/services.sh start`.
 *
 *   npm run bench                 # everything (about 15 minutes, plus the scale benchmark)
 *   npm run bench -- --quick      # fewer trials and levels (about 1 minute)
 *   npm run bench -- --scale-only --scale=100,300   # only the scale benchmark, at these fleet sizes
 *   npm run bench -- --scale-only --scale-baseline  # store the figures as the "before" run
 *
 * The scale benchmark (bench/real/scale-bench.ts) runs the real bridge against an emulated fleet of N workers
 * and writes docs/bench-scale.json, docs/bench-scale.md and docs/bench-scale.svg.
 */
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import type { BenchRealResults, CalibrationResult, LatencyResult } from '../bench/real/bench-results.ts';
import { measureBrokerLoad } from '../bench/real/broker-load.ts';
import { calibrate } from '../bench/real/calibration.ts';
import { calibrateOnEngine } from '../bench/real/engine-calibration.ts';
import { measureDecisionLatency } from '../bench/real/decision-latency.ts';
import { percentile } from '../common/percentile.ts';
import { measureAtScale, type ScalePoint } from '../bench/real/scale-bench.ts';
import { readScaleResults, writeScaleDocs, type ScaleResults } from '../bench/real/scale-report.ts';
import { runSimulation, writeBenchmarkDocs } from '../bench/sim/run-simulation.ts';
import {
  AWS_ENDPOINT_URL,
  createTestVhost,
  LOCAL_BROKER,
  MANAGEMENT_URL,
  PYTHON,
  REPO_ROOT,
} from '../local/services.ts';

const quick = process.argv.includes('--quick');
const scaleOnly = process.argv.includes('--scale-only');
const engineCalibrationOnly = process.argv.includes('--engine-calibration-only');
const scaleList = (
  process.argv.find((a) => a.startsWith('--scale='))?.slice('--scale='.length) ?? '100,300,1000,3000'
)
  .split(',')
  .map(Number);
if (scaleList.some((n) => !Number.isInteger(n) || n < 1)) {
  throw new Error(`--scale=${scaleList.join(',')}: give whole worker counts >= 1, e.g. --scale=100,300,1000`);
}
const docs = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs');
const log = (line: string): void => console.log(`[bench] ${line}`);

const vhost = await createTestVhost('oqe-bench');
const broker = vhost.endpoint;
const notes: string[] = [];
if (scaleOnly) {
  await runScale();
  await vhost.cleanup();
  process.exit(0);
}
if (engineCalibrationOnly) {
  // Re-measures only the real-engine calibration and keeps the rest of docs/bench-real.json as it was.
  await vhost.cleanup();
  const jsonPath = join(docs, 'bench-real.json');
  const before = JSON.parse(readFileSync(jsonPath, 'utf8')) as BenchRealResults;
  const engineCalibration = await runEngineCalibration();
  await writeBenchJson(jsonPath, { ...before, engineCalibration });
  for (const path of await writeBenchmarkDocs(runSimulation(), docs)) log(`wrote ${path}`);
  process.exit(engineCalibration ? 0 : 1);
}
try {
  const latency: LatencyResult[] = [];
  // [poll seconds, trials, activation path ms (0: off), remote-control collection ms (undefined: default)]
  const configs: [number, number, number, number | undefined][] = quick
    ? [
        [5, 10, 500, undefined],
        [1, 5, 500, undefined],
      ]
    : [
        [5, 40, 500, undefined],
        [1, 40, 500, undefined],
        [5, 20, 0, undefined],
      ];
  for (const [pollSeconds, trials, activationMs, workersMs] of configs) {
    log(
      `decision latency, poll ${pollSeconds} s, ${trials} trials, activation ${activationMs} ms, workersMs ${workersMs ?? 'default'}`,
    );
    const r = await measureDecisionLatency({
      broker,
      managementUrl: MANAGEMENT_URL,
      awsEndpoint: AWS_ENDPOINT_URL,
      pollSeconds,
      trials,
      burst: 20,
      seed: 17,
      workersMs,
      activationMs,
      log,
    });
    latency.push({
      pollSeconds,
      activationMs,
      ...(workersMs !== undefined ? { workersMs } : {}),
      trials: r.samplesMs.length + r.failures.length,
      ...(r.failures.length > 0 ? { failedTrials: r.failures } : {}),
      burst: 20,
      p50Ms: percentile(r.samplesMs, 50),
      p99Ms: percentile(r.samplesMs, 99),
      maxMs: Math.max(...r.samplesMs),
      cycleMs: r.cycleMs.reduce((a, b) => a + b, 0) / Math.max(1, r.cycleMs.length),
      path: `ControlLoop (${activationMs > 0 ? `activation path: passive declare every ${activationMs} ms between cycles; ` : ''}CeleryObserver: passive declare, management API, remote-control broadcasts, EcsBackend.describe on moto) -> decide -> ScaleActor -> EcsBackend.scaleTo (UpdateService on moto)`,
    });
  }
  log('broker load with idle workers');
  const load = await measureBrokerLoad({
    broker,
    workerBrokerUrl: vhost.amqpUrl,
    managementUrl: MANAGEMENT_URL,
    repoRoot: REPO_ROOT,
    levels: quick ? [5] : [10, 20, 40, 100],
    windowSeconds: quick ? 4 : 10,
    repetitions: quick ? 1 : 3,
    log,
  });
  notes.push(
    'Broker load: workers run `-P solo` with gossip, mingle and heartbeats off (see bench/real/broker-load.ts); the bridge polled once a second, 5 times its default rate, so per-cycle broker cost is (polling - baseline) ms/s at one cycle per second. The broker is shared with other test runs on this machine: the alternating windows cancel most, not all, of their noise.',
  );
  let calibration: CalibrationResult | undefined;
  if (!quick) {
    try {
      log('calibration against the demo loop (process backend)');
      calibration = await calibrate({
        broker: LOCAL_BROKER,
        tasks: 160,
        meanTaskSeconds: 3,
        maxWorkers: 4,
        slotsPerWorker: 2,
        idleGraceSeconds: 10,
        pollSeconds: 1,
        log,
      });
    } catch (error) {
      notes.push(`Calibration not run: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  const engineCalibration = quick ? undefined : await runEngineCalibration();
  if (!quick && !engineCalibration)
    notes.push('Calibration on a real engine calculation not run (see the log).');
  const previous = previousRun(join(docs, 'bench-real.json'));
  if (previous) notes.push(previous);
  const results: BenchRealResults = {
    calibration,
    engineCalibration,
    measuredAt: new Date().toISOString(),
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, RabbitMQ 3.10 and moto on loopback`,
    latency,
    cycle: load.cycle,
    brokerLoad: load.points,
    brokerCycleCommands:
      'in steady state a cycle sends two remote-control broadcasts, `active` and `reserved`, that every worker answers; `stats` goes once to each new worker and `active_queues` only while some worker is not consuming (docs/observe.md). Commands of the measured steady-state cycle: ' +
      `${load.points[load.points.length - 1]?.commands?.join(', ') ?? 'not recorded'}.`,
    notes,
  };
  await writeBenchJson(join(docs, 'bench-real.json'), results);
} finally {
  await vhost.cleanup();
}
for (const path of await writeBenchmarkDocs(runSimulation(), docs)) log(`wrote ${path}`);
await runScale();

/** The scale benchmark at each N of --scale, in a vhost of its own; writes docs/bench-scale.*. */
async function runScale(): Promise<void> {
  const scaleVhost = await createTestVhost('oqe-bench-scale');
  const points: ScalePoint[] = [];
  const scaleNotes: string[] = [];
  try {
    for (const workers of scaleList) {
      log(`scale: ${workers} workers`);
      const point = await measureAtScale({
        broker: scaleVhost.endpoint,
        amqpUrl: scaleVhost.amqpUrl,
        managementUrl: MANAGEMENT_URL,
        awsEndpoint: AWS_ENDPOINT_URL,
        python: PYTHON,
        workers,
        windows: quick ? 1 : 3,
        windowSeconds: 20,
        bursts: quick ? 4 : 10,
        log,
      });
      points.push(point);
      scaleNotes.push(...point.notes.map((n) => `${workers} workers: ${n}`));
    }
  } finally {
    await scaleVhost.cleanup();
  }
  // A run at some N replaces the figures of those N only, so that a quick run at small N keeps the rest.
  const previous = readScaleResults(join(docs, 'bench-scale.json'));
  const merge = (old: readonly ScalePoint[] | undefined): ScalePoint[] =>
    [...(old ?? []).filter((p) => !scaleList.includes(p.workers)), ...points].sort(
      (a, b) => a.workers - b.workers,
    );
  const measuredAt = new Date().toISOString();
  const asBaseline = process.argv.includes('--scale-baseline');
  const results: ScaleResults = {
    measuredAt: asBaseline ? (previous?.measuredAt ?? measuredAt) : measuredAt,
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, RabbitMQ 3.10 and moto on loopback`,
    points: asBaseline ? (previous?.points ?? []) : merge(previous?.points),
    ...(asBaseline
      ? { baseline: { measuredAt, points: merge(previous?.baseline?.points) } }
      : previous?.baseline
        ? { baseline: previous.baseline }
        : {}),
    notes: asBaseline ? (previous?.notes ?? []) : scaleNotes,
    ...(asBaseline ? { baselineNotes: [...(previous?.baselineNotes ?? []), ...scaleNotes] } : {}),
  };
  for (const path of await writeScaleDocs(results, docs)) log(`wrote ${path}`);
}

/**
 * The figures of the run this one replaces, for the before/after comparison in the doc; undefined when there
 * was none. The file is read before it is overwritten.
 */
/** Writes the results formatted as the repository's prettier check wants them, so a fresh run passes lint. */
async function writeBenchJson(jsonPath: string, results: BenchRealResults): Promise<void> {
  const prettierOptions = (await resolveConfig(jsonPath)) ?? {};
  writeFileSync(jsonPath, await format(JSON.stringify(results), { ...prettierOptions, parser: 'json' }));
  log(`wrote ${jsonPath}`);
}

/** The demo's real engine run against the simulator; undefined (and the reason logged) when it cannot run. */
async function runEngineCalibration(): Promise<CalibrationResult | undefined> {
  try {
    log('calibration against a real engine calculation (the demo: case_13, process backend)');
    return await calibrateOnEngine({
      broker: LOCAL_BROKER,
      maxWorkers: 4,
      slotsPerWorker: 2,
      idleGraceSeconds: 10,
      log,
    });
  } catch (error) {
    log(`engine calibration not run: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

function previousRun(path: string): string | undefined {
  let before: BenchRealResults;
  try {
    before = JSON.parse(readFileSync(path, 'utf8')) as BenchRealResults;
  } catch {
    return undefined;
  }
  const latency = (before.latency ?? [])
    .filter((l) => l.workersMs === undefined)
    .map(
      (l) =>
        `poll ${l.pollSeconds} s${l.activationMs ? `, activation ${l.activationMs} ms` : l.activationMs === 0 ? ', activation off' : ''}: p50 ${l.p50Ms.toFixed(0)} ms, p99 ${l.p99Ms.toFixed(0)} ms`,
    );
  const load = (before.brokerLoad ?? []).map(
    (b) => `${b.workers} workers +${(b.brokerCpuMsPerSecond - b.baselineCpuMsPerSecond).toFixed(1)} ms/s`,
  );
  return `The previous run (${before.measuredAt}), for comparison: decision latency ${latency.join('; ') || 'not measured'}; broker CPU added by the bridge at one cycle a second ${load.join(', ') || 'not measured'}.`;
}
