import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import { BrokerSession, type BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { ManagementApi } from '../../bridge/src/observe/management-api.ts';
import type { ComputeObservation } from '../../bridge/src/observe/observation.ts';
import { CeleryObserver } from '../../bridge/src/observe/observer.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import {
  createTestVhost,
  describeWithRabbit,
  managementApi,
  MANAGEMENT_URL,
  type TestVhost,
} from '../support/services.ts';
import { startWorker, submitTasks, type StartedWorker } from '../../local/celery-workers.ts';
import { waitFor } from '../../local/timeouts.ts';

/** An in-process stub ComputeBackend: only `describe` is used by the observer; it can fail or hang on demand. */
function stubCompute(units: string[], mode: { value: 'ok' | 'fail' | 'hang' }): ComputeBackend {
  const describe = async (): Promise<ComputeObservation> => {
    if (mode.value === 'fail') throw new Error('ThrottlingException: Rate exceeded');
    if (mode.value === 'hang') await new Promise((r) => setTimeout(r, 60_000).unref());
    return {
      desired: units.length,
      running: units.length,
      pending: 0,
      units: units.map((h) => ({ unitId: h.slice(3), celeryHostname: h, state: 'running' as const })),
      observedAt: Date.now(),
    };
  };
  const nothing = async (): Promise<void> => undefined;
  return {
    name: 'stub',
    describe,
    scaleTo: nothing,
    retire: nothing,
    protect: nothing,
    release: nothing,
    close: nothing,
  };
}

