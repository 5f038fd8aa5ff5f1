/**
 * The broker's trust boundaries (issue 13, findings 2 and 3), against a broker provisioned by the master's real
 * script (cdk/assets/master/provision-rabbitmq.sh) and a real celery 4.4.7 worker (the engine 3.11 release's)
 * that loads the worker image's celery 4 shim and logs in as the workers' own user:
 *
 * - the attack that ran a shell command on a worker through the bridge's user (declare an exchange shaped like a
 *   reply exchange, broadcast `add_consumer` for it, publish a pickled task there) is refused at the broker and
 *   refused by the worker;
 * - the worker runs tasks, answers its own health check, and cannot publish a task.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type ConfirmChannel, connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { type ProvisionedBroker, provisionBroker } from '../support/provisioned-broker.ts';
import { isMissing, PYTHON, REPO_ROOT } from '../support/services.ts';
import {
  ensureCelery44,
  findCelery44Python,
  startWorker,
  submitTasks,
  type StartedWorker,
} from '../../local/celery-workers.ts';
import { waitFor } from '../../local/timeouts.ts';

const SHIM_DIR = join(REPO_ROOT, 'worker-image/celery4-shim');
const HEALTHCHECK = join(REPO_ROOT, 'worker-image/entrypoint/oq_worker_healthcheck.py');
const AMQP_PORT = Number(process.env.OQE_AMQP_PORT ?? 5672);
const celery44Python = findCelery44Python();
const needs = isMissing('rabbitmq')
  ? 'RabbitMQ'
  : celery44Python
    ? undefined
    : 'a python3.8/3.9 for celery 4.4.7';

/** The pickled body of a "task" whose unpickling runs `touch <marker>`: what the attacker published. */
function maliciousTaskBody(marker: string): Buffer {
  const code = [
    'import os, pickle, sys',
    'class Payload:',
    '    def __reduce__(self):',
    '        return (os.system, ("touch " + sys.argv[1],))',
    'sys.stdout.buffer.write(pickle.dumps(Payload(), protocol=2))',
  ].join('\n');
  const run = spawnSync(PYTHON, ['-c', code, marker]);
  if (run.status !== 0) throw new Error(`could not build the payload: ${String(run.stderr)}`);
  return run.stdout;
}

/** Celery's message protocol 2 headers for the engine's task name. */
function taskHeaders(): Record<string, unknown> {
  const id = randomUUID();
  return {
    lang: 'py',
    task: 'openquake.baselib.parallel.safely_call',
    id,
    root_id: id,
    parent_id: null,
    group: null,
    argsrepr: '()',
    kwargsrepr: '{}',
    origin: 'attacker',
    retries: 0,
    eta: null,
    expires: null,
    timelimit: [null, null],
  };
}

/** Opens a channel as `url`, runs `step`, and returns the broker's channel error (or 'ok'). */
async function brokerVerdict(
  url: string,
  step: (channel: ConfirmChannel) => Promise<unknown>,
): Promise<string> {
  const connection = await connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    const closed = new Promise<string>((resolve) => channel.once('error', (e: Error) => resolve(e.message)));
    const done = step(channel).then(
      () => 'ok',
      async (e: Error) =>
        (await Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))])) ??
        e.message,
    );
    return await Promise.race([done, closed]);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

