#!/usr/bin/env -S npx tsx
/**
 * `npm run demo [-- --short] [-- --backend podman] [-- --out DIR]`: the whole loop on one machine. A local
 * RabbitMQ stands in for the master's broker, the real bridge loop scales celery workers of the engine-like test
 * app, and a synthetic hazard-like calculation runs through them. Prints a live view, then a summary computed
 * from what the workers and the broker recorded, and writes an SVG chart.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runLocalCluster, type LocalRunOptions } from './cluster/local-cluster-run.ts';
import { formatSummary, summaryFailures } from './cluster/run-summary.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RABBIT_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';

function usage(problem: string): never {
  console.error(
    `demo: ${problem}\nusage: npm run demo -- [--short] [--backend process|podman] [--out DIR] [--no-live]`,
  );
  process.exit(2);
}

function parseArgs(argv: string[]): {
  short: boolean;
  backend: 'process' | 'podman';
  out: string;
  live: boolean;
} {
  const opts = {
    short: false,
    backend: 'process' as 'process' | 'podman',
    out: join(ROOT, '.cache/demo'),
    live: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--short') opts.short = true;
    else if (arg === '--no-live') opts.live = false;
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
  return opts;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(1000);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
    socket.once('error', () => resolve(false));
  });
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const amqpPort = Number(process.env.OQE_AMQP_PORT ?? 5672);
  const mgmtPort = Number(process.env.OQE_MGMT_PORT ?? 15672);
  if (!existsSync(join(ROOT, '.venv/bin/celery'))) {
    console.error('demo: Python celery is not installed in .venv. Install it with: bash scripts/setup.sh');
    process.exit(1);
  }
  let startedRabbit = false;
  if (!((await portOpen(amqpPort)) && (await portOpen(mgmtPort)))) {
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
  let image: string | undefined;
  if (opts.backend === 'podman') {
    // Idempotent: builds the worker image (debootstrap base, test app) only when its inputs changed.
    console.log('demo: making sure the worker image is built (scripts/build-worker-image.sh)');
    image = execFileSync('bash', [join(ROOT, 'scripts/build-worker-image.sh')], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop();
  }
  const run: LocalRunOptions = {
    backend: opts.backend,
    image,
    broker: {
      host: '127.0.0.1',
      amqpPort,
      managementPort: mgmtPort,
      adminUser: 'oqe-test-admin',
      adminPassword: process.env.OQE_TEST_ADMIN_PASSWORD ?? 'oqe-test-admin-loopback',
    },
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
  try {
    const result = await runLocalCluster(run);
    console.log(`\n${formatSummary(result, run)}`);
    const failures = summaryFailures(result, run);
    if (failures.length > 0) {
      console.error(`demo: FAILED: ${failures.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    if (startedRabbit)
      execFileSync('bash', [join(ROOT, 'scripts/services.sh'), 'stop', 'rabbitmq'], { stdio: 'inherit' });
  }
}

main().catch((error: unknown) => {
  console.error(`demo: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