describeWithRabbit('CeleryObserver with real RabbitMQ and celery workers', () => {
  let vhost: TestVhost;
  let workers: StartedWorker[] = [];
  let session: BrokerSession;
  let control: CeleryRemoteControl;
  let probe: QueueProbe;
  const bridgeUser = `oq-bridge-test-${randomBytes(3).toString('hex')}`;
  const bridgePassword = randomBytes(12).toString('hex');
  const computeMode: { value: 'ok' | 'fail' | 'hang' } = { value: 'ok' };

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-observe-obs');
    // The bridge's least-privileged user, with the master's tag and permission regexes
    // (cdk/assets/master/provision-rabbitmq.sh): remote control and the management API only.
    await managementApi('PUT', `/api/users/${bridgeUser}`, { password: bridgePassword, tags: 'management' });
    const reply = '[A-Za-z0-9_-]+\\.reply\\.celery\\.pidbox';
    await managementApi('PUT', `/api/permissions/${encodeURIComponent(vhost.vhost)}/${bridgeUser}`, {
      configure: `^(celery\\.pidbox|reply\\.celery\\.pidbox|${reply})$`,
      write: `^(celery\\.pidbox|${reply})$`,
      read: `^(reply\\.celery\\.pidbox|${reply})$`,
    });
    workers = await Promise.all(
      ['oq@obs-a', 'oq@obs-b'].map((hostname) =>
        startWorker({ amqpUrl: vhost.amqpUrl, hostname, concurrency: 2 }),
      ),
    );
    const endpoint: BrokerEndpoint = {
      host: '127.0.0.1',
      vhost: vhost.vhost,
      username: bridgeUser,
      password: bridgePassword,
    };
    session = new BrokerSession(endpoint);
    control = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 1500 });
    probe = new QueueProbe(session, 'celery', new ManagementApi({ url: MANAGEMENT_URL, ...endpoint }));
  });

  afterAll(async () => {
    for (const w of workers) w.kill();
    await control?.close();
    await probe?.close();
    await session?.close();
    await vhost?.cleanup();
    await managementApi('DELETE', `/api/users/${bridgeUser}`);
  });

  const observer = (workersMs = 1500) =>
    new CeleryObserver({
      queueProbe: probe,
      remoteControl: control,
      compute: stubCompute(['oq@obs-a', 'oq@obs-b'], computeMode),
      timeouts: { queueMs: 2000, workersMs, computeMs: 1000 },
    });

  it('sees a burst and counts busy workers as demand when no message is ready', async () => {
    const obs = observer();
    const idle = await obs.observe();
    expect(idle.errors).toEqual([]);
    expect(idle.queue).toMatchObject({ ready: 0, unacked: 0, consumers: 2 });
    expect(idle.workers?.map((w) => [w.hostname, w.poolSize, w.consuming])).toEqual([
      ['oq@obs-a', 2, true],
      ['oq@obs-b', 2, true],
    ]);

    // 4 slots, 10 tasks of 3 s: at once 4 run (unacked) and 6 wait (ready).
    // How soon a burst is seen is a benchmark figure (decision latency, docs/benchmarks.md), not asserted here:
    // what counts is that the cycle that sees every slot busy also sees all ten tasks.
    const ids = submitTasks(vhost.amqpUrl, 31, Array(10).fill(3));
    const busy = await waitFor('every slot busy', async () => {
      const o = await obs.observe();
      const running = (o.workers ?? []).reduce((n, w) => n + w.active.length, 0);
      return running === 4 ? o : undefined;
    });
    expect(busy.queue!.ready + busy.queue!.unacked).toBe(10);
    expect(busy.queue!.unacked).toBe(4);
    expect(busy.queue!.source).toMatch(/passive declare; unacked \d+: max\(workers active\+reserved 4/);
    const active = busy.workers!.flatMap((w) => w.active);
    expect(active.every((t) => t.calculationId === 31 && ids.includes(t.id))).toBe(true);

    // The tail: 2 tasks left running, none ready. Passive declare alone would read 0 demand here.
    const tail = await waitFor(
      'no ready message while workers are busy',
      async () => {
        const o = await obs.observe();
        return o.queue?.ready === 0 && (o.workers ?? []).some((w) => w.active.length > 0) ? o : undefined;
      },
      15_000,
    );
    const running = tail.workers!.reduce((n, w) => n + w.active.length + w.reserved, 0);
    expect(tail.queue!.unacked).toBeGreaterThanOrEqual(running);
    expect(tail.queue!.unacked).toBeGreaterThan(0);
    await waitFor('the tail to finish', async () => {
      const o = await obs.observe();
      return o.workers?.every((w) => w.active.length === 0) ? true : undefined;
    });
  });

  it('stops collecting once the running units answered, at once with none, and still notices unknown workers', async () => {
    // Both workers are running units: the collection ends when both replied. The collection timeout is a long
    // 10 s so that the bound tells "did not wait for the timeout" by a wide margin, whatever the machine's load.
    const obs = observer(10_000);
    let t0 = performance.now();
    const full = await obs.observe();
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(full.workers?.map((w) => w.hostname)).toEqual(['oq@obs-a', 'oq@obs-b']);

    // No running unit and nothing heard before: no waiting for replies at all (the activation path)...
    const none = new CeleryObserver({
      queueProbe: probe,
      remoteControl: control,
      compute: stubCompute([], { value: 'ok' }),
      timeouts: { queueMs: 2000, workersMs: 10_000, computeMs: 1000 },
    });
    t0 = performance.now();
    await none.observe();
    expect(performance.now() - t0).toBeLessThan(3000);
    // ...yet the two workers no backend unit accounts for are heard on a following cycle (their late replies,
    // and the queue's consumers that no answering worker explained), and never reported idle before that.
    const found = await waitFor('unknown workers noticed', async () => {
      const o = await none.observe();
      return o.workers?.length === 2 ? o : undefined;
    });
    expect(found.workers?.map((w) => [w.hostname, w.poolSize])).toEqual([
      ['oq@obs-a', 2],
      ['oq@obs-b', 2],
    ]);
  });

  it('shows a worker whose consumer was cancelled as not consuming', async () => {
    const obs = observer();
    await control.cancelConsumer('celery', ['oq@obs-a']);
    const seen = await waitFor('consumer cancelled', async () => {
      const o = await obs.observe();
      return o.queue?.consumers === 1 ? o : undefined;
    });
    expect(seen.workers?.find((w) => w.hostname === 'oq@obs-a')?.consuming).toBe(false);
    expect(seen.workers?.find((w) => w.hostname === 'oq@obs-b')?.consuming).toBe(true);
    await control.addConsumer('celery', ['oq@obs-a']);
    await waitFor('consumer back', async () =>
      (await obs.observe()).queue?.consumers === 2 ? true : undefined,
    );
  });

  it('leaves a failed or slow source absent with an error, never zero', async () => {
    const obs = observer();
    computeMode.value = 'fail';
    const failed = await obs.observe();
    expect(failed.compute).toBeUndefined();
    expect(failed.errors).toContainEqual(expect.stringMatching(/^compute \(stub\): ThrottlingException/));
    expect(failed.queue).toBeDefined();

    computeMode.value = 'hang';
    const started = Date.now();
    const slow = await obs.observe();
    // A correctness bound, not a speed figure: a hanging source costs its own 1000 ms timeout, where an
    // observer that waited for it would never return.
    expect(Date.now() - started).toBeLessThan(3000);
    expect(slow.compute).toBeUndefined();
    expect(slow.errors).toContainEqual(expect.stringMatching(/^compute \(stub\): no answer in 1000 ms: /));
    computeMode.value = 'ok';

    // A broker that cannot be reached: queue and workers are missing, not zero.
    const down = new BrokerSession({
      host: '127.0.0.1',
      port: 1,
      vhost: vhost.vhost,
      username: bridgeUser,
      password: bridgePassword,
    });
    const downObserver = new CeleryObserver({
      queueProbe: new QueueProbe(down, 'celery'),
      remoteControl: new CeleryRemoteControl(down, { serializer: 'pickle' }),
    });
    const blind = await downObserver.observe();
    expect(blind.queue).toBeUndefined();
    expect(blind.workers).toBeUndefined();
    expect(blind.errors.join('\n')).toMatch(
      /cannot reach RabbitMQ at amqp:\/\/oq-bridge-test-\w+@127\.0\.0\.1:1\//,
    );
    expect(blind.errors.join('\n')).not.toContain(bridgePassword);
    await down.close();
  });

  it('drops a killed worker from the workers after one timeout', async () => {
    const obs = observer();
    await obs.observe();
    workers[1]!.kill();
    const after = await waitFor('worker b gone', async () => {
      const o = await obs.observe();
      return o.workers?.some((w) => w.hostname === 'oq@obs-b') ? undefined : o;
    });
    expect(after.workers?.map((w) => w.hostname)).toEqual(['oq@obs-a']);
    // Its running unit is still in compute: the decision sees the contradiction, the observer only reports.
    expect(after.compute?.units.map((u) => u.celeryHostname)).toContain('oq@obs-b');
  });
});
