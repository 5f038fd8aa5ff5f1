import { connect, type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { ManagementApi, ManagementApiError } from '../../bridge/src/observe/management-api.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import {
  createTestVhost,
  describeWithRabbit,
  MANAGEMENT_URL,
  managementApi,
  RABBIT_ADMIN,
  type TestVhost,
} from '../support/services.ts';

/** Names of the user's connections on the vhost, once the management API lists at least one (it lags a little). */
async function waitForConnections(vhost: string, user: string): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const list = (await (
      await managementApi('GET', `/api/vhosts/${encodeURIComponent(vhost)}/connections`)
    ).json()) as {
      name: string;
      user: string;
    }[];
    const names = list.filter((c) => c.user === user).map((c) => c.name);
    if (names.length > 0) return names;
    await new Promise((r) => setTimeout(r, 100));
  }
  return [];
}

describeWithRabbit('QueueProbe against the local RabbitMQ', () => {
  let vhost: TestVhost;
  let admin: ChannelModel;
  let session: BrokerSession;
  let probe: QueueProbe;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-observe-qp');
    admin = await connect(vhost.amqpUrl);
    session = new BrokerSession(vhost.endpoint);
    probe = new QueueProbe(session, 'celery', new ManagementApi({ url: MANAGEMENT_URL, ...vhost.endpoint }));
  });

  afterAll(async () => {
    await probe?.close();
    await session?.close();
    await admin?.close();
    await vhost?.cleanup();
  });

  it('reports a queue nobody declared yet as absent with zero counts, and recovers its channel', async () => {
    expect(await probe.passive()).toMatchObject({ ready: 0, consumers: 0, exists: false });
    await expect(probe.fromManagement()).rejects.toThrow(
      /queue 'celery' not found in vhost 'oqe-observe-qp-\w+'.*OQE_QUEUE/,
    );
    const channel = await admin.createChannel();
    await channel.assertQueue('celery', { durable: true });
    await channel.close();
    expect(await probe.passive()).toMatchObject({ ready: 0, consumers: 0, exists: true });
  });

  it('sees a burst of 50 on the passive declare at once, and unacked on the management API later', async () => {
    const channel = await admin.createChannel();
    const start = Date.now();
    for (let i = 0; i < 50; i++) channel.sendToQueue('celery', Buffer.from(String(i)));
    // How fast is a benchmark figure (npm run bench); here only that the passive declare sees the whole burst
    // (the deadline is generous for loaded CI machines).
    let seen = await probe.passive();
    while (seen.ready < 50 && Date.now() - start < 10_000) seen = await probe.passive();
    expect(seen.ready).toBe(50);

    // Held unacked by a consumer: the passive declare shows 0 ready and 1 consumer, never the 50 in flight.
    const consumer = await admin.createChannel();
    await consumer.prefetch(50);
    await consumer.consume('celery', () => undefined, { noAck: false });
    let held = await probe.passive();
    while (held.ready > 0 && Date.now() - start < 12_000) held = await probe.passive();
    expect(held).toMatchObject({ ready: 0, consumers: 1 });
    // The management API does report them, once its statistics catch up (5 s interval by default); the
    // queue's consumer count may come in a later emission than its message counts.
    let mgmt = await probe.fromManagement();
    while ((mgmt.unacked < 50 || mgmt.consumers < 1) && Date.now() - start < 30_000) {
      await new Promise((r) => setTimeout(r, 250));
      mgmt = await probe.fromManagement();
    }
    expect(mgmt).toMatchObject({ unacked: 50, consumers: 1 });
    await consumer.close();
    await channel.close();
  });

  it('reconnects on the next call after the broker closed its connection (no restart needed)', async () => {
    expect((await probe.passive()).exists).toBe(true);
    // The management API lists a connection only after its next statistics emission: look until it does.
    let ours: { name: string; user: string }[] = [];
    for (const until = Date.now() + 20_000; ours.length === 0 && Date.now() < until;) {
      const list = (await (
        await managementApi('GET', `/api/vhosts/${encodeURIComponent(vhost.vhost)}/connections`)
      ).json()) as { name: string; user: string }[];
      ours = list.filter((c) => c.user === RABBIT_ADMIN.user);
      if (ours.length === 0) await new Promise((r) => setTimeout(r, 250));
    }
    expect(ours.length).toBeGreaterThan(0);
    // Closing every admin connection on this vhost also closes the test's own `admin` connection: reopen it below.
    for (const c of ours) await managementApi('DELETE', `/api/connections/${encodeURIComponent(c.name)}`);
    const outcomes: string[] = [];
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        await probe.passive();
        outcomes.push('ok');
        break;
      } catch (error) {
        outcomes.push(String(error));
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(outcomes[outcomes.length - 1]).toBe('ok');
    expect(outcomes.length).toBeLessThanOrEqual(2); // at most the one call that met the closing connection fails
    // It answered on a new connection, not on one of those the broker closed.
    const after = await waitForConnections(vhost.vhost, RABBIT_ADMIN.user);
    expect(after.some((name) => !ours.some((c) => c.name === name))).toBe(true);
    admin = await connect(vhost.amqpUrl);
  });

  it('refuses a management URL with credentials and explains a refused login without the password', async () => {
    expect(
      () =>
        new ManagementApi({
          url: 'http://oq-bridge:s3cret@10.0.0.5:15672',
          username: 'oq-bridge',
          password: 's3cret',
        }),
    ).toThrow(/OQE_MANAGEMENT_URL must not carry credentials \(got user 'oq-bridge' in it\)/);
    const bad = new ManagementApi({
      url: MANAGEMENT_URL,
      username: 'oq-bridge-nobody',
      password: 'wrong-Xy7',
    });
    const error = await bad.queue(vhost.vhost, 'celery').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManagementApiError);
    expect((error as ManagementApiError).status).toBe(401);
    expect((error as Error).message).toMatch(/refused user 'oq-bridge-nobody' \(401\).*'management' tag/);
    expect((error as Error).message).not.toContain('wrong-Xy7');
  });
});
