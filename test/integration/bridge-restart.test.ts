/**
 * A bridge that died in the middle of drains leaves workers with their consumer cancelled. A new bridge
 * process keeps no state of the old one: it rebuilds everything from observation, gives the consumer back to
 * the workers it keeps and retires the surplus only after a full idle grace. Real celery workers (local
 * processes that outlive the bridge, as ECS tasks do), the real observer and actor.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBridgeRuntime } from '../../bridge/src/cli/bridge-runtime.ts';
import type { LocalFleet } from '../../local/fleet/local-fleet.ts';
import { processFleet } from '../../local/fleet/process-runtime.ts';
import { loadBridgeConfig } from '../../bridge/src/config/bridge-config.ts';
import type { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { type BrokerClients, openBrokerClients } from '../support/broker-clients.ts';
import { createTestVhost, describeWithRabbit, RABBIT_ADMIN, type TestVhost } from '../support/services.ts';
import { submitTasks } from '../../local/celery-workers.ts';
import { scaleAndAwaitRunning } from '../support/fleet-running.ts';

describeWithRabbit('bridge restart mid-drain (real celery workers)', () => {
  let vhost: TestVhost;
  let dir: string;
  let backend: LocalFleet;
  let clients: BrokerClients;
  let rc: CeleryRemoteControl;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-bridge-restart');
    dir = mkdtempSync(join(tmpdir(), 'oqe-bridge-restart-'));
    backend = processFleet({
      brokerUrl: vhost.amqpUrl,
      stateDir: dir,
      concurrency: 1,
      journalPath: join(dir, 'journal.jsonl'),
      retireTimeoutMs: 20_000,
    });
    clients = openBrokerClients(vhost.endpoint, { serializer: 'pickle', timeoutMs: 2000 });
    rc = clients.control;
  });

  afterAll(async () => {
    await clients?.close();
    await backend?.shutdownAll(20_000);
    await vhost?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives the kept worker its consumer back and retires the surplus only after the grace', async () => {
    await scaleAndAwaitRunning(backend, 2);
    const hostnames = (await backend.describe()).units.map((u) => u.celeryHostname);
    // What a bridge that died mid-drain leaves behind: both workers stopped consuming.
    const cancelled = await rc.cancelConsumer('celery', hostnames);
    expect([...cancelled.replies.keys()].sort()).toEqual([...hostnames].sort());
    const consuming = async (): Promise<Map<string, boolean>> => {
      const q = await rc.activeQueues({ expect: hostnames, timeoutMs: 2000 });
      return new Map(hostnames.map((h) => [h, (q.replies.get(h) ?? []).includes('celery')]));
    };
    // Celery confirms cancel_consumer before it acts on it (consumer.call_soon): look until it has.
    const cancelDeadline = Date.now() + 10_000;
    let states = [...(await consuming()).values()];
    while (states.some(Boolean) && Date.now() < cancelDeadline) {
      await new Promise((r) => setTimeout(r, 250));
      states = [...(await consuming()).values()];
    }
    expect(states).toEqual([false, false]);

    // A new bridge process: no memory of the old one.
    const config = loadBridgeConfig({
      OQE_BACKEND: 'process',
      OQE_BROKER_HOST: '127.0.0.1',
      OQE_BROKER_VHOST: vhost.vhost,
      OQE_BROKER_USER: RABBIT_ADMIN.user,
      OQE_BROKER_PASSWORD: RABBIT_ADMIN.password,
      OQE_MANAGEMENT_URL: 'http://127.0.0.1:15672',
      OQE_REMOTE_CONTROL_SERIALIZER: 'pickle',
      OQE_MIN_WORKERS: '1',
      OQE_IDLE_GRACE_SECONDS: '3',
      OQE_SLOTS_PER_WORKER: '1',
    });
    const runtime = createBridgeRuntime(config, { backend });
    try {
      const loop = runtime.loop();
      const first = await loop.runOnce();
      // min 1, 2 idle workers: one is surplus, but this process has not seen it idle for the grace yet.
      expect(first.decision.reason).toBe('IdleGrace');
      expect([...first.action.restored].sort()).toEqual(
        (await backend.describe()).units.map((u) => u.unitId).sort(),
      );
      // add_consumer is acknowledged before the worker subscribes (celery schedules it with call_soon).
      const subscribedBy = Date.now() + 5000;
      while ([...(await consuming()).values()].some((c) => !c) && Date.now() < subscribedBy) {
        await new Promise((r) => setTimeout(r, 200));
      }
      expect([...(await consuming()).values()]).toEqual([true, true]);

      let retired: readonly string[] = [];
      const started = Date.now();
      while (retired.length === 0) {
        if (Date.now() - started > 20_000) throw new Error('no retirement within 20 s');
        await new Promise((r) => setTimeout(r, 500));
        const cycle = await loop.runOnce();
        retired = cycle.action.retired;
        if (retired.length === 0) expect(cycle.decision.retire).toEqual([]);
      }
      // The idle streak began at the first cycle of this process: nothing is retired before a full grace (a
      // correctness bound: a bridge that dated the streak from before its start would retire in its first
      // cycles; load only lengthens it).
      expect(Date.now() - first.startedAt).toBeGreaterThanOrEqual(3000);
      expect(retired).toHaveLength(1);
      const left = await backend.describe();
      expect(left.units.filter((u) => u.state !== 'stopping')).toHaveLength(1);

      // The worker kept consumes again: a task submitted now runs.
      const [taskId] = submitTasks(vhost.amqpUrl, 9, [0.2]);
      const journal = join(dir, 'journal.jsonl');
      const until = Date.now() + 20_000;
      const ended = (): boolean =>
        existsSync(journal) && readFileSync(journal, 'utf8').includes(`"task_id": "${taskId}"`);
      while (!ended()) {
        if (Date.now() > until) throw new Error('the kept worker did not take the task');
        await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      await runtime.close();
    }
  }, 90_000);
});
