/**
 * `npm run bench`: the benchmark on real parts (the local RabbitMQ, real celery workers, the moto server):
 * decision latency, the bridge's cost per cycle, and the broker load with idle workers. Writes
 * docs/bench-real.json and regenerates docs/benchmarks.md with it. Needs `scripts/services.sh start`.
 *
 *   npm run bench                 # everything (about 15 minutes)
 *   npm run bench -- --quick      # fewer trials and levels (about 1 minute)
 */
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import type { BenchRealResults, CalibrationResult, LatencyResult } from '../bench/real/bench-results.ts';
import { measureBrokerLoad } from '../bench/real/broker-load.ts';
import { calibrate } from '../bench/real/calibration.ts';
import { measureDecisionLatency } from '../bench/real/decision-latency.ts';
import { percentile } from '../bench/real/percentile.ts';
import { runSimulation, writeBenchmarkDocs } from '../bench/sim/run-simulation.ts';
import {
  AWS_ENDPOINT_URL,
  createTestVhost,
  MANAGEMENT_URL,
  RABBIT_ADMIN,
  REPO_ROOT,
} from '../test/support/services.ts';

const quick = process.argv.includes('--quick');
const docs = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs');
const log = (line: string): void => console.log(`[bench] ${line}`);

const vhost = await createTestVhost('oqe-bench');
const broker = {
  host: '127.0.0.1',
  vhost: vhost.vhost,
  username: RABBIT_ADMIN.user,
  password: RABBIT_ADMIN.password,
};
const notes: string[] = [];
try {
  const latency: LatencyResult[] = [];
  // [poll seconds, trials, remote-control collection ms (undefined: the observer's default)]
  const configs: [number, number, number | undefined][] = quick
    ? [[1, 5, undefined]]
    : [
        [1, 40, undefined],
        [1, 40, 200],
        [5, 20, undefined],
      ];
  for (const [pollSeconds, trials, workersMs] of configs) {
    log(`decision latency, poll ${pollSeconds} s, ${trials} trials, workersMs ${workersMs ?? 'default'}`);
    const r = await measureDecisionLatency({
      broker,
      managementUrl: MANAGEMENT_URL,
      awsEndpoint: AWS_ENDPOINT_URL,
      pollSeconds,
      trials,
      burst: 20,
      seed: 17,
      workersMs,
      log,
    });
    latency.push({
      pollSeconds,
      ...(workersMs !== undefined ? { workersMs } : {}),
      trials: r.samplesMs.length + r.failures.length,
      ...(r.failures.length > 0 ? { failedTrials: r.failures } : {}),
      burst: 20,
      p50Ms: percentile(r.samplesMs, 50),
      p99Ms: percentile(r.samplesMs, 99),
      maxMs: Math.max(...r.samplesMs),
      cycleMs: r.cycleMs.reduce((a, b) => a + b, 0) / Math.max(1, r.cycleMs.length),
      path: 'ControlLoop (CeleryObserver: passive declare, management API, remote-control broadcasts, EcsBackend.describe on moto) -> decide -> ScaleActor -> EcsBackend.scaleTo (UpdateService on moto)',
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
        broker: {
          host: '127.0.0.1',
          amqpPort: Number(process.env.OQE_AMQP_PORT ?? 5672),
          managementPort: Number(process.env.OQE_MGMT_PORT ?? 15672),
          adminUser: RABBIT_ADMIN.user,
          adminPassword: RABBIT_ADMIN.password,
        },
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
  const results: BenchRealResults = {
    calibration,
    measuredAt: new Date().toISOString(),
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, RabbitMQ 3.10 and moto on loopback`,
    latency,
    cycle: load.cycle,
    brokerLoad: load.points,
    notes,
  };
  writeFileSync(join(docs, 'bench-real.json'), JSON.stringify(results, null, 2) + '\n');
  log(`wrote ${join(docs, 'bench-real.json')}`);
} finally {
  await vhost.cleanup();
}
for (const path of await writeBenchmarkDocs(runSimulation(), docs)) log(`wrote ${path}`);
