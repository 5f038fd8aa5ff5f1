/**
 * `npm run bench`: the benchmark on real parts (the local RabbitMQ, real celery workers, the moto server):
 * decision latency, the bridge's cost per cycle, and the broker load with idle workers. Writes
 * docs/bench-real.json and regenerates docs/benchmarks.md with it. Needs `scripts/services.sh start`.
 *
 *   npm run bench                 # everything (about 6 minutes)
 *   npm run bench -- --quick      # fewer trials and levels (about 1 minute)
 */
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync } from 'node:fs';
import type { BenchRealResults, LatencyResult } from '../bench/real/bench-results.ts';
import { measureBrokerLoad } from '../bench/real/broker-load.ts';
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
  for (const [pollSeconds, trials] of quick
    ? [[1, 5]]
    : [
        [5, 20],
        [1, 40],
      ]) {
    log(`decision latency, poll ${pollSeconds} s, ${trials} trials`);
    const r = await measureDecisionLatency({
      broker,
      managementUrl: MANAGEMENT_URL,
      awsEndpoint: AWS_ENDPOINT_URL,
      pollSeconds: pollSeconds!,
      trials: trials!,
      burst: 20,
      seed: 17,
      log,
    });
    latency.push({
      pollSeconds: pollSeconds!,
      trials: r.samplesMs.length,
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
  const results: BenchRealResults = {
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
