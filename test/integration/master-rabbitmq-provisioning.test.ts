/**
 * The master's RabbitMQ provisioning script (cdk/assets/master/provision-rabbitmq.sh) run for real, twice,
 * against the local RabbitMQ: the engine's user and vhost, the bridge's least-privileged user proven with a real
 * celery worker and real AMQP/management calls, `guest` removed, consumer_timeout in effect.
 *
 * Names carry a random suffix so parallel runs on the shared broker never collide; everything created is
 * removed afterwards and consumer_timeout is put back. Deleting `guest` is the one lasting effect (as on the
 * master). The `oqe-test-admin` user is only ever used, never changed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { type ProvisionedBroker, provisionBroker, rabbitmqctl } from '../support/provisioned-broker.ts';
import { describeWithRabbit, MANAGEMENT_URL, managementApi, REPO_ROOT } from '../support/services.ts';

const AMQP_PORT = Number(process.env.OQE_AMQP_PORT ?? 5672);

const TESTAPP = `${REPO_ROOT}worker-image/testapp`;
const CELERY = `${REPO_ROOT}.venv/bin/celery`;
const consumerTimeoutMs = 86_400_000 + Number.parseInt(randomBytes(2).toString('hex'), 16);

let broker: ProvisionedBroker;
let vhost = '';
let engineUser = '';
let bridgeUser = '';
let workerUser = '';
let enginePassword = '';
let bridgePassword = '';

function amqpUrl(user: string, password: string): string {
  return `amqp://${user}:${password}@127.0.0.1:${AMQP_PORT}/${encodeURIComponent(vhost)}`;
}

/** Calls the management API as the given user; returns the status and the parsed body. */
async function asUser(user: string, password: string, method: string, path: string, body?: unknown) {
  const response = await fetch(`${MANAGEMENT_URL}${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/**
 * True when the management API refused the call for lack of permission: 401/403, or (for the publish and get
 * endpoints, which relay the AMQP channel error) 400 with the broker's `403 ACCESS_REFUSED` as the reason.
 */
function refused(result: { status: number; body: unknown }): boolean {
  if (result.status === 401 || result.status === 403) return true;
  return result.status === 400 && /ACCESS_REFUSED/.test(JSON.stringify(result.body));
}

/** The state the script is responsible for, as the administrator sees it. */
async function brokerState() {
  const users = (await (await managementApi('GET', '/api/users')).json()) as Array<{
    name: string;
    tags: string[] | string;
  }>;
  const ours = users
    .filter((u) => [engineUser, workerUser, bridgeUser, 'guest'].includes(u.name))
    .map((u) => ({ name: u.name, tags: Array.isArray(u.tags) ? u.tags : u.tags.split(',').filter(Boolean) }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const vhosts = ((await (await managementApi('GET', '/api/vhosts')).json()) as Array<{ name: string }>)
    .map((v) => v.name)
    .filter((name) => name === vhost);
  const permissions = (
    (await (
      await managementApi('GET', `/api/vhosts/${encodeURIComponent(vhost)}/permissions`)
    ).json()) as Array<{ user: string; configure: string; write: string; read: string }>
  )
    .filter((p) => [engineUser, workerUser, bridgeUser].includes(p.user))
    .map(({ user, configure, write, read }) => ({ user, configure, write, read }))
    .sort((a, b) => (a.user < b.user ? -1 : 1));
  return { users: ours, vhosts, permissions };
}

describeWithRabbit('master: RabbitMQ provisioning script against the local RabbitMQ', () => {
  let originalConsumerTimeout = '';
  let outputs: string[] = [];
  let stateAfterFirst: Awaited<ReturnType<typeof brokerState>>;
  let worker: ChildProcess | undefined;

  beforeAll(async () => {
    originalConsumerTimeout = await rabbitmqctl('eval', 'application:get_env(rabbit, consumer_timeout).');
    broker = await provisionBroker('mt', { OQ_CONSUMER_TIMEOUT_MS: String(consumerTimeoutMs) });
    ({ vhost } = broker);
    [engineUser, workerUser, bridgeUser] = [broker.engine.name, broker.worker.name, broker.bridge.name];
    [enginePassword, bridgePassword] = [broker.engine.password, broker.bridge.password];
    outputs.push(broker.firstOutput);
    stateAfterFirst = await brokerState();
    outputs.push(await broker.provision());
  });

  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await new Promise((resolve) => worker?.once('exit', resolve));
    }
    await broker?.cleanup();
    const original = /^\{ok,(\d+)\}$/.exec(originalConsumerTimeout);
    await rabbitmqctl(
      'eval',
      original
        ? `application:set_env(rabbit, consumer_timeout, ${original[1]}).`
        : 'application:unset_env(rabbit, consumer_timeout).',
    );
    outputs = [];
  });

  it('creates the vhost, the engine user with full rights in it, the worker and bridge users, and removes guest', () => {
    expect(stateAfterFirst.vhosts).toEqual([vhost]);
    expect(stateAfterFirst.users).toEqual(
      [
        { name: engineUser, tags: [] },
        { name: bridgeUser, tags: ['management'] },
        { name: workerUser, tags: [] },
      ].sort((a, b) => (a.name < b.name ? -1 : 1)),
    );
    expect(stateAfterFirst.permissions.find((p) => p.user === engineUser)).toEqual({
      user: engineUser,
      configure: '.*',
      write: '.*',
      read: '.*',
    });
  });

  it('is idempotent: a second run leaves exactly the same users, vhost and permissions', async () => {
    expect(await brokerState()).toEqual(stateAfterFirst);
  });

  it('never prints a password', () => {
    for (const output of outputs) {
      expect(output).not.toContain(enginePassword);
      expect(output).not.toContain(bridgePassword);
      expect(output).not.toContain(broker.worker.password);
    }
  });

  it('sets consumer_timeout on the running node', async () => {
    expect(await rabbitmqctl('eval', 'application:get_env(rabbit, consumer_timeout).')).toBe(
      `{ok,${consumerTimeoutMs}}`,
    );
  });

  it('gives the engine user a working password (a real AMQP login)', async () => {
    const connection = await connect(amqpUrl(engineUser, enginePassword));
    await connection.close();
    await expect(connect(amqpUrl(engineUser, 'wrong-password'))).rejects.toThrow(/ACCESS_REFUSED|403/);
  });

  it('lets the bridge run celery remote control (ping, stats, active) against a real worker', async () => {
    worker = spawn(
      CELERY,
      [
        '-A',
        'oq_testapp',
        'worker',
        '-n',
        `oq@mt-${vhost.slice(-8)}`,
        '-c',
        '1',
        '-O',
        'fair',
        '--loglevel',
        'WARNING',
      ],
      {
        cwd: TESTAPP,
        env: { ...process.env, C_FORCE_ROOT: '1', OQ_TESTAPP_BROKER: amqpUrl(engineUser, enginePassword) },
        stdio: 'ignore',
      },
    );
    // The bridge's own remote-control client (reply queue `oq-bridge-<uuid>.reply.celery.pidbox`), as the
    // bridge user: celery 5 workers take pickled remote control.
    const session = new BrokerSession({
      host: '127.0.0.1',
      port: AMQP_PORT,
      vhost,
      username: bridgeUser,
      password: bridgePassword,
    });
    const control = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 5000 });
    const name = `oq@mt-${vhost.slice(-8)}`;
    try {
      let ping = await control.ping({ expect: [name] });
      for (let i = 0; i < 20 && ping.replies.size === 0; i++) ping = await control.ping({ expect: [name] });
      expect([...ping.replies.keys()]).toEqual([name]);
      expect([...(await control.stats({ expect: [name] })).replies.keys()]).toEqual([name]);
      expect((await control.active({ expect: [name] })).replies.get(name)).toEqual([]);
    } finally {
      await control.close();
      await session.close();
    }
  });

  it('lets the bridge read the celery queue figures through the management API, in its vhost only', async () => {
    // The worker of the previous test declared the queue and consumes from it.
    const path = `/api/queues/${encodeURIComponent(vhost)}/celery?columns=name,messages_ready,messages_unacknowledged,consumers`;
    let queue = await asUser(bridgeUser, bridgePassword, 'GET', path);
    for (let i = 0; i < 20 && (queue.body as { consumers?: number }).consumers !== 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      queue = await asUser(bridgeUser, bridgePassword, 'GET', path);
    }
    expect(queue.status).toBe(200);
    expect(queue.body).toMatchObject({ name: 'celery', messages_ready: 0, consumers: 1 });
    const all = await asUser(bridgeUser, bridgePassword, 'GET', '/api/queues?columns=vhost,name');
    expect(all.status).toBe(200);
    const vhostsSeen = new Set((all.body as Array<{ vhost: string }>).map((q) => q.vhost));
    expect([...vhostsSeen]).toEqual([vhost]);
    expect(refused(await asUser(bridgeUser, bridgePassword, 'GET', '/api/queues/%2F'))).toBe(true);
    expect(refused(await asUser(bridgeUser, bridgePassword, 'GET', '/api/users'))).toBe(true);
  });

  it('denies the bridge taking messages from the celery queue, over AMQP and the management API', async () => {
    const connection = await connect(amqpUrl(bridgeUser, bridgePassword));
    try {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      // A passive declare (no permission needed) still gives the bridge the live ready count.
      await expect(channel.checkQueue('celery')).resolves.toMatchObject({
        queue: 'celery',
        consumerCount: 1,
      });
      await expect(channel.consume('celery', () => undefined)).rejects.toThrow(/ACCESS_REFUSED/);
      const second = await connection.createChannel();
      second.on('error', () => undefined);
      await expect(second.get('celery')).rejects.toThrow(/ACCESS_REFUSED/);
    } finally {
      await connection.close().catch(() => undefined);
    }
    const get = await asUser(
      bridgeUser,
      bridgePassword,
      'POST',
      `/api/queues/${encodeURIComponent(vhost)}/celery/get`,
      { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' },
    );
    expect(refused(get)).toBe(true);
  });

  it('denies the bridge publishing to the celery queue (default and celery exchanges, management API)', async () => {
    for (const exchange of ['', 'celery']) {
      const connection = await connect(amqpUrl(bridgeUser, bridgePassword));
      try {
        const channel = await connection.createConfirmChannel();
        const closed = new Promise<string>((resolve) =>
          channel.once('error', (err: Error) => resolve(err.message)),
        );
        channel.publish(exchange, 'celery', Buffer.from('not a task'));
        expect(await closed).toMatch(/ACCESS_REFUSED/);
      } finally {
        await connection.close().catch(() => undefined);
      }
    }
    const publish = await asUser(
      bridgeUser,
      bridgePassword,
      'POST',
      `/api/exchanges/${encodeURIComponent(vhost)}/amq.default/publish`,
      { properties: {}, routing_key: 'celery', payload: 'x', payload_encoding: 'string' },
    );
    expect(refused(publish)).toBe(true);
    const queue = (await (
      await managementApi('GET', `/api/queues/${encodeURIComponent(vhost)}/celery?columns=messages`)
    ).json()) as { messages: number };
    expect(queue.messages).toBe(0);
  });

  it('has removed guest', async () => {
    expect((await brokerState()).users.map((u) => u.name)).not.toContain('guest');
    expect(await rabbitmqctl('list_users', '--no-table-headers')).not.toMatch(/^guest\t/m);
  });

  it('refuses to run without a password, naming the variable and where its value comes from', async () => {
    const failure = await broker.provision({ OQ_AMQP_PASSWORD: '' }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(
      /OQ_AMQP_PASSWORD is empty: set it from the broker secret's 'password' key/,
    );
  });

  it("takes a rotated secret on the next run: the new password works and the old one doesn't", async () => {
    const rotated = randomBytes(18).toString('hex');
    const output = await broker.provision({ OQ_AMQP_PASSWORD: rotated });
    expect(output).not.toContain(rotated);
    const connection = await connect(amqpUrl(engineUser, rotated));
    await connection.close();
    await expect(connect(amqpUrl(engineUser, enginePassword))).rejects.toThrow(/ACCESS_REFUSED|403/);
    expect(await brokerState()).toEqual(stateAfterFirst);
  });
});
