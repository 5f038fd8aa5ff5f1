/**
 * The emulated celery fleet (bench/fleet-emulator) against real celery workers: the same bridge observation
 * (CeleryObserver over the passive declare and celery remote control) of two workers of pool size 2 running
 * the same three engine-like tasks, then with one worker's consumer cancelled. The real side runs the worker
 * image's configuration: celery 4.4.7 (when a Python 3.8/3.9 is found) or celery 5.5 patched to 4.4's JSON
 * mailbox, both with the worker image's argsrepr shim. About 30 s.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetEmulator } from '../../bench/fleet-emulator/fleet-emulator.ts';
import type { Observation } from '../../bridge/src/observe/observation.ts';
import { CeleryObserver } from '../../bridge/src/observe/observer.ts';
import { type BrokerClients, openBrokerClients } from '../support/broker-clients.ts';
import { createTestVhost, isMissing, PYTHON, type TestVhost } from '../support/services.ts';
import {
  ensureCelery44,
  findCelery44Python,
  startWorker,
  submitTasks,
  type StartedWorker,
} from '../../local/celery-workers.ts';
import { waitFor } from '../../local/timeouts.ts';

const HOSTS = ['oq@unit-a', 'oq@unit-b'];
const CALC = 41;
const TASK_SECONDS = 25;

/** One side of the comparison: a vhost, its workers, and the bridge's observer over it. */
interface Side extends BrokerClients {
  vhost: TestVhost;
  stop: () => Promise<void>;
}

async function side(prefix: string, start: (amqpUrl: string) => Promise<() => Promise<void>>): Promise<Side> {
  const vhost = await createTestVhost(prefix);
  const clients = openBrokerClients(vhost.endpoint, { serializer: 'json', timeoutMs: 2000 });
  const stop = await start(vhost.amqpUrl);
  return { ...clients, vhost, stop };
}

/** What the bridge sees, without what legitimately differs (task ids, pids, times, which worker got which task). */
function seen(o: Observation) {
  const workers = [...(o.workers ?? [])].sort((a, b) => a.hostname.localeCompare(b.hostname));
  return {
    hostnames: workers.map((w) => w.hostname),
    poolSizes: workers.map((w) => w.poolSize),
    consuming: workers.map((w) => w.consuming),
    activePerWorker: workers.map((w) => w.active.length).sort(),
    reserved: workers.reduce((s, w) => s + w.reserved, 0),
    taskNames: [...new Set(workers.flatMap((w) => w.active.map((t) => t.name)))],
    calculations: [...new Set(workers.flatMap((w) => w.active.map((t) => t.calculationId)))],
    started: workers.every((w) => w.active.every((t) => typeof t.startedAt === 'number')),
    ready: o.queue?.ready,
    unacked: o.queue?.unacked,
    consumers: o.queue?.consumers,
    errors: o.errors,
  };
}

const observe = (s: Side) =>
  new CeleryObserver({
    queueProbe: s.probe,
    remoteControl: s.control,
    timeouts: { workersMs: 2500 },
  }).observe();

const celery44Python = findCelery44Python();

describe.skipIf(isMissing('rabbitmq'))(
  'the emulated fleet against real celery workers (same observation)',
  () => {
    let real: Side;
    let emulated: Side;
    let emulator: FleetEmulator;

    beforeAll(async () => {
      real = await side('oqe-emu-real', async (amqpUrl) => {
        const workers: StartedWorker[] = [];
        for (const hostname of HOSTS) {
          workers.push(
            await startWorker({
              amqpUrl,
              hostname,
              concurrency: 2,
              argsreprShim: true,
              ...(celery44Python ? { celeryBin: ensureCelery44(celery44Python) } : { emulateCelery44: true }),
            }),
          );
        }
        return async () => workers.forEach((w) => w.kill());
      });
      emulated = await side('oqe-emu-fake', async (amqpUrl) => {
        emulator = FleetEmulator.start({
          python: PYTHON,
          amqpUrl,
          concurrency: 2,
          taskSeconds: TASK_SECONDS,
        });
        await emulator.add(HOSTS);
        return () => emulator.stop();
      });
    }, 180_000);

    afterAll(async () => {
      for (const s of [real, emulated]) {
        if (!s) continue;
        await s.stop();
        await s.close();
        await s.vhost.cleanup();
      }
    });

    it('idle, busy with three tasks, then with one consumer cancelled: the bridge sees the same', async () => {
      const idle = await Promise.all([observe(real), observe(emulated)]);
      expect(seen(idle[1])).toEqual(seen(idle[0]));
      expect(seen(idle[0])).toMatchObject({ hostnames: HOSTS, poolSizes: [2, 2], consumers: 2, unacked: 0 });

      // The same messages on both sides: the engine-like app's, pickled, with the argsrepr header.
      for (const s of [real, emulated])
        submitTasks(s.vhost.amqpUrl, CALC, [TASK_SECONDS, TASK_SECONDS, TASK_SECONDS]);
      const busy = await Promise.all(
        [real, emulated].map((s) =>
          waitFor('three tasks running', async () => {
            const o = await observe(s);
            return o.workers?.reduce((n, w) => n + w.active.length, 0) === 3 ? o : undefined;
          }),
        ),
      );
      expect(seen(busy[1])).toEqual(seen(busy[0]));
      expect(seen(busy[0])).toMatchObject({
        activePerWorker: [1, 2],
        taskNames: ['openquake.baselib.parallel.safely_call'],
        calculations: [CALC],
        started: true,
        unacked: 3,
        ready: 0,
      });

      for (const s of [real, emulated]) {
        const ack = await s.control.cancelConsumer('celery', [HOSTS[0]!]);
        expect(ack.replies.get(HOSTS[0]!)?.ok).toMatch(/no longer consuming from celery/);
      }
      const drained = await Promise.all(
        [real, emulated].map((s) =>
          waitFor('one consumer left', async () => {
            const o = await observe(s);
            return o.queue?.consumers === 1 && o.workers?.some((w) => !w.consuming) ? o : undefined;
          }),
        ),
      );
      expect(seen(drained[1])).toEqual(seen(drained[0]));
      expect(seen(drained[0]).consuming).toEqual([false, true]);
    }, 120_000);
  },
);
