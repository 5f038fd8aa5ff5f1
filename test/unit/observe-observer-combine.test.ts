import { describe, expect, it } from 'vitest';
import type {
  BroadcastOptions,
  BroadcastReplies,
  TaskInfo,
  WorkerStats,
} from '../../bridge/src/observe/celery-remote-control.ts';
import { CeleryObserver, type QueueSource, type WorkerInspector } from '../../bridge/src/observe/observer.ts';

/**
 * How the observer assembles demand from its sources, with in-process stub sources (the same combinations run
 * against real RabbitMQ and celery workers in test/integration/observe-observer.test.ts; here each branch is
 * forced exactly).
 */
const NOW = 1_790_000_000_000;

interface Worker {
  host: string;
  active?: number; // undefined: no `active` reply
  reserved?: number; // undefined: no `reserved` reply
  consuming?: boolean;
}

/** One broadcast as the stub received it. */
interface Sent {
  method: string;
  expect?: readonly string[];
  destination?: readonly string[];
}

function stubInspector(workers: Worker[], fail = false, sent: Sent[] = []): WorkerInspector {
  const replies = <T>(
    method: string,
    pick: (w: Worker) => T | undefined,
    options?: BroadcastOptions,
  ): Promise<BroadcastReplies<T>> => {
    sent.push({ method, expect: options?.expect, destination: options?.destination });
    if (fail)
      return Promise.reject(new Error('cannot reach RabbitMQ at amqp://oq-bridge@master:5672/openquake'));
    const map = new Map<string, T>();
    for (const w of workers) {
      if (options?.destination && !options.destination.includes(w.host)) continue;
      const value = pick(w);
      if (value !== undefined) map.set(w.host, value);
    }
    return Promise.resolve({ replies: map, missing: [], errors: [] });
  };
  const tasks = (n: number | undefined): TaskInfo[] | undefined =>
    n === undefined ? undefined : Array.from({ length: n }, (_, i) => ({ id: `t${i}`, name: 'safely_call' }));
  return {
    stats: (o) => replies<WorkerStats>('stats', () => ({ poolSize: 2, raw: {} }), o),
    active: (o) => replies('active', (w) => tasks(w.active), o),
    reserved: (o) => replies('reserved', (w) => tasks(w.reserved), o),
    activeQueues: (o) => replies('active_queues', (w) => (w.consuming === false ? [] : ['celery']), o),
  };
}

function stubQueue(
  passive: { ready: number; consumers: number } | 'fail',
  management: { ready: number; unacked: number; consumers: number } | 'fail' | 'none',
): QueueSource {
  return {
    passive: () =>
      passive === 'fail'
        ? Promise.reject(new Error('channel closed'))
        : Promise.resolve({ ...passive, observedAt: NOW, exists: true }),
    fromManagement: () =>
      management === 'fail' || management === 'none'
        ? Promise.reject(new Error('HTTP 503'))
        : Promise.resolve({ ...management, observedAt: NOW }),
    hasManagement: management !== 'none',
  };
}

const observe = (queue: QueueSource, inspector: WorkerInspector) =>
  new CeleryObserver({
    queueProbe: queue,
    remoteControl: inspector,
    now: () => NOW,
    managementLagMs: 5000,
  }).observe();

