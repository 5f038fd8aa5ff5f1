import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { CeleryObserver } from '../../bridge/src/observe/observer.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import { type BrokerClients, openBrokerClients } from '../support/broker-clients.ts';
import { createTestVhost, isMissing, type TestVhost } from '../support/services.ts';
import {
  ensureCelery44,
  findCelery44Python,
  startWorker,
  submitTasks,
  type StartedWorker,
  type WorkerSpec,
} from '../../local/celery-workers.ts';
import { waitFor } from '../../local/timeouts.ts';

/**
 * The engine's celery 4.4.7 on the wire: a JSON mailbox, and `active` replies that carry the raw task
 * arguments. Run against a real celery 4.4.7 worker (Python 3.8, the engine 3.11 release's, in a virtual
 * environment under .cache/) when such a Python is on the PATH or in OQE_CELERY44_PYTHON, and always against
 * a celery 5.5 worker patched to behave the same way (celery 4.4 cannot import on Python 3.10+).
 */
const celery44Python = findCelery44Python();
const kinds: { title: string; skip: boolean; spec: () => Partial<WorkerSpec> }[] = [
  {
    title: 'a real celery 4.4.7 worker' + (celery44Python ? '' : ' (skipped: no python3.8/3.9 found)'),
    skip: celery44Python === undefined,
    spec: () => ({ celeryBin: ensureCelery44(celery44Python!) }),
  },
  { title: 'a celery 5.5 worker emulating 4.4', skip: false, spec: () => ({ emulateCelery44: true }) },
];

/** One worker of pool size 2 on a vhost of its own, and the bridge's clients speaking JSON to its mailbox. */
interface JsonMailboxWorker {
  vhost: TestVhost;
  worker: StartedWorker;
  session: BrokerSession;
  control: CeleryRemoteControl;
}

/**
 * Starts the worker `spec` describes before the enclosing describe's tests and stops it (and its vhost) after
 * them; the returned getter gives the fixture once it is up.
 */
function useJsonMailboxWorker(
  vhostPrefix: string,
  spec: () => Omit<WorkerSpec, 'amqpUrl' | 'concurrency'>,
): () => JsonMailboxWorker {
  let vhost: TestVhost | undefined;
  let worker: StartedWorker | undefined;
  let clients: BrokerClients | undefined;
  beforeAll(async () => {
    vhost = await createTestVhost(vhostPrefix);
    worker = await startWorker({ amqpUrl: vhost.amqpUrl, concurrency: 2, ...spec() });
    clients = openBrokerClients(vhost.endpoint, { serializer: 'json', timeoutMs: 1500 });
  });
  afterAll(async () => {
    worker?.kill();
    await clients?.close();
    await vhost?.cleanup();
  });
  return () => ({ vhost: vhost!, worker: worker!, session: clients!.session, control: clients!.control });
}

