/**
 * Scale-in with real celery workers (the engine-like test app, acks_late, prefetch 1, -O fair, no --purge)
 * under a trickle of short and long tasks, driven by the real decide() and ScaleActor over the local process
 * backend and the real remote-control client. The idle grace is 0, the most adversarial setting: a worker
 * idle at one observation may receive a task before its drain, which the drain protocol must catch.
 *
 * Checked from what the workers themselves journaled: no retired worker was running a task when it was
 * retired, none started one afterwards, every submitted task ran exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RemoteControlWorkerControl } from '../../bridge/src/act/remote-control-worker-control.ts';
import { ScaleActor } from '../../bridge/src/act/scale-actor.ts';
import type { LocalFleet } from '../../local/fleet/local-fleet.ts';
import { processFleet } from '../../local/fleet/process-runtime.ts';
import { decide } from '../../bridge/src/decide/decide.ts';
import type { DecisionHistory, ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import type { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import type { Observation, WorkerObservation } from '../../bridge/src/observe/observation.ts';
import type { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import { type BrokerClients, openBrokerClients } from '../support/broker-clients.ts';
import { createTestVhost, describeWithRabbit, PYTHON, type TestVhost } from '../support/services.ts';
import { TESTAPP_DIR } from '../../local/celery-workers.ts';
import { readJournal } from '../../local/cluster/journal-analysis.ts';

const POLICY: ScalingPolicy = {
  minWorkers: 0,
  maxWorkers: 4,
  // One retirement a decision, so that every retirement is its own decision and its own drain.
  maxStepIn: 1,
  slotsPerWorkerFallback: 1,
  maxStepOut: 4,
  idleGraceSeconds: 0,
  staleAfterSeconds: 30,
  maxHourlyCost: Infinity,
  workerHourlyCost: 0.1,
  workerStartupSeconds: 60,
};
const WANTED_SCALE_IN_DECISIONS = 50;
const SUBMIT_SECONDS = 80;

describeWithRabbit('scale-in with real celery workers: never a busy worker, never a lost message', () => {
  let vhost: TestVhost;
  let dir: string;
  let backend: LocalFleet;
  let clients: BrokerClients;
  let rc: CeleryRemoteControl;
  let probe: QueueProbe;
  let submitter: ChildProcess | undefined;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-bridge-scalein');
    dir = mkdtempSync(join(tmpdir(), 'oqe-bridge-scalein-'));
    backend = processFleet({
      brokerUrl: vhost.amqpUrl,
      stateDir: dir,
      concurrency: 2,
      journalPath: join(dir, 'journal.jsonl'),
      retireTimeoutMs: 30_000,
    });
    // Celery 5.5 workers: the mailbox speaks pickle (celery >= 5.1 follows task_serializer).
    clients = openBrokerClients(vhost.endpoint, { serializer: 'pickle', timeoutMs: 1500 });
    ({ control: rc, probe } = clients);
  });

  afterAll(async () => {
    submitter?.kill('SIGKILL');
    // The batched-drain test leaves the kept worker's 12 s task running, which nothing reads: a warm shutdown
    // would wait it out.
    await backend?.shutdownAll(2_000);
    await clients?.close();
    await vhost?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One observation from the real sources: the backend, the workers' replies, a passive declare. */
  async function observe(): Promise<Observation> {
    const compute = await backend.describe();
    const expect = compute.units.filter((u) => u.state === 'running').map((u) => u.celeryHostname);
    const options = { expect, timeoutMs: 1500 };
    const [active, reserved, stats, queues, passive] = await Promise.all([
      rc.active(options),
      rc.reserved(options),
      rc.stats(options),
      rc.activeQueues(options),
      probe.passive(),
    ]);
    const now = Date.now();
    const workers: WorkerObservation[] = [...active.replies.entries()]
      .filter(([hostname]) => reserved.replies.has(hostname))
      .map(([hostname, tasks]) => ({
        hostname,
        poolSize: stats.replies.get(hostname)?.poolSize,
        active: tasks,
        reserved: reserved.replies.get(hostname)!.length,
        consuming: (queues.replies.get(hostname) ?? ['?']).length > 0,
        observedAt: now,
      }));
    return {
      queue: {
        ready: passive.ready,
        unacked: 0,
        consumers: passive.consumers,
        observedAt: passive.observedAt,
        source: 'passive',
      },
      workers,
      compute,
      errors: [],
    };
  }

  it(
    `over ${WANTED_SCALE_IN_DECISIONS}+ scale-in decisions no busy worker is retired and no message is lost`,
    async () => {
      const submitted: string[] = [];
      const code = [
        // Waves: 2.5 s of tasks (every 0.1-0.4 s; 0.2-1.5 s long, one in six 6 s), then 3.5 s of quiet. The
        // fleet grows, then the demand falls below it while long tasks still hold slots: scale-in decisions
        // where some workers are idle and others half busy (two processes each), the case a count-based
        // autoscaler gets wrong.
        'import random, sys, time, oq_testapp',
        'random.seed(7); t0 = time.time(); end = t0 + float(sys.argv[1]); n = 0',
        'while time.time() < end:',
        '    if (time.time() - t0) % 6.0 > 2.5:',
        '        time.sleep(0.05); continue',
        '    d = 6.0 if n % 6 == 5 else random.uniform(0.2, 1.5)',
        '    print(oq_testapp.submit(7, n, d).id, flush=True); n += 1',
        '    time.sleep(random.uniform(0.1, 0.4))',
      ].join('\n');
      submitter = spawn(PYTHON, ['-c', code, String(SUBMIT_SECONDS)], {
        cwd: TESTAPP_DIR,
        env: { ...process.env, OQ_TESTAPP_BROKER: vhost.amqpUrl },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      submitter.stdout!.setEncoding('utf8');
      submitter.stdout!.on('data', (chunk: string) => submitted.push(...chunk.split(/\s+/).filter(Boolean)));
      const submitterDone = new Promise<void>((resolve) => submitter!.once('exit', () => resolve()));

      const actor = new ScaleActor({
        backend,
        control: new RemoteControlWorkerControl(rc, { timeoutMs: 1500 }),
        queue: 'celery',
        settleMs: 300,
      });
      let history: DecisionHistory = { idleSince: {} };
      let scaleInDecisions = 0;
      let scaleInWithBusy = 0;
      const reasons = new Map<string, number>();
      let retired = 0;
      let aborted = 0;
      let submitting = true;
      void submitterDone.then(() => (submitting = false));
      const started = Date.now();
      const journal = () => readJournal(join(dir, 'journal.jsonl'));
      const allEnded = (): boolean => {
        const ended = new Set(
          journal()
            .filter((j) => j.event === 'end')
            .map((j) => j.task_id),
        );
        return submitted.length > 0 && submitted.every((id) => ended.has(id));
      };

      for (;;) {
        const observation = await observe();
        const decision = decide(observation, POLICY, history, Date.now());
        history = decision.history;
        // A scale-in decision: demand calls for fewer workers than there are. Each one either retires idle
        // workers (DrainingIdle), waits for the grace, or finds only busy workers and retires none.
        if (
          decision.target !== undefined &&
          decision.current !== undefined &&
          decision.target < decision.current
        ) {
          scaleInDecisions++;
          const busy = observation.workers!.filter((w) => w.active.length + w.reserved > 0).length;
          if (busy > 0) scaleInWithBusy++;
        }
        reasons.set(decision.reason, (reasons.get(decision.reason) ?? 0) + 1);
        const result = await actor.act(decision, observation);
        expect(result.kind, result.detail).not.toBe('failed');
        retired += result.retired.length;
        aborted += result.aborted.length;
        if (!submitting && allEnded()) break;
        if (Date.now() - started > (SUBMIT_SECONDS + 60) * 1000)
          throw new Error('tasks did not finish in time');
        await new Promise((r) => setTimeout(r, 100));
      }

      const lines = journal();
      const retires = backend.lifecycle().filter((e) => e.event === 'retire');
      console.log(
        `scale-in decisions ${scaleInDecisions} (${scaleInWithBusy} with busy workers), retired ${retired}, drains aborted ${aborted}, tasks ${submitted.length}, ` +
          `spawned ${backend.lifecycle().filter((e) => e.event === 'spawn').length}, ${Math.round((Date.now() - started) / 1000)} s; reasons ${JSON.stringify(Object.fromEntries(reasons))}`,
      );
      expect(scaleInDecisions).toBeGreaterThanOrEqual(WANTED_SCALE_IN_DECISIONS);
      expect(retires.length).toBe(retired);
      expect(retired).toBeGreaterThan(0);
      expect(scaleInWithBusy).toBeGreaterThan(0);

      // No retired worker was running a task at its retirement, and none started one afterwards.
      for (const r of retires) {
        const hostname = `oq@${r.unitId}`;
        const at = r.t / 1000;
        const tasks = new Map<string, { start?: number; end?: number }>();
        for (const j of lines.filter((l) => l.worker === hostname)) {
          const span = tasks.get(j.task_id) ?? {};
          if (j.event === 'start') span.start = j.t;
          if (j.event === 'end') span.end = j.t;
          tasks.set(j.task_id, span);
        }
        for (const [id, span] of tasks) {
          expect(span.start! < at && span.end! > at, `${hostname} ran ${id} across its retirement`).toBe(
            false,
          );
          expect(span.start! > at, `${hostname} started ${id} after its retirement`).toBe(false);
        }
      }
      // Every submitted task ran exactly once: started once, ended once, never redelivered.
      const starts = lines.filter((l) => l.event === 'start');
      expect(new Set(starts.map((s) => s.task_id)).size).toBe(starts.length);
      expect(starts.filter((s) => s.redelivered)).toEqual([]);
      expect(new Set(lines.filter((l) => l.event === 'end').map((l) => l.task_id))).toEqual(
        new Set(submitted),
      );
      expect((await probe.passive()).ready).toBe(0);
    },
    (SUBMIT_SECONDS + 120) * 1000,
  );
  it('a batched drain retires exactly the idle workers and keeps the one that took a task between the looks', async () => {
    // Four idle workers, all chosen for retirement in one decision; a task then reaches one of them before the
    // drain starts (a stale observation, as at any idle grace). The drain is one cancel_consumer, one look and
    // one add_consumer for the whole batch: counted on the real client.
    await backend.scaleTo(4);
    let observation = await observe();
    // Ready by both counts: the workers answer and consume, and the fleet lists them running (decide() retires
    // only running units, and a worker can answer a moment before its fleet has seen it ready).
    const allFourUp = (o: Observation): boolean =>
      o.workers?.length === 4 &&
      o.workers.every((w) => w.consuming) &&
      o.compute?.units.filter((u) => u.state === 'running').length === 4;
    for (let i = 0; i < 60 && !allFourUp(observation); i++) {
      await new Promise((r) => setTimeout(r, 500));
      observation = await observe();
    }
    expect(observation.workers?.map((w) => w.active.length + w.reserved)).toEqual([0, 0, 0, 0]);
    const decision = decide(observation, { ...POLICY, maxStepIn: undefined }, { idleSince: {} }, Date.now());
    expect(decision.retire).toHaveLength(4);

    const taskId = await submitOne(12);
    let taker: string | undefined;
    for (let i = 0; i < 40 && !taker; i++) {
      const active = await rc.active({
        expect: observation.workers!.map((w) => w.hostname),
        timeoutMs: 1500,
      });
      taker = [...active.replies].find(([, tasks]) => tasks.some((t) => t.id === taskId))?.[0];
      if (!taker) await new Promise((r) => setTimeout(r, 250));
    }
    expect(taker, 'no worker took the task').toBeDefined();

    const sent: { method: string; destination: readonly string[] }[] = [];
    const broadcast = rc.broadcast.bind(rc);
    rc.broadcast = (method, args, options) => {
      sent.push({ method, destination: options?.destination ?? [] });
      return broadcast(method, args, options);
    };
    try {
      const actor = new ScaleActor({
        backend,
        control: new RemoteControlWorkerControl(rc, { timeoutMs: 1500 }),
        queue: 'celery',
      });
      const result = await actor.act(decision, observation);
      const takerUnit = taker!.slice('oq@'.length);
      expect(result.aborted).toEqual([takerUnit]);
      expect([...result.retired].sort()).toEqual(decision.retire.filter((id) => id !== takerUnit).sort());
    } finally {
      rc.broadcast = broadcast;
    }
    const batch = decision.retire.map((id) => `oq@${id}`).sort();
    expect(sent.filter((b) => b.method === 'cancel_consumer').map((b) => [...b.destination].sort())).toEqual([
      batch,
    ]);
    expect(sent.filter((b) => b.method === 'add_consumer').map((b) => b.destination)).toEqual([[taker]]);
    // Each look is one active, one reserved and one active_queues to the batch (a second only while a cancel
    // has not yet taken effect), never one per worker.
    const looks = sent.filter((b) => b.method === 'active');
    expect(looks.length).toBeGreaterThanOrEqual(1);
    expect(looks.length).toBeLessThanOrEqual(3);
    expect([...looks[0]!.destination].sort()).toEqual(batch);

    // The one that took the task still runs it, consumes again and is not retired; the others are gone.
    // Celery acknowledges add_consumer before it acts on it (call_soon), so the consumer comes back shortly after.
    let after = await observe();
    for (let i = 0; i < 20 && !after.workers?.find((w) => w.hostname === taker)?.consuming; i++) {
      await new Promise((r) => setTimeout(r, 500));
      after = await observe();
    }
    const kept = after.workers?.find((w) => w.hostname === taker);
    expect(kept?.active.map((t) => t.id)).toEqual([taskId]);
    expect(kept?.consuming).toBe(true);
    expect(after.compute!.units.filter((u) => u.state === 'running').map((u) => u.celeryHostname)).toEqual([
      taker,
    ]);
    expect(
      backend
        .lifecycle()
        .filter((e) => e.event === 'retire')
        .slice(-3)
        .map((e) => `oq@${e.unitId}`)
        .sort(),
    ).toEqual(batch.filter((h) => h !== taker));
  }, 90_000);

  /** Submits one engine-like task of `seconds` from a Python client; resolves with its celery task id. */
  async function submitOne(seconds: number): Promise<string> {
    const client = spawn(PYTHON, ['-c', `import oq_testapp; print(oq_testapp.submit(8, 0, ${seconds}).id)`], {
      cwd: TESTAPP_DIR,
      env: { ...process.env, OQ_TESTAPP_BROKER: vhost.amqpUrl },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    client.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    await new Promise<void>((resolve) => client.once('exit', () => resolve()));
    return out.trim();
  }
});
