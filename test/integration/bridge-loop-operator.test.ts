/**
 * The bridge's loop as operators meet it (issue 14), wired exactly as `run` wires it (the environment loader,
 * the runtime's observer with the management API, remote control and the drain-protocol actor) over the local
 * process backend with real celery workers (the engine-like test app) and the local RabbitMQ:
 * - item 4: a decision is logged, with its id, before its action; the outcome follows under the same id;
 * - item 5: a retirement does not hold the cycle until the workers exit, and the next cycle scales out at once;
 * - item 6: after a worker SIGKILL, the messages the broker requeued are counted once (ready), not also as the
 *   management API's stale unacked: no spurious scale-out;
 * - item 3: a password changed under a running bridge raises BrokerRefused and is logged in full once.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBridgeRuntime, type BridgeRuntime } from '../../bridge/src/cli/bridge-runtime.ts';
import type { LocalFleet } from '../../local/fleet/local-fleet.ts';
import { processFleet } from '../../local/fleet/process-runtime.ts';
import { loadBridgeConfig } from '../../bridge/src/config/bridge-config.ts';
import {
  createTestVhost,
  describeWithRabbit,
  managementApi,
  MANAGEMENT_URL,
  RABBIT_ADMIN,
  type TestVhost,
} from '../support/services.ts';
import { submitTasks } from '../../local/celery-workers.ts';
import { waitFor } from '../../local/timeouts.ts';

type Line = Record<string, unknown> & { event: string };

function bridgeEnvironment(vhost: string, user = RABBIT_ADMIN.user, password = RABBIT_ADMIN.password) {
  return {
    OQE_BACKEND: 'process',
    OQE_BROKER_HOST: '127.0.0.1',
    OQE_BROKER_VHOST: vhost,
    OQE_BROKER_USER: user,
    OQE_BROKER_PASSWORD: password,
    OQE_MANAGEMENT_URL: MANAGEMENT_URL,
    OQE_REMOTE_CONTROL_SERIALIZER: 'pickle',
    OQE_MIN_WORKERS: '0',
    OQE_MAX_WORKERS: '4',
    OQE_SLOTS_PER_WORKER: '2',
    OQE_IDLE_GRACE_SECONDS: '0',
    OQE_WORKER_STARTUP_SECONDS: '60',
    OQE_POLL_SECONDS: '1',
    OQE_ACTIVATION_CHECK_MS: '0',
  };
}

describeWithRabbit('the bridge loop as operators meet it (real workers, real RabbitMQ)', () => {
  let vhost: TestVhost;
  let dir: string;
  let backend: LocalFleet;
  let runtime: BridgeRuntime;
  const logs: Line[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-bridge-operator');
    dir = mkdtempSync(join(tmpdir(), 'oqe-bridge-operator-'));
    backend = processFleet({
      brokerUrl: vhost.amqpUrl,
      stateDir: dir,
      concurrency: 2,
      retireTimeoutMs: 30_000,
    });
    runtime = createBridgeRuntime(loadBridgeConfig(bridgeEnvironment(vhost.vhost)), {
      backend,
      log: (event, fields = {}) => logs.push({ event, ...fields }),
    });
  });

  afterAll(async () => {
    await runtime?.close();
    // The requeue test leaves its 40 s tasks running, which nothing reads: a warm shutdown would wait them out.
    await backend?.shutdownAll(2_000);
    await vhost?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function untilWorkersAnswer(n: number): Promise<void> {
    await waitFor(
      `${n} workers to answer`,
      async () => {
        const o = await runtime.observer.observe();
        // Consumers too: a worker answers remote control a moment before it consumes the `celery` queue.
        return o.workers?.length === n && o.compute?.running === n && o.queue?.consumers === n
          ? true
          : undefined;
      },
      60_000,
    );
  }

  it('logs the decision before the drain, retires without waiting for the exit, then scales out at once', async () => {
    await backend.scaleTo(2);
    await untilWorkersAnswer(2);
    const loop = runtime.loop();
    // A drain whose second look gets no answer in 2 s is aborted (the safe outcome); on a loaded machine that
    // happens, so the decision is taken again until a retirement goes through.
    let drained = await loop.runOnce();
    for (let i = 0; i < 4 && drained.action.kind !== 'scaleIn'; i++) {
      await untilWorkersAnswer(2);
      drained = await loop.runOnce();
    }
    const cycleEnded = Date.now();
    expect(drained.decision.reason).toBe('DrainingIdle');
    expect(drained.action.kind, JSON.stringify(logs.filter((l) => /drain|action/.test(l.event)))).toBe(
      'scaleIn',
    );
    expect(drained.action.retired).toHaveLength(2);
    // Item 5: the cycle is over while the retired workers are still in their warm shutdown.
    const meanwhile = await backend.describe();
    const retiring = meanwhile.units.filter((u) => drained.action.retired.includes(u.unitId));
    expect(retiring.some((u) => u.state === 'stopping')).toBe(true);

    // Item 4: decision (with its id) -> drain -> action (same id), in that order.
    const decisionAt = logs.findIndex((l) => l.event === 'decision' && l.id === drained.id);
    const drainAt = logs.findIndex((l, i) => i > decisionAt && l.event === 'drain-confirmed');
    const actionAt = logs.findIndex((l) => l.event === 'action' && l.id === drained.id);
    expect(decisionAt).toBeGreaterThanOrEqual(0);
    expect(drainAt).toBeGreaterThan(decisionAt);
    expect(actionAt).toBeGreaterThan(drainAt);
    expect(logs[decisionAt]).toMatchObject({ reason: 'DrainingIdle', retire: drained.decision.retire });
    expect(logs[actionAt]).toMatchObject({ action: 'scaleIn', retired: drained.action.retired });

    // New work while the retired workers may still be exiting: the very next cycle scales out.
    submitTasks(vhost.amqpUrl, 7, [1, 1, 1]);
    const next = await loop.runOnce();
    expect(next.decision.reason).toBe('Activate');
    expect(next.action).toMatchObject({ kind: 'scaleOut', from: 0, to: 2 });
    expect(loop.recentDecisions.map((d) => d.reason)).toEqual(['DrainingIdle', 'Activate']);
    await backend.retirementsSettled();
    console.info(
      `DrainingIdle cycle ${drained.durationMs} ms (2 drains side by side); the retired workers had exited ` +
        `${Date.now() - cycleEnded} ms after it ended (upper bound); the next cycle scaled out in ${next.durationMs} ms`,
    );
  });

  it('counts the messages a killed worker left behind once, as ready: no spurious scale-out', async () => {
    await untilWorkersAnswer(2);
    // Both workers busy with two long tasks each (prefetch 1 per process): 4 unacked, 0 ready.
    submitTasks(vhost.amqpUrl, 8, [40, 40, 40, 40]);
    await waitFor(
      'both workers to run two tasks each and the management API to count 4 unacked',
      async () => {
        const o = await runtime.observer.observe();
        const busy = o.workers?.every((w) => w.active.length === 2) && o.workers.length === 2;
        const mgmt = await (
          await managementApi(
            'GET',
            `/api/queues/${encodeURIComponent(vhost.vhost)}/celery?columns=messages_unacknowledged`,
          )
        ).json();
        return busy && (mgmt as { messages_unacknowledged?: number }).messages_unacknowledged === 4
          ? true
          : undefined;
      },
      60_000,
    );
    const [victim] = (await backend.describe()).units.filter((u) => u.state === 'running');
    // No replacement for the victim: a new worker would take the requeued messages before a cycle could count
    // them (seen on a loaded machine). The decision still sees the fleet short of its target.
    await backend.scaleTo(1);
    await backend.kill(victim!.unitId);
    // The broker requeues the victim's two messages as soon as its connection drops.
    const seen = await waitFor(
      'the passive declare to see the two requeued messages',
      async () => {
        const cycle = await runtime.loop(true).runOnce();
        return cycle.observation.queue?.ready === 2 && cycle.observation.workers?.length === 1
          ? cycle
          : undefined;
      },
      // Each cycle waits out the killed worker's missing replies; a loaded CI machine needs several.
      45_000,
    );
    const q = seen.observation.queue!;
    // 2 ready + 2 running on the survivor = 4 messages; the stale management figure (4 unacked) must not add 2.
    expect(q.ready + q.unacked).toBe(4);
    expect(seen.decision.demand).toBe(4);
    expect(seen.decision.target).toBe(2);
    expect(['Steady', 'IdleGrace', 'ScaleOut']).toContain(seen.decision.reason);
    expect(seen.decision.desired).toBeLessThanOrEqual(2);
    // Each source's own figure is in the log line's source text.
    // (With `reserved` not asked this cycle, issue 17's rule, the workers' figure is left out of the unacked text.)
    expect(q.source).toMatch(/^ready 2, consumers \d: passive declare; unacked 2: /);
    expect(q.source).toMatch(/management API \d+/);
    console.info(`requeue fusion: ${q.source}`);
  }, 150_000);

  it('raises BrokerRefused and logs the refusal in full once when the password changes under it', async () => {
    const user = `oqe-refused-${randomBytes(3).toString('hex')}`;
    const password = randomBytes(12).toString('hex');
    await managementApi('PUT', `/api/users/${user}`, { password, tags: 'management' });
    await managementApi('PUT', `/api/permissions/${encodeURIComponent(vhost.vhost)}/${user}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    const emitted: Record<string, unknown>[] = [];
    const lines: Line[] = [];
    const own = createBridgeRuntime(loadBridgeConfig(bridgeEnvironment(vhost.vhost, user, password)), {
      backend: processFleet({ brokerUrl: vhost.amqpUrl, stateDir: join(dir, 'refused') }),
      log: (event, fields = {}) => lines.push({ event, ...fields }),
      emitMetrics: (d) => emitted.push(d),
    });
    try {
      const loop = own.loop(true);
      await loop.runOnce();
      expect(emitted.filter((d) => d.Heartbeat === 1).at(-1)).toMatchObject({ BrokerRefused: 0 });

      await managementApi('PUT', `/api/users/${user}`, { password: 'changed-elsewhere', tags: 'management' });
      // The management API lists a connection only after its next statistics emission.
      const theirs = await waitFor(
        'the bridge connection to be listed',
        async () => {
          const all = (await (await managementApi('GET', '/api/connections?columns=name,user')).json()) as {
            name: string;
            user: string;
          }[];
          const mine = all.filter((c) => c.user === user);
          return mine.length > 0 ? mine : undefined;
        },
        20_000,
      );
      for (const c of theirs) await managementApi('DELETE', `/api/connections/${encodeURIComponent(c.name)}`);

      // The management API refuses at once; the broker once the bridge reconnects after the dropped connection.
      for (let i = 0; i < 30 && !/ACCESS_REFUSED/.test(own.configurationRefusal() ?? ''); i++) {
        await new Promise((r) => setTimeout(r, 300));
        await loop.runOnce();
      }
      const refusedCycles = [await loop.runOnce(), await loop.runOnce(), await loop.runOnce()];
      const cycleDocuments = emitted.filter((d) => d.Heartbeat === 1);
      expect(cycleDocuments.slice(-3).map((d) => d.BrokerRefused)).toEqual([1, 1, 1]);
      for (const c of refusedCycles)
        expect(
          c.decision.reason,
          JSON.stringify([c.observation.errors, c.observation.queue, own.configurationRefusal()]),
        ).toBe('HoldOnMissingData');
      const decisions = lines.filter((l) => l.event === 'decision');
      const first = decisions.findIndex((l) => /ACCESS_REFUSED/.test(String(l.refused)));
      expect(first).toBeGreaterThanOrEqual(0);
      expect(decisions[first]!.errors).toBeDefined();
      const later = decisions.slice(first + 1);
      expect(later.length).toBeGreaterThanOrEqual(3);
      for (const l of later) {
        expect(l.detail).toBeUndefined();
        expect(l.errors).toBeUndefined();
        expect(JSON.stringify(l).length).toBeLessThan(400);
      }
      expect(JSON.stringify(lines)).not.toContain(password);
    } finally {
      await own.close();
      await managementApi('DELETE', `/api/users/${user}`);
    }
  });
});
