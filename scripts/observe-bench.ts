#!/usr/bin/env -S npx tsx
/**
 * How fast each queue source sees a burst: publishes 50 messages to a fresh `celery` queue on the local
 * RabbitMQ and polls, every 50 ms, an AMQP passive declare and the management API until each reports them;
 * then a consumer takes all 50 without acking and the same is timed for `unacked`, with the celery
 * remote-control round trip for comparison. Writes the figures into docs/observe.md between the bench markers.
 *
 *   npx tsx scripts/observe-bench.ts [--trials N] [--no-write]
 *
 * Needs the local services (bash scripts/services.sh start). Uses a vhost of its own and deletes it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'amqplib';
import * as prettier from 'prettier';
import { BrokerSession } from '../bridge/src/observe/broker-session.ts';
import { ManagementApi } from '../bridge/src/observe/management-api.ts';
import { QueueProbe } from '../bridge/src/observe/queue-probe.ts';
import { CeleryRemoteControl } from '../bridge/src/observe/celery-remote-control.ts';
import { MANAGEMENT_URL, REPO_ROOT, createTestVhost, managementApi } from '../local/services.ts';
import { startWorker } from '../local/celery-workers.ts';

const BURST = 50;
const POLL_MS = 50;
const CAP_MS = 30_000;
const args = process.argv.slice(2);
const trials = Number(args[args.indexOf('--trials') + 1] ?? 3) || 3;
const write = !args.includes('--no-write');

/** Milliseconds from `start` until `check` is true, polling every POLL_MS; Infinity past the cap. */
async function timeUntil(start: number, check: () => Promise<boolean>): Promise<number> {
  for (;;) {
    if (await check().catch(() => false)) return Date.now() - start;
    if (Date.now() - start > CAP_MS) return Infinity;
    await sleep(POLL_MS);
  }
}

async function rabbitVersion(): Promise<string> {
  const overview = (await (await managementApi('GET', '/api/overview')).json()) as Record<string, unknown>;
  return String(overview.rabbitmq_version ?? '?');
}

async function main(): Promise<void> {
  const vhost = await createTestVhost('oqe-observe-bench');
  const { endpoint } = vhost;
  const session = new BrokerSession(endpoint);
  const management = new ManagementApi({ url: MANAGEMENT_URL, ...endpoint });
  const probe = new QueueProbe(session, 'celery', management);
  const admin = await connect(vhost.amqpUrl);
  const rows: string[] = [];
  const readyPassive: number[] = [];
  const readyMgmt: number[] = [];
  const unackedMgmt: number[] = [];
  const passiveZero: number[] = [];
  try {
    const channel = await admin.createChannel();
    await channel.assertQueue('celery', { durable: true });
    for (let trial = 1; trial <= trials; trial++) {
      await channel.purgeQueue('celery');
      // Let the management API settle on an empty queue first, so the trial measures a real change.
      await timeUntil(Date.now(), async () => (await probe.fromManagement()).ready === 0);
      const start = Date.now();
      for (let i = 0; i < BURST; i++) channel.sendToQueue('celery', Buffer.from(`burst ${i}`));
      const [p, m] = await Promise.all([
        timeUntil(start, async () => (await probe.passive()).ready >= BURST),
        timeUntil(start, async () => (await probe.fromManagement()).ready >= BURST),
      ]);
      readyPassive.push(p);
      readyMgmt.push(m);

      // Take all 50 without acking: ready drops at once on the passive declare; unacked lags on the API.
      const consumer = await admin.createChannel();
      await consumer.prefetch(BURST);
      const held: unknown[] = [];
      const takeStart = Date.now();
      await consumer.consume('celery', (msg) => msg && held.push(msg), { noAck: false });
      const [z, u] = await Promise.all([
        timeUntil(takeStart, async () => (await probe.passive()).ready === 0),
        timeUntil(takeStart, async () => (await probe.fromManagement()).unacked >= BURST),
      ]);
      passiveZero.push(z);
      unackedMgmt.push(u);
      await consumer.close(); // requeues the 50 unacked messages
    }

    // The remote-control round trip a cycle pays for live in-flight figures (one idle worker).
    const worker = await startWorker({ amqpUrl: vhost.amqpUrl, hostname: 'oq@bench', concurrency: 2 });
    const rtts: number[] = [];
    try {
      await channel.purgeQueue('celery');
      const control = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 2000 });
      for (let i = 0; i < 10; i++) {
        const start = Date.now();
        await Promise.all([
          control.active({ expect: [worker.hostname] }),
          control.reserved({ expect: [worker.hostname] }),
        ]);
        rtts.push(Date.now() - start);
      }
      await control.close();
    } finally {
      worker.kill();
    }

    const fmt = (values: number[]) => {
      const sorted = [...values].sort((x, y) => x - y);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      return `${median} ms (max ${sorted[sorted.length - 1]} ms)`;
    };
    const version = await rabbitVersion();
    rows.push(
      `Measured ${new Date().toISOString().slice(0, 16)}Z on the local RabbitMQ ${version}, default ` +
        `\`collect_statistics_interval\` (5000 ms), ${trials} trials of a ${BURST}-message burst, polling every ` +
        `${POLL_MS} ms (median, and worst).`,
      '',
      '| what | source | time to see it |',
      '|---|---|---|',
      `| ${BURST} new messages ready | AMQP passive declare | ${fmt(readyPassive)} |`,
      `| ${BURST} new messages ready | management API | ${fmt(readyMgmt)} |`,
      `| ${BURST} messages taken unacked: ready back to 0 | AMQP passive declare | ${fmt(passiveZero)} |`,
      `| ${BURST} messages taken unacked: unacked = ${BURST} | management API | ${fmt(unackedMgmt)} |`,
      `| tasks in flight per worker | remote control \`active\` + \`reserved\` (1 worker, both at once) | ${fmt(rtts)} |`,
      '',
      'Regenerate with `npx tsx scripts/observe-bench.ts`.',
    );
    const text = rows.join('\n');
    console.log(text);
    if (write) {
      const path = `${REPO_ROOT}docs/observe.md`;
      const doc = readFileSync(path, 'utf8');
      const begin = '<!-- observe-bench:begin -->';
      const end = '<!-- observe-bench:end -->';
      const i = doc.indexOf(begin);
      const j = doc.indexOf(end);
      if (i < 0 || j < i) throw new Error(`${path} lacks the ${begin} ... ${end} markers`);
      const next = `${doc.slice(0, i + begin.length)}\n${text}\n${doc.slice(j)}`;
      // Formatted as `npm run lint` expects, so that regenerating never breaks the prettier check.
      const options = (await prettier.resolveConfig(path)) ?? {};
      writeFileSync(path, await prettier.format(next, { ...options, filepath: path }));
      console.log(`written to ${path}`);
    }
  } finally {
    await probe.close();
    await session.close();
    await admin.close();
    await vhost.cleanup();
  }
}

await main();