describe.each(kinds)('CeleryRemoteControl against $title (JSON mailbox)', ({ skip, spec }) => {
  if (skip || isMissing('rabbitmq')) {
    it.skip('needs RabbitMQ and the worker', () => undefined);
    return;
  }
  const fixture = useJsonMailboxWorker('oqe-observe-c44', () => ({ hostname: 'oq@unit-44', ...spec() }));
  let vhost: TestVhost;
  let session: BrokerSession;
  let control: CeleryRemoteControl;
  let worker: StartedWorker;
  beforeAll(() => ({ vhost, worker, session, control } = fixture())); // runs after the fixture's own beforeAll

  it('speaks JSON: ping, stats and an idle active list reply', async () => {
    const expect1 = { expect: [worker.hostname] };
    expect((await control.ping(expect1)).replies.get('oq@unit-44')).toEqual({ ok: 'pong' });
    expect((await control.stats(expect1)).replies.get('oq@unit-44')?.poolSize).toBe(2);
    expect((await control.active(expect1)).replies.get('oq@unit-44')).toEqual([]);
    const pickle = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 800 });
    try {
      expect((await pickle.ping(expect1)).replies.size).toBe(0); // a JSON-only worker drops pickle requests
    } finally {
      await pickle.close();
    }
  });

  it('still answers after 200 broadcasts (the clock header past 127, which py-amqp 2.x once failed to read)', async () => {
    for (let i = 0; i < 200; i++) await control.ping({ destination: ['oq@nobody'], timeoutMs: 1 });
    expect((await control.ping({ expect: [worker.hostname] })).replies.get('oq@unit-44')).toEqual({
      ok: 'pong',
    });
  });

  it('cancels and restores the consumer over JSON (the drain protocol with the engine release)', async () => {
    const probe = new QueueProbe(session, 'celery');
    try {
      await waitFor('one consumer', async () => ((await probe.passive()).consumers === 1 ? true : undefined));
      const cancelled = await control.cancelConsumer('celery', [worker.hostname]);
      expect(cancelled.replies.get(worker.hostname)?.ok).toMatch(/no longer consuming from celery/);
      await waitFor('no consumer', async () => ((await probe.passive()).consumers === 0 ? true : undefined));
      expect(
        (await control.activeQueues({ expect: [worker.hostname] })).replies.get(worker.hostname),
      ).toEqual([]);
      const added = await control.addConsumer('celery', [worker.hostname]);
      expect(added.replies.get(worker.hostname)?.ok).toMatch(/add consumer celery/);
      await waitFor('consumer back', async () =>
        (await probe.passive()).consumers === 1 ? true : undefined,
      );
    } finally {
      await probe.close();
    }
  });

  it('gets no active reply from a busy worker, whose engine-like arguments JSON cannot encode', async () => {
    submitTasks(vhost.amqpUrl, 9, [6]);
    await waitFor('the task to start', async () =>
      /Task openquake\.baselib\.parallel\.safely_call\[[^\]]+\] received|Received task: openquake\.baselib\.parallel\.safely_call\[/.test(
        worker.log(),
      )
        ? true
        : undefined,
    );
    await new Promise((r) => setTimeout(r, 300));
    const active = await control.active({ expect: [worker.hostname] });
    // celery 4.4 tries to JSON-encode the function and Pickled objects, fails (celery issue #3667) and sends
    // nothing: "no reply" must never be read as "no tasks".
    expect(active.missing).toEqual(['oq@unit-44']);
    expect(worker.log()).toMatch(/Control command error: EncodeError/);
    // stats and ping still answer, so the worker is alive but its tasks are unknown.
    expect((await control.ping({ expect: [worker.hostname] })).replies.has('oq@unit-44')).toBe(true);
    // The observer leaves such a worker out, with the reason, rather than report it idle.
    const seen = await new CeleryObserver({
      remoteControl: control,
      timeouts: { workersMs: 1000 },
    }).observe();
    expect(seen.workers).toEqual([]);
    // (The worker resets its control consumer after the error, so a `reserved` sent alongside may be lost too.)
    expect(seen.errors).toContainEqual(
      expect.stringMatching(
        /^worker oq@unit-44 answered but not active( or reserved)? within 1000 ms: its tasks are unknown, so it is left out \(never counted idle\)$/,
      ),
    );
  });
});

describe.skipIf(celery44Python === undefined || isMissing('rabbitmq'))(
  'a real celery 4.4.7 worker with the argsrepr shim (a fix the worker image could ship)',
  () => {
    const fixture = useJsonMailboxWorker('oqe-observe-shim', () => ({
      hostname: 'oq@unit-shim',
      celeryBin: ensureCelery44(celery44Python!),
      argsreprShim: true,
    }));
    let vhost: TestVhost;
    let control: CeleryRemoteControl;
    let worker: StartedWorker;
    beforeAll(() => ({ vhost, worker, control } = fixture())); // runs after the fixture's own beforeAll

    it('reports busy workers in active, with the calculation id, once the shim is loaded', async () => {
      const ids = submitTasks(vhost.amqpUrl, 311, [4, 4]);
      const tasks = await waitFor('two active tasks', async () => {
        const result = await control.active({ expect: [worker.hostname] });
        const list = result.replies.get(worker.hostname);
        return list && list.length === 2 ? list : undefined;
      });
      expect(tasks.map((t) => t.id).sort()).toEqual([...ids].sort());
      expect(tasks.every((t) => t.calculationId === 311)).toBe(true);
      const seen = await new CeleryObserver({ remoteControl: control }).observe();
      expect(seen.workers?.[0]).toMatchObject({ hostname: 'oq@unit-shim', poolSize: 2, consuming: true });
      expect(seen.workers?.[0]?.active.length).toBe(2);
      expect(worker.log()).not.toMatch(/EncodeError/);
    });
  },
);
