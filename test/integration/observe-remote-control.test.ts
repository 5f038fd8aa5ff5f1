import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerConnectionError, BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { createTestVhost, describeWithRabbit, managementApi, type TestVhost } from '../support/services.ts';
import { startWorker, submitTasks, type StartedWorker } from '../../local/celery-workers.ts';
import { waitFor } from '../../local/timeouts.ts';

/**
 * The remote-control client against two real celery 5.5 workers of the engine-like test app (pickle-only
 * mailbox, as celery >= 5.1 derives it from task_serializer/accept_content).
 */
describeWithRabbit('CeleryRemoteControl with real celery workers (pickle mailbox)', () => {
  let vhost: TestVhost;
  let session: BrokerSession;
  let control: CeleryRemoteControl;
  let admin: ChannelModel;
  let a: StartedWorker;
  let b: StartedWorker;
  const journal = join(mkdtempSync(join(tmpdir(), 'oqe-observe-rc-')), 'journal.jsonl');

  const consumers = async (): Promise<number> => {
    const channel = await admin.createChannel();
    try {
      return (await channel.checkQueue('celery')).consumerCount;
    } finally {
      await channel.close();
    }
  };

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-observe-rc');
    [a, b] = await Promise.all([
      startWorker({ amqpUrl: vhost.amqpUrl, hostname: 'oq@unit-a', concurrency: 2, journal }),
      startWorker({ amqpUrl: vhost.amqpUrl, hostname: 'oq@unit-b', concurrency: 3, journal }),
    ]);
    session = new BrokerSession(vhost.endpoint);
    control = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 2000 });
    admin = await connect(vhost.amqpUrl);
  });

  afterAll(async () => {
    a?.kill();
    b?.kill();
    await control?.close();
    await session?.close();
    await admin?.close();
    await vhost?.cleanup();
  });

  it('pings both workers and returns as soon as every expected worker replied', async () => {
    // A long timeout, so that "did not wait for it" stands apart from a loaded machine by a wide margin.
    const started = Date.now();
    const result = await control.ping({ expect: [a.hostname, b.hostname], timeoutMs: 20_000 });
    const elapsed = Date.now() - started;
    expect([...result.replies.keys()].sort()).toEqual(['oq@unit-a', 'oq@unit-b']);
    expect(result.replies.get('oq@unit-a')).toEqual({ ok: 'pong' });
    expect(result.missing).toEqual([]);
    expect(elapsed).toBeLessThan(5000);
  });

  it('reads each worker pool size from stats', async () => {
    const result = await control.stats({ expect: [a.hostname, b.hostname] });
    expect(result.replies.get('oq@unit-a')?.poolSize).toBe(2);
    expect(result.replies.get('oq@unit-b')?.poolSize).toBe(3);
    expect(result.replies.get('oq@unit-a')?.pid).toBe(a.process.pid);
  });

  it('lists active tasks with their ids, start times and calculation id', async () => {
    const before = Date.now();
    const ids = submitTasks(vhost.amqpUrl, 4242, [4, 4, 4]);
    const seen = await waitFor('three active tasks', async () => {
      const result = await control.active({ expect: [a.hostname, b.hostname] });
      const tasks = [...result.replies.values()].flat();
      return tasks.length === 3 ? tasks : undefined;
    });
    expect(seen.map((t) => t.id).sort()).toEqual([...ids].sort());
    for (const task of seen) {
      expect(task.name).toBe('openquake.baselib.parallel.safely_call');
      expect(task.calculationId).toBe(4242);
      expect(task.startedAt).toBeGreaterThanOrEqual(before - 1000);
      expect(task.startedAt).toBeLessThanOrEqual(Date.now());
    }
    const reserved = await control.reserved({ expect: [a.hostname, b.hostname] });
    expect(reserved.replies.size).toBe(2);
    await waitFor('tasks to finish', async () => {
      const result = await control.active({ expect: [a.hostname, b.hostname] });
      return [...result.replies.values()].flat().length === 0 ? true : undefined;
    });
  });

  it('cancel_consumer stops a worker taking tasks and add_consumer restores it', async () => {
    expect(await consumers()).toBe(2);
    const cancelled = await control.cancelConsumer('celery', [a.hostname]);
    expect(cancelled.replies.get('oq@unit-a')?.ok).toMatch(/no longer consuming from celery/);
    expect(cancelled.replies.has('oq@unit-b')).toBe(false); // only the destination acts
    await waitFor('consumer count 1', async () => ((await consumers()) === 1 ? true : undefined));
    const queues = await control.activeQueues({ expect: [a.hostname, b.hostname] });
    expect(queues.replies.get('oq@unit-a')).toEqual([]);
    expect(queues.replies.get('oq@unit-b')).toEqual(['celery']);

    const ids = submitTasks(vhost.amqpUrl, 77, [0.2, 0.2, 0.2, 0.2]);
    const ended = await waitFor('four tasks ended', async () => {
      if (!existsSync(journal)) return undefined;
      const lines = readFileSync(journal, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const ends = lines.filter((l) => l.event === 'end' && ids.includes(l.task_id));
      return ends.length === 4 ? ends : undefined;
    });
    expect(new Set(ended.map((l) => l.worker))).toEqual(new Set(['oq@unit-b']));

    const added = await control.addConsumer('celery', [a.hostname]);
    expect(added.replies.get('oq@unit-a')?.ok).toMatch(/add consumer celery/);
    await waitFor('consumer count 2', async () => ((await consumers()) === 2 ? true : undefined));
  });

  it('refuses a consumer command without a destination', async () => {
    await expect(control.cancelConsumer('celery', [])).rejects.toThrow(/destination is empty/);
  });

  it('gets no reply from pickle-only workers when it speaks JSON (the format must match)', async () => {
    const json = new CeleryRemoteControl(session, { serializer: 'json', timeoutMs: 1000 });
    try {
      const result = await json.ping({ expect: [a.hostname] });
      expect(result.replies.size).toBe(0);
      expect(result.missing).toEqual(['oq@unit-a']);
    } finally {
      await json.close();
    }
  });

  it('names the missing worker and waits the whole timeout when a worker is killed', async () => {
    b.kill();
    const started = Date.now();
    const result = await control.ping({ expect: [a.hostname, b.hostname], timeoutMs: 1500 });
    const elapsed = Date.now() - started;
    expect([...result.replies.keys()]).toEqual(['oq@unit-a']);
    expect(result.missing).toEqual(['oq@unit-b']);
    // Correctness bounds, not speed figures: a collection that gave up early would end in milliseconds, one
    // that ignored its timeout would not end at all.
    expect(elapsed).toBeGreaterThanOrEqual(1400);
    expect(elapsed).toBeLessThan(3000);
  });

  it('fails a broadcast in progress when the broker closes the connection, rather than report no replies', async () => {
    const listConnections = async (): Promise<string[]> =>
      (
        (await (
          await managementApi('GET', `/api/vhosts/${encodeURIComponent(vhost.vhost)}/connections`)
        ).json()) as { name: string }[]
      ).map((c) => c.name);
    const existing = new Set(await listConnections());
    const own = new BrokerSession(vhost.endpoint);
    const client = new CeleryRemoteControl(own, { serializer: 'pickle' });
    await client.ping({ expect: [a.hostname] }); // connected, reply queue ready
    // The management API lists a new connection after its next statistics emission.
    const ours = await waitFor('the new connection to be listed', async () => {
      const fresh = (await listConnections()).filter((name) => !existing.has(name));
      return fresh.length === 1 ? fresh[0] : undefined;
    });
    // A broadcast that would collect for 10 s (an unknown worker is expected); the broker then closes the
    // client's connection.
    const started = Date.now();
    const pending = client.ping({ expect: ['oq@nobody'], timeoutMs: 10_000 });
    // The expectation is attached before the close, so the rejection is handled when it happens.
    const rejected = expect(pending).rejects.toThrow(
      /connection to RabbitMQ closed while collecting replies/,
    );
    await managementApi('DELETE', `/api/connections/${encodeURIComponent(ours)}`);
    await rejected;
    // Failed with the close, not at the end of the 10 s collection (which would also resolve, not reject).
    expect(Date.now() - started).toBeLessThan(3000);
    // The next broadcast reconnects by itself.
    expect((await client.ping({ expect: [a.hostname] })).replies.has(a.hostname)).toBe(true);
    await client.close();
    await own.close();
  });

  it('reports a refused login clearly and without the password', async () => {
    const password = 'not-the-password-Zq9';
    const bad = new BrokerSession({ ...vhost.endpoint, username: 'oq-bridge-nobody', password });
    const client = new CeleryRemoteControl(bad, { serializer: 'pickle' });
    const error = await client.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BrokerConnectionError);
    expect((error as BrokerConnectionError).kind).toBe('login');
    expect((error as Error).message).toMatch(
      /refused the login of user 'oq-bridge-nobody'.*OQE_BROKER_PASSWORD/,
    );
    expect((error as Error).message).not.toContain(password);
    await bad.close();
  });
});
