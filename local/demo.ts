#!/usr/bin/env -S npx tsx
/**
 * `npm run demo [-- --job QA_JOB] [-- --backend podman]`: the product's main job on one machine. A local RabbitMQ
 * and a local master (DbServer as openquake, the master's own openquake.cfg) stand in for the EC2 master, the real
 * bridge loop starts the product's engine workers from zero, and `oq engine --run` runs a real OpenQuake Engine
 * 3.11.5 calculation (the engine's classical QA job case_13 by default); the summary says whether its hazard
 * curves and maps equal a single-machine run of the same job.
 *
 * `--synthetic [--short] [--backend podman] [--out DIR] [--no-live]`: the synthetic hazard-like workload on the
 * engine-like test app instead, with a live view, a summary from the workers' journal and an SVG chart.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLocalCluster, type LocalRunOptions } from './cluster/local-cluster-run.ts';
import { formatSummary, summaryFailures } from './cluster/run-summary.ts';
import { DEFAULT_DEMO_JOB, runEngineDemo } from './engine/engine-demo.ts';
import { isPortOpen, LOCAL_BROKER } from './services.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RABBIT_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

function usage(problem: string): never {
  console.error(
    `demo: ${problem}\nusage: npm run demo -- [--job QA_JOB|job.ini] [--backend process|podman]\n` +
      '       npm run demo -- --synthetic [--short] [--backend process|podman] [--out DIR] [--no-live]',
  );
  process.exit(2);
}

function parseArgs(argv: string[]): {
  synthetic: boolean;
  job: string;
  short: boolean;
  backend: 'process' | 'podman';
  out: string;
  live: boolean;
} {
  const opts = {
    synthetic: false,
    job: DEFAULT_DEMO_JOB,
    short: false,
    backend: 'process' as 'process' | 'podman',
    out: join(ROOT, '.cache/demo'),
    live: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--short') opts.short = true;
    else if (arg === '--synthetic') opts.synthetic = true;
    else if (arg === '--job') {
      const value = argv[++i];
      if (!value) usage(`--job needs a QA job of the engine wheel (e.g. ${DEFAULT_DEMO_JOB}) or a job.ini`);
      opts.job = value;
    } else if (arg === '--no-live') opts.live = false;
    else if (arg === '--backend') {
      const value = argv[++i];
      if (value !== 'process' && value !== 'podman') usage(`--backend is '${value}'; use process or podman`);
      opts.backend = value;
    } else if (arg === '--out') {
      const value = argv[++i];
      if (!value) usage('--out needs a directory');
      opts.out = value;
    } else usage(`unknown argument '${arg}'`);
  }
  if (opts.short && !opts.synthetic) usage('--short is for the synthetic workload: add --synthetic');
  if (opts.job !== DEFAULT_DEMO_JOB && opts.synthetic)
    usage('--job runs a real calculation: drop --synthetic');
  return opts;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.synthetic && !existsSync(join(ROOT, '.venv/bin/celery'))) {
    console.error('demo: Python celery is not installed in .venv. Install it with: bash scripts/setup.sh');
    process.exit(1);
  }
  let startedRabbit = false;
  if (!((await isPortOpen(LOCAL_BROKER.amqpPort)) && (await isPortOpen(LOCAL_BROKER.managementPort)))) {
    if (!existsSync(RABBIT_SERVER)) {
      console.error(
        'demo: RabbitMQ is not installed. Install it with:\n\n  sudo apt-get install -y rabbitmq-server\n\n' +
          '(or run: bash scripts/setup.sh), then run npm run demo again.',
      );
      process.exit(1);
    }
    console.log('demo: starting RabbitMQ on loopback (scripts/services.sh start)');
    execFileSync('bash', [join(ROOT, 'scripts/services.sh'), 'start'], { stdio: 'inherit' });
    startedRabbit = true;
  }
  try {
    if (opts.synthetic) await runSynthetic(opts, LOCAL_BROKER);
    else await runEngine(opts, LOCAL_BROKER);
  } finally {
    if (startedRabbit)
      execFileSync('bash', [join(ROOT, 'scripts/services.sh'), 'stop', 'rabbitmq'], { stdio: 'inherit' });
  }
}

/**
 * Runs scripts/build-worker-image.sh, which builds only when the image's inputs changed, and returns the image
 * (its last line). `name` is what the demo tells the user it is making sure of.
 */
function buildWorkerImage(name: string, ...args: string[]): string | undefined {
  console.log(
    `demo: making sure the ${name} is built (${['scripts/build-worker-image.sh', ...args].join(' ')})`,
  );
  const out = execFileSync('bash', [join(ROOT, 'scripts/build-worker-image.sh'), ...args], {
    encoding: 'utf8',
  });
  return out.trim().split('\n').pop();
}

/** The real calculation: the product's main job. */
async function runEngine(
  opts: ReturnType<typeof parseArgs>,
  broker: LocalRunOptions['broker'],
): Promise<void> {
  // The production Dockerfile with the pinned engine, on a base carrying the host's Python 3.8.
  const image =
    opts.backend === 'podman' ? buildWorkerImage('engine worker image', 'engine-local') : undefined;
  const started = Date.now();
  const { summary, failures } = await runEngineDemo({
    broker,
    job: opts.job,
    maxWorkers: 4,
    slotsPerWorker: 2,
    idleGraceSeconds: 10,
    backend: opts.backend,
    image,
    progress: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`),
  });
  console.log(`\n${summary}`);
  if (failures.length > 0) {
    console.error(`demo: FAILED: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

/** The synthetic hazard-like workload on the engine-like test app. */
async function runSynthetic(
  opts: ReturnType<typeof parseArgs>,
  broker: LocalRunOptions['broker'],
): Promise<void> {
  // The worker image of the test app, on a debootstrap base.
  const image = opts.backend === 'podman' ? buildWorkerImage('worker image') : undefined;
  const run: LocalRunOptions = {
    backend: opts.backend,
    image,
    broker,
    // About two minutes: 240 tasks x 3 s mean on 8 slots; --short: 60 tasks x 1.2 s, about 30 s.
    tasks: opts.short ? 60 : 240,
    meanTaskSeconds: opts.short ? 1.2 : 3,
    minWorkers: 0,
    maxWorkers: 4,
    slotsPerWorker: 2,
    idleGraceSeconds: opts.short ? 4 : 10,
    pollSeconds: 1,
    outDir: opts.out,
    view: opts.live && process.stdout.isTTY ? 'live' : 'lines',
    timeoutSeconds: opts.short ? 180 : 420,
  };
  const result = await runLocalCluster(run);
  console.log(`\n${formatSummary(result, run)}`);
  const failures = summaryFailures(result, run);
  if (failures.length > 0) {
    console.error(`demo: FAILED: ${failures.join('; ')}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
