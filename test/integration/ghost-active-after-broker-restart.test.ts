import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RemoteControlWorkerControl } from '../../bridge/src/act/remote-control-worker-control.ts';
import { ScaleActor } from '../../bridge/src/act/scale-actor.ts';
import { fleetObservation, type ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import { decide } from '../../bridge/src/decide/decide.ts';
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { ManagementApi } from '../../bridge/src/observe/management-api.ts';
import { CeleryObserver } from '../../bridge/src/observe/observer.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import { PrivateRabbit } from '../support/private-rabbit.ts';
import { describeWithRabbit, PYTHON, RABBIT_ADMIN } from '../support/services.ts';
import {
  ensureCelery44,
  findCelery44Python,
  startWorker,
  submitTasks,
  TESTAPP_DIR,
  type StartedWorker,
} from '../../local/celery-workers.ts';
import { waitFor } from '../../local/timeouts.ts';

/** A private RabbitMQ on ports of its own: restarting it never disturbs the shared broker. */
const PRIVATE = { amqp: 5791, management: 15791, dist: 25791 };
const AMQP_URL = `amqp://${RABBIT_ADMIN.user}:${RABBIT_ADMIN.password}@127.0.0.1:${PRIVATE.amqp}//`;
/** Longer than the broker restart (about 12 s here), so the first attempts are still running when it is back. */
const TASK_SECONDS = 16;

interface ActiveEntry {
  readonly id: string;
  /** celery's `time_start`, seconds since the epoch. */
  readonly timeStart: number;
  readonly acknowledged: boolean;
  readonly redelivered: boolean;
  readonly workerPid: number;
}

let lastInspectError = '';

/**
 * An in-process stub backend whose units are the test's own celery workers (nothing real can stand in: the
 * workers are started by the test, not by a backend); `retire` records what the actor retired.
 */
function workersAsUnits(hostnames: () => readonly string[]): ComputeBackend & { retired: string[] } {
  const retired: string[] = [];
  const units = () =>
    hostnames()
      .filter((h) => !retired.includes(h))
      .map((h) => ({ unitId: h, celeryHostname: h, state: 'running' as const, startedAt: 0 }));
  return {
    name: 'stub',
    retired,
    describe: () => Promise.resolve(fleetObservation(units().length, units(), Date.now())),
    scaleTo: () => Promise.resolve(),
    retire: (ids) => {
      retired.push(...ids);
      return Promise.resolve();
    },
    protect: () => Promise.resolve(),
    release: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

const POLICY: ScalingPolicy = {
  minWorkers: 0,
  maxWorkers: 4,
  slotsPerWorkerFallback: 2,
  maxStepOut: 4,
  idleGraceSeconds: 0,
  staleAfterSeconds: 30,
  maxHourlyCost: Infinity,
  workerHourlyCost: 0.1,
};

/**
 * celery's own `inspect active`, with the fields of the reply that the bridge's observation does not carry yet.
 * Asked with the worker's own celery (`python`): celery 4.4 answers remote control in JSON only, the test app's
 * celery 5.5 client accepts pickle only.
 */
function inspectActive(
  python: string,
  hostnames: readonly string[],
): Record<string, ActiveEntry[]> | undefined {
  const code = [
    'import json, sys, oq_testapp',
    'r = oq_testapp.app.control.inspect(sys.argv[1:], timeout=2).active() or {}',
    'print(json.dumps({h: [dict(id=t["id"], acknowledged=t["acknowledged"], workerPid=t["worker_pid"],',
    '    timeStart=t["time_start"],',
    '    redelivered=bool((t.get("delivery_info") or {}).get("redelivered"))) for t in ts] for h, ts in r.items()}))',
  ].join('\n');
  const out = spawnSync(python, ['-c', code, ...hostnames], {
    cwd: TESTAPP_DIR,
    env: { ...process.env, OQ_TESTAPP_BROKER: AMQP_URL },
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (out.status !== 0) {
    lastInspectError = out.stderr.slice(-400);
    return undefined;
  }
  const replies = JSON.parse(out.stdout) as Record<string, ActiveEntry[]>;
  lastInspectError = `replies from ${Object.keys(replies).join(', ') || 'nobody'}`;
  return Object.keys(replies).length === hostnames.length ? replies : undefined;
}

async function queueFigures(): Promise<{ ready: number; unacked: number; consumers: number } | undefined> {
  const auth = Buffer.from(`${RABBIT_ADMIN.user}:${RABBIT_ADMIN.password}`).toString('base64');
  const res = await fetch(
    `http://127.0.0.1:${PRIVATE.management}/api/queues/%2F/celery?columns=messages_ready,messages_unacknowledged,consumers`,
    { headers: { authorization: `Basic ${auth}` } },
  ).catch(() => undefined);
  if (!res?.ok) return undefined;
  const q = (await res.json()) as {
    messages_ready?: number;
    messages_unacknowledged?: number;
    consumers?: number;
  };
  return {
    ready: q.messages_ready ?? -1,
    unacked: q.messages_unacknowledged ?? -1,
    consumers: q.consumers ?? -1,
  };
}

interface JournalEntry {
  readonly event: 'start' | 'partial' | 'end';
  readonly task_id: string;
  readonly worker: string;
  readonly redelivered: boolean;
  readonly t: number;
}

function readJournal(path: string): JournalEntry[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as JournalEntry);
  } catch {
    return [];
  }
}

/** The engine's celery 4.4.7 (contract/engine-release.json), when a Python that can run it is installed. */
const PYTHON44 = findCelery44Python();

describeWithRabbit('ghost `active` tasks after a RabbitMQ restart (real workers, private broker)', () => {
  const rabbit = new PrivateRabbit('ghost-test', PRIVATE);
  let celery44: string | undefined;
  const workers: StartedWorker[] = [];
  const closers: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    if (PYTHON44) celery44 = ensureCelery44(PYTHON44);
    else console.warn('no Python 3.8/3.9 for celery 4.4.7: its half of the ghost test is skipped');
    await rabbit.start();
  }, 400_000);

  afterAll(async () => {
    for (const close of closers) await close();
    for (const w of workers) w.kill();
    await rabbit.dispose();
  }, 60_000);

  it(
    'celery 5.5 keeps an interrupted task in `active` after its requeued copy ran elsewhere; celery 4.4.7 does not',
    { timeout: 240_000 },
    async () => {
      const journal = join(rabbit.dir, 'journal.jsonl');
      const w55 = await startWorker({ amqpUrl: AMQP_URL, hostname: 'oq@ghost-55', concurrency: 2, journal });
      workers.push(w55);
      const ids55 = submitTasks(AMQP_URL, 41, [TASK_SECONDS, TASK_SECONDS]);
      const startedOn = async (n: number) =>
        readJournal(journal).filter((e) => e.event === 'start').length === n ? true : undefined;
      await waitFor('the celery 5.5 worker to start both tasks', () => startedOn(2), 20_000);

      // The bridge's own observer, cross-checking `active` against the queue's unacked count (issue 14 item 7),
      // with a short ghost window so that the test does not wait 30 s.
      const session = new BrokerSession({
        host: '127.0.0.1',
        port: PRIVATE.amqp,
        vhost: '/',
        username: RABBIT_ADMIN.user,
        password: RABBIT_ADMIN.password,
      });
      const rc = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 1500 });
      const probe = new QueueProbe(
        session,
        'celery',
        new ManagementApi({
          url: `http://127.0.0.1:${PRIVATE.management}`,
          username: RABBIT_ADMIN.user,
          password: RABBIT_ADMIN.password,
        }),
        '/',
      );
      const fleet = workersAsUnits(() =>
        workers.filter((w) => !w.hostname.endsWith('-44')).map((w) => w.hostname),
      );
      const observer = new CeleryObserver({
        queueProbe: probe,
        remoteControl: rc,
        compute: fleet,
        managementLagMs: 5000,
        ghostAfterMs: 3000,
      });
      closers.push(async () => {
        await rc.close();
        await probe.close();
        await session.close();
      });
      // Real running tasks are never ghosts: the broker counts their messages unacked.
      for (let i = 0; i < 4; i++) {
        const o = await observer.observe();
        expect(o.workers?.flatMap((w) => w.ghosts ?? [])).toEqual([]);
        await new Promise((r) => setTimeout(r, 1500));
      }
      let w44: StartedWorker | undefined;
      let ids44: string[] = [];
      if (celery44) {
        w44 = await startWorker({
          amqpUrl: AMQP_URL,
          hostname: 'oq@ghost-44',
          concurrency: 2,
          journal,
          celeryBin: celery44,
          argsreprShim: true,
        });
        workers.push(w44);
        ids44 = submitTasks(AMQP_URL, 42, [TASK_SECONDS, TASK_SECONDS]);
        await waitFor('the celery 4.4.7 worker to start both tasks', () => startedOn(4), 20_000);
      }
      // An idle worker that takes requeued copies: a ghost stays only on a worker that does not receive its
      // own task's copy (a copy's request replaces the ghost's under the same task id in celery's state).
      const spare = await startWorker({
        amqpUrl: AMQP_URL,
        hostname: 'oq@ghost-spare',
        concurrency: 2,
        journal,
      });
      workers.push(spare);

      const outageFrom = Date.now() / 1000;
      await rabbit.stop();
      await rabbit.start();
      const ids = [...ids55, ...ids44];

      // Every task ends at least once, and then the broker holds no message at all.
      await waitFor(
        'every task to end and the queue to be empty',
        async () => {
          const entries = readJournal(journal);
          const ended = new Set(entries.filter((e) => e.event === 'end').map((e) => e.task_id));
          const open =
            entries.filter((e) => e.event === 'start').length -
            entries.filter((e) => e.event === 'end').length;
          const q = await queueFigures();
          return ids.every((id) => ended.has(id)) && open === 0 && q?.ready === 0 && q.unacked === 0
            ? true
            : undefined;
        },
        150_000,
      );
      const entries = readJournal(journal);
      // Both the interrupted first attempts and their copies ran to the end (celery 4.4.7 and 5.5 alike do not
      // stop a running task when the connection drops): every task ran twice, the second time redelivered.
      for (const id of ids) {
        const ends = entries.filter((e) => e.event === 'end' && e.task_id === id);
        expect(ends.map((e) => e.redelivered).sort()).toEqual([false, true]);
      }

      const active55 = await waitFor('the celery 5.5 worker to answer `active`', async () =>
        inspectActive(PYTHON, [w55.hostname, spare.hostname]),
      ).catch((e: Error) => {
        throw new Error(`${e.message} (last: ${lastInspectError})`);
      });
      // Nothing runs and the broker holds nothing, yet the 5.5 worker still lists interrupted first attempts:
      // never acknowledged, not redelivered, started before the outage. These are the ghosts.
      const ghosts = active55[w55.hostname]!;
      expect(ghosts.length).toBeGreaterThanOrEqual(1);
      for (const g of ghosts) {
        expect(ids55).toContain(g.id);
        expect(g).toMatchObject({ acknowledged: false, redelivered: false });
        expect(g.timeStart).toBeLessThan(outageFrom);
      }
      expect(active55[spare.hostname]).toEqual([]);

      // The bridge sets the ghosts apart once the broker has read 0 unacked for the ghost window, and the fleet
      // shrinks: the ghost-holding worker is drained and retired like any idle one.
      const cycle = await waitFor(
        'the observer to set the ghosts apart',
        async () => {
          const o = await observer.observe();
          const w = o.workers?.find((x) => x.hostname === w55.hostname);
          return w && w.active.length === 0 && (w.ghosts ?? []).length > 0 ? o : undefined;
        },
        60_000,
      );
      const ghostIds = cycle.workers!.find((w) => w.hostname === w55.hostname)!.ghosts!.map((t) => t.id);
      expect(ghostIds.sort()).toEqual(ghosts.map((g) => g.id).sort());
      expect(cycle.queue).toMatchObject({ ready: 0, unacked: 0 });
      const decision = decide(cycle, POLICY, { idleSince: {} }, Date.now());
      expect(decision.reason).toBe('DrainingIdle');
      expect(decision.retire).toContain(w55.hostname);
      const actor = new ScaleActor({
        backend: fleet,
        control: new RemoteControlWorkerControl(rc),
        queue: 'celery',
      });
      const action = await actor.act(decision, cycle);
      expect(action.kind).toBe('scaleIn');
      expect(fleet.retired).toContain(w55.hostname);

      if (w44 && celery44) {
        const python44bin = join(celery44, '..', 'python');
        const active44 = await waitFor('the celery 4.4.7 worker to answer `active`', async () =>
          inspectActive(python44bin, [w44.hostname]),
        ).catch((e: Error) => {
          throw new Error(`${e.message} (last: ${lastInspectError})`);
        });
        expect(active44).toEqual({ [w44.hostname]: [] });
      }
    },
  );
});