describe.skipIf(needs !== undefined)(
  `broker trust boundaries with a real celery 4.4.7 worker${needs ? ` (skipped: no ${needs})` : ''}`,
  () => {
    let broker: ProvisionedBroker;
    let worker: StartedWorker;
    let session: BrokerSession;
    let control: CeleryRemoteControl;
    const dir = mkdtempSync(join(tmpdir(), 'oqe-trust-'));
    const journal = join(dir, 'journal.jsonl');
    const hostname = `oq@trust-${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      broker = await provisionBroker('tb');
      worker = await startWorker(
        {
          amqpUrl: broker.worker.amqpUrl,
          hostname,
          concurrency: 1,
          journal,
          celeryBin: ensureCelery44(celery44Python!),
          pythonPath: [SHIM_DIR],
          env: { OQ_CELERY_QUEUE: 'celery' },
        },
        60_000,
      );
      session = new BrokerSession({
        host: '127.0.0.1',
        port: AMQP_PORT,
        vhost: broker.vhost,
        username: broker.bridge.name,
        password: broker.bridge.password,
      });
      control = new CeleryRemoteControl(session, { serializer: 'json', timeoutMs: 3000 });
    }, 240_000);

    afterAll(async () => {
      worker?.kill();
      await control?.close();
      await session?.close();
      await broker?.cleanup();
    });

    describe('finding 2: the bridge user cannot make a worker run its code', () => {
      it('refuses at the broker: the bridge cannot declare the exchange evil.reply.celery.pidbox', async () => {
        const verdict = await brokerVerdict(broker.bridge.amqpUrl, (channel) =>
          channel.assertExchange('evil.reply.celery.pidbox', 'direct', { durable: false }),
        );
        expect(verdict).toMatch(/ACCESS_REFUSED/);
      });

      it('refuses at the worker: add_consumer for an exchange of the bridge, and the task sent there never runs', async () => {
        // The one exchange shape the bridge may still declare: one of its own reply-queue names.
        const evil = 'oq-bridge-evil.reply.celery.pidbox';
        const marker = join(dir, 'pwned');
        const connection = await connect(broker.bridge.amqpUrl);
        try {
          const channel = await connection.createConfirmChannel();
          await channel.assertExchange(evil, 'direct', { durable: false, autoDelete: false });
          const replies = await control.broadcast(
            'add_consumer',
            { queue: evil, exchange: evil, exchange_type: 'direct', routing_key: 'evil' },
            { destination: [hostname] },
          );
          expect(replies.replies.get(hostname)).toMatchObject({ error: expect.stringMatching(/^refused/) });
          channel.publish(evil, 'evil', maliciousTaskBody(marker), {
            contentType: 'application/x-python-serialize',
            contentEncoding: 'binary',
            headers: taskHeaders(),
          });
          await channel.waitForConfirms();
        } finally {
          await connection.close().catch(() => undefined);
        }
        await new Promise((r) => setTimeout(r, 3000));
        expect(existsSync(marker)).toBe(false);
        expect(worker.log()).toMatch(/refused remote control add_consumer/);
        const queues = await control.broadcast('active_queues', {}, { destination: [hostname] });
        expect((queues.replies.get(hostname) as Array<{ name: string }>).map((q) => q.name)).toEqual([
          'celery',
        ]);
      });

      it('refuses at the broker too: the workers user may not declare or consume a queue of that name', async () => {
        const verdict = await brokerVerdict(broker.worker.amqpUrl, (channel) =>
          channel.assertQueue('oq-bridge-evil.reply.celery.pidbox', { durable: false }),
        );
        expect(verdict).toMatch(/ACCESS_REFUSED/);
      });

      it('refuses pool_restart, autoscale, pool_grow and pool_shrink', async () => {
        for (const method of ['pool_restart', 'autoscale', 'pool_grow', 'pool_shrink']) {
          const replies = await control.broadcast(method, {}, { destination: [hostname] });
          expect(replies.replies.get(hostname), method).toEqual({
            error: `refused: ${method} is not allowed on this worker`,
          });
        }
        const stats = await control.stats({ expect: [hostname] });
        expect(stats.replies.get(hostname)?.poolSize).toBe(1);
      });

      it("still follows the bridge's drain protocol: cancel_consumer, then add_consumer('celery') by name", async () => {
        const consumesCelery = async (): Promise<boolean | undefined> => {
          const q = await control.broadcast('active_queues', {}, { destination: [hostname] });
          const replies = q.replies.get(hostname) as Array<{ name: string }> | undefined;
          return replies === undefined ? undefined : replies.some((x) => x.name === 'celery');
        };
        const cancel = await control.cancelConsumer('celery', [hostname]);
        expect(cancel.replies.get(hostname)).toMatchObject({ ok: expect.any(String) });
        // celery answers cancel_consumer before it acts on it: an add_consumer sent at once can be undone by the
        // cancel that is still pending, as the bridge's drain knows (it looks again before going on).
        await waitFor('the worker to stop consuming from celery', async () =>
          (await consumesCelery()) === false ? true : undefined,
        );
        const add = await control.addConsumer('celery', [hostname]);
        expect(add.replies.get(hostname)).toMatchObject({ ok: expect.any(String) });
        await waitFor('the worker to consume from celery again', async () =>
          (await consumesCelery()) === true ? true : undefined,
        );
      });
    });

    describe('finding 3: the workers have a broker user of their own', () => {
      it(
        'runs engine-like tasks submitted by the engine user, and acks them',
        { timeout: 90_000 },
        async () => {
          submitTasks(broker.engine.amqpUrl, 7, [0.2, 0.2]);
          // A loaded machine can take a while; on a timeout the worker's log says why.
          await waitFor(
            'two tasks to end',
            async () => {
              const ends = existsSync(journal)
                ? readFileSync(journal, 'utf8')
                    .split('\n')
                    .filter((l) => l.includes('"end"'))
                : [];
              return ends.length >= 2 ? ends : undefined;
            },
            60_000,
          ).catch((error: Error) => {
            throw new Error(`${error.message}; worker log:\n${worker.log().slice(-4000)}`);
          });
          const queue = await brokerVerdict(broker.engine.amqpUrl, async (channel) => {
            const q = await channel.checkQueue('celery');
            if (q.messageCount !== 0) throw new Error(`${q.messageCount} messages left`);
          });
          expect(queue).toBe('ok');
        },
      );

      it('answers its own health check (the image healthcheck, as the workers user)', () => {
        const state = join(dir, 'worker.json');
        writeFileSync(state, JSON.stringify({ hostname }));
        const python = join(dirname(ensureCelery44(celery44Python!)), 'python');
        const run = spawnSync(python, [HEALTHCHECK], {
          env: {
            ...process.env,
            OQ_WORKER_STATE_FILE: state,
            OQ_AMQP_USER: broker.worker.name,
            OQ_AMQP_PASSWORD: broker.worker.password,
            OQ_MASTER_HOST: '127.0.0.1',
            OQ_AMQP_PORT: String(AMQP_PORT),
            OQ_AMQP_VHOST: broker.vhost,
          },
          encoding: 'utf8',
          timeout: 30_000,
        });
        expect(run.stdout).toMatch(/^healthy/);
        expect(run.status).toBe(0);
      });

      it('cannot publish a task: the default exchange and the celery exchange refuse it', async () => {
        for (const exchange of ['', 'celery']) {
          const verdict = await brokerVerdict(broker.worker.amqpUrl, async (channel) => {
            channel.publish(exchange, 'celery', maliciousTaskBody(join(dir, 'never')), {
              contentType: 'application/x-python-serialize',
              contentEncoding: 'binary',
              headers: taskHeaders(),
            });
            await channel.waitForConfirms();
          });
          expect(verdict, `exchange '${exchange}'`).toMatch(/ACCESS_REFUSED/);
        }
        // Nor bind the task queue to an exchange it could publish to.
        const bind = await brokerVerdict(broker.worker.amqpUrl, (channel) =>
          channel.bindQueue('celery', 'celery.pidbox', ''),
        );
        expect(bind).toMatch(/ACCESS_REFUSED/);
      });
    });
  },
);