describe('CeleryObserver demand assembly (in-process stub sources)', () => {
  it('takes ready from the passive declare and unacked as max(workers, management)', async () => {
    // workers hold 2+1 active and 1 reserved = 4 live; management (lagging) says 4 (more than the 3 active,
    // so `reserved` is asked)
    const sent: Sent[] = [];
    const o = await observe(
      stubQueue({ ready: 6, consumers: 2 }, { ready: 0, unacked: 4, consumers: 2 }),
      stubInspector(
        [
          { host: 'oq@a', active: 2, reserved: 1 },
          { host: 'oq@b', active: 1, reserved: 0 },
        ],
        false,
        sent,
      ),
    );
    expect(o.queue).toMatchObject({ ready: 6, unacked: 4, consumers: 2, observedAt: NOW });
    expect(o.errors).toEqual([]);
    // (A fresh observer knows nobody yet, so `stats` goes out beside `active`.)
    expect(sent.map((b) => b.method).filter((m) => m !== 'stats')).toEqual(['active', 'reserved']);
  });

  it('asks reserved only when the broker holds more unacked messages than the workers report active', async () => {
    const sent: Sent[] = [];
    const workers: Worker[] = [
      { host: 'oq@a', active: 2, reserved: 0 },
      { host: 'oq@b', active: 1, reserved: 0 },
    ];
    const management = { ready: 0, unacked: 3, consumers: 2 };
    const queue: QueueSource = {
      ...stubQueue({ ready: 0, consumers: 2 }, management),
      fromManagement: () => Promise.resolve({ ...management, observedAt: NOW }),
    };
    const observer = new CeleryObserver({
      queueProbe: queue,
      remoteControl: stubInspector(workers, false, sent),
      now: () => NOW,
    });
    const methods = () => sent.map((b) => b.method).filter((m) => m !== 'stats');
    // The first cycle knows nothing yet: `reserved` goes out beside `active`.
    await observer.observe();
    expect(methods()).toEqual(['active', 'reserved']);
    // Every unacked message is an active task: no worker can hold a reserved one, and none is asked.
    sent.length = 0;
    const o = await observer.observe();
    expect(methods()).toEqual(['active']);
    expect(observer.lastCommands).toEqual(['active']);
    expect(o.workers?.map((w) => [w.hostname, w.active.length, w.reserved])).toEqual([
      ['oq@a', 2, 0],
      ['oq@b', 1, 0],
    ]);
    expect(o.queue?.unacked).toBe(3);
    // One more unacked message than active tasks: it may be reserved somewhere, so `reserved` is asked (a
    // second round this cycle, beside `active` the next).
    sent.length = 0;
    workers[1]!.reserved = 1;
    management.unacked = 4;
    const p = await observer.observe();
    expect(methods()).toEqual(['active', 'reserved']);
    expect(p.workers?.find((w) => w.hostname === 'oq@b')?.reserved).toBe(1);
    expect(p.queue?.unacked).toBe(4);
    // No management figure: `reserved` is always asked.
    sent.length = 0;
    const blind = new CeleryObserver({
      queueProbe: stubQueue({ ready: 0, consumers: 2 }, 'fail'),
      remoteControl: stubInspector(workers, false, sent),
      now: () => NOW,
    });
    await blind.observe();
    await blind.observe();
    expect(methods()).toEqual(['active', 'reserved', 'active', 'reserved']);
  });

  it('keeps a stale higher management figure (it can only delay a scale-in)', async () => {
    const o = await observe(
      stubQueue({ ready: 0, consumers: 1 }, { ready: 0, unacked: 7, consumers: 1 }),
      stubInspector([{ host: 'oq@a', active: 0, reserved: 0 }]),
    );
    expect(o.queue?.unacked).toBe(7);
  });

  it('counts a message requeued since the management snapshot once, as ready (issue 14 item 6)', async () => {
    // A worker holding 2 tasks was SIGKILLed: the broker requeued them (live ready 2), the management API's
    // snapshot still has them unacked (8), the surviving workers hold 6. Work in flight is 8, not 10.
    const o = await observe(
      stubQueue({ ready: 2, consumers: 3 }, { ready: 0, unacked: 8, consumers: 4 }),
      stubInspector([
        { host: 'oq@a', active: 2, reserved: 0 },
        { host: 'oq@b', active: 2, reserved: 0 },
        { host: 'oq@c', active: 2, reserved: 0 },
      ]),
    );
    expect(o.queue!.ready + o.queue!.unacked).toBe(8);
    expect(o.queue!.source).toBe(
      'ready 2, consumers 3: passive declare; unacked 6: max(workers active+reserved 6, management API 8 ' +
        'unacked + 0 ready as of its last statistics - 2 ready now = 6)',
    );
  });

  it('keeps new messages ready now on top of a stale unacked figure that the workers confirm', async () => {
    // 5 new messages since the snapshot; the workers still hold all 4 the snapshot counted.
    const o = await observe(
      stubQueue({ ready: 5, consumers: 2 }, { ready: 0, unacked: 4, consumers: 2 }),
      stubInspector([
        { host: 'oq@a', active: 2, reserved: 0 },
        { host: 'oq@b', active: 2, reserved: 0 },
      ]),
    );
    expect(o.queue).toMatchObject({ ready: 5, unacked: 4 });
  });

  it('ignores the workers figure when a consuming worker answered only in part', async () => {
    const o = await observe(
      stubQueue({ ready: 0, consumers: 2 }, { ready: 0, unacked: 3, consumers: 2 }),
      stubInspector([
        { host: 'oq@a', active: 1, reserved: 0 },
        { host: 'oq@b', active: undefined, reserved: 0 }, // celery 4.4 busy: no active reply
      ]),
    );
    expect(o.workers?.map((w) => w.hostname)).toEqual(['oq@a']);
    expect(o.queue).toMatchObject({ unacked: 3 });
    expect(o.queue!.source).toBe('ready 0, consumers 2: passive declare; unacked 3: management API 3');
    // Only the management API gave unacked: the figure is as old as its statistics.
    expect(o.queue!.observedAt).toBe(NOW - 5000);
    expect(o.errors).toEqual([
      'worker oq@b answered but not active within 1500 ms: its tasks are unknown, so it is left out (never counted idle)',
    ]);
  });

  it('ignores the workers figure when the queue has more consumers than answering workers', async () => {
    // 3 consumers, 2 workers replied: the third consumer's unacked messages are unknown
    const o = await observe(
      stubQueue({ ready: 0, consumers: 3 }, 'none'),
      stubInspector([
        { host: 'oq@a', active: 0, reserved: 0 },
        { host: 'oq@b', active: 0, reserved: 0 },
      ]),
    );
    expect(o.queue).toBeUndefined();
    expect(o.errors).toEqual(['queue: no source gave both ready and unacked this cycle']);
  });

  it('waits the whole timeout next cycle when an unknown worker holds a consumer, else stops at the known ones', async () => {
    const sent: Sent[] = [];
    const workers = [{ host: 'oq@a', active: 0, reserved: 0 }];
    const observer = new CeleryObserver({
      queueProbe: stubQueue({ ready: 0, consumers: 2 }, 'none'),
      remoteControl: stubInspector(workers, false, sent),
      now: () => NOW,
    });
    await observer.observe(); // nothing known yet: no early stop, and `stats` to all
    await observer.observe(); // 2 consumers, 1 worker answered: still listening for the other
    expect(sent.map((b) => [b.method, b.expect])).toEqual([
      ['active', []],
      ['stats', []],
      ['reserved', []],
      ['active', []],
      ['stats', []],
      ['reserved', []],
    ]);
    sent.length = 0;
    const settled = new CeleryObserver({
      queueProbe: stubQueue({ ready: 0, consumers: 1 }, 'none'),
      remoteControl: stubInspector(workers, false, sent),
      now: () => NOW,
    });
    await settled.observe();
    sent.length = 0;
    const steady = await settled.observe();
    // Steady state: only active and reserved, ending when oq@a answered; its pool size is remembered.
    expect(sent.map((b) => [b.method, b.expect])).toEqual([
      ['active', ['oq@a']],
      ['reserved', ['oq@a']],
    ]);
    expect(steady.workers?.[0]).toMatchObject({ hostname: 'oq@a', poolSize: 2, consuming: true });
    expect(settled.lastCommands).toEqual(['active', 'reserved']);
  });

  it('asks stats once per new worker and active_queues only while some worker is not consuming', async () => {
    const sent: Sent[] = [];
    const workers: Worker[] = [{ host: 'oq@a', active: 0, reserved: 0 }];
    const queue = { ready: 0, consumers: 1 };
    const observer = new CeleryObserver({
      queueProbe: stubQueue(queue, 'none'),
      remoteControl: stubInspector(workers, false, sent),
      now: () => NOW,
    });
    await observer.observe();
    // A second worker appears (a late reply or a new unit): stats goes to it alone, after active/reserved.
    workers.push({ host: 'oq@b', active: 0, reserved: 0 });
    queue.consumers = 2;
    sent.length = 0;
    await observer.observe(); // oq@b answers active and reserved (the stub waits for everyone): stats to it alone
    await observer.observe(); // both pool sizes cached: no stats
    expect(sent.filter((b) => b.method === 'stats').map((b) => b.destination)).toEqual([['oq@b']]);
    sent.length = 0;
    await observer.observe();
    expect(sent.map((b) => b.method)).toEqual(['active', 'reserved']);

    // oq@b's consumer is cancelled: 1 consumer for 2 answering workers, so active_queues asks who.
    workers[1]!.consuming = false;
    queue.consumers = 1;
    sent.length = 0;
    const draining = await observer.observe();
    expect(sent.map((b) => [b.method, b.destination])).toEqual([
      ['active', undefined],
      ['reserved', undefined],
      ['active_queues', ['oq@a', 'oq@b']],
    ]);
    expect(draining.workers?.find((w) => w.hostname === 'oq@b')?.consuming).toBe(false);
    // While it stays drained, active_queues is asked every cycle (to see it come back).
    sent.length = 0;
    await observer.observe();
    expect(sent.map((b) => b.method)).toContain('active_queues');
    // Consuming again and counted by the queue: back to active and reserved only.
    workers[1]!.consuming = true;
    queue.consumers = 2;
    await observer.observe();
    sent.length = 0;
    await observer.observe();
    expect(sent.map((b) => b.method)).toEqual(['active', 'reserved']);

    // oq@b stops answering: its cached pool size goes, and a new worker by that name is asked again.
    workers.pop();
    queue.consumers = 1;
    await observer.observe();
    workers.push({ host: 'oq@b', active: 0, reserved: 0 });
    queue.consumers = 2;
    sent.length = 0;
    await observer.observe();
    await observer.observe();
    expect(sent.some((b) => b.method === 'stats')).toBe(true);
  });

  it('does not count a draining worker against the consumers', async () => {
    // oq@b's consumer was cancelled: 1 consumer, 1 consuming worker, so the workers figure (1 + 2) holds
    const o = await observe(
      stubQueue({ ready: 0, consumers: 1 }, 'none'),
      stubInspector([
        { host: 'oq@a', active: 1, reserved: 0 },
        { host: 'oq@b', active: 2, reserved: 0, consuming: false },
      ]),
    );
    expect(o.queue).toMatchObject({
      ready: 0,
      unacked: 3,
      consumers: 1,
      source: expect.stringMatching(/workers active\+reserved 3$/),
    });
    expect(o.workers?.find((w) => w.hostname === 'oq@b')?.consuming).toBe(false);
  });

  it('falls back to the management API, stamped in the past, when the passive declare fails', async () => {
    const o = await observe(
      stubQueue('fail', { ready: 5, unacked: 2, consumers: 1 }),
      stubInspector([{ host: 'oq@a', active: 2, reserved: 0 }]),
    );
    expect(o.queue).toMatchObject({ ready: 5, unacked: 2, consumers: 1, observedAt: NOW - 5000 });
    expect(o.errors).toEqual(['queue (passive declare): channel closed']);
  });

  it('reports workers missing, not empty, when remote control fails as a whole', async () => {
    const o = await observe(stubQueue({ ready: 0, consumers: 1 }, 'fail'), stubInspector([], true));
    expect(o.workers).toBeUndefined();
    expect(o.queue).toBeUndefined();
    expect(o.errors).toContain(
      'workers (active): cannot reach RabbitMQ at amqp://oq-bridge@master:5672/openquake',
    );
    expect(o.errors).toContain('queue (management API): HTTP 503');
  });
});
