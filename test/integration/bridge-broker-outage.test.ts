/**
 * The broker goes away for 30 s during a run. The shared RabbitMQ must never be stopped, so the outage is made
 * where the bridge sees it: its AMQP and management connections go through loopback TCP proxies that drop every
 * connection and refuse new ones for 30 s. The celery workers (local processes) stay connected directly.
 * The bridge must hold the fleet, log why, and recover without a restart.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createBridgeRuntime, type BridgeRuntime } from '../../bridge/src/cli/bridge-runtime.ts';
import type { LocalFleet } from '../../local/fleet/local-fleet.ts';
import { processFleet } from '../../local/fleet/process-runtime.ts';
import { loadBridgeConfig } from '../../bridge/src/config/bridge-config.ts';
import type { CycleResult } from '../../bridge/src/loop/control-loop.ts';
import {
  createTestVhost,
  describeWithRabbit,
  RABBIT_ADMIN,
  SERVICE_PORTS,
  type TestVhost,
} from '../support/services.ts';
import { scaleAndAwaitRunning } from '../support/fleet-running.ts';

const OUTAGE_MS = 30_000;

/** A loopback TCP proxy that can be cut: every connection dropped, new ones refused, until restored. */
class CuttableProxy {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private down = false;
  constructor(private readonly targetPort: number) {}

  async start(): Promise<number> {
    this.server = createServer((client) => {
      if (this.down) return void client.destroy();
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.down = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describeWithRabbit('broker outage of 30 s during a run (loopback proxies cut)', () => {
  let vhost: TestVhost;
  let dir: string;
  let backend: LocalFleet;
  let runtime: BridgeRuntime;
  const amqpProxy = new CuttableProxy(SERVICE_PORTS.rabbitmq[0]);
  const mgmtProxy = new CuttableProxy(SERVICE_PORTS.rabbitmq[1]);
  const logs: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-bridge-outage');
    dir = mkdtempSync(join(tmpdir(), 'oqe-bridge-outage-'));
    backend = processFleet({
      brokerUrl: vhost.amqpUrl,
      stateDir: dir,
      concurrency: 1,
      retireTimeoutMs: 20_000,
    });
    const amqpPort = await amqpProxy.start();
    const mgmtPort = await mgmtProxy.start();
    const config = loadBridgeConfig({
      OQE_BACKEND: 'process',
      OQE_BROKER_HOST: '127.0.0.1',
      OQE_BROKER_PORT: String(amqpPort),
      OQE_BROKER_VHOST: vhost.vhost,
      OQE_BROKER_USER: RABBIT_ADMIN.user,
      OQE_BROKER_PASSWORD: RABBIT_ADMIN.password,
      OQE_MANAGEMENT_URL: `http://127.0.0.1:${mgmtPort}`,
      OQE_REMOTE_CONTROL_SERIALIZER: 'pickle',
      OQE_IDLE_GRACE_SECONDS: '4',
      OQE_POLL_SECONDS: '1',
      OQE_STALE_AFTER_SECONDS: '10',
      OQE_SLOTS_PER_WORKER: '1',
    });
    runtime = createBridgeRuntime(config, {
      backend,
      log: (event, fields) => logs.push({ event, ...fields }),
    });
  });

  afterAll(async () => {
    await runtime?.close();
    await backend?.shutdownAll(20_000);
    await amqpProxy.stop();
    await mgmtProxy.stop();
    await vhost?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'holds the fleet while the broker is away, logs why, and recovers without a restart',
    async () => {
      await scaleAndAwaitRunning(backend, 2);
      const loop = runtime.loop();
      const cycle = async (): Promise<CycleResult> => {
        const r = await loop.runOnce();
        await new Promise((resolve) => setTimeout(resolve, 1000));
        return r;
      };
      // Up: two idle workers, inside the idle grace.
      const before = await cycle();
      expect(before.decision.reason).toBe('IdleGrace');

      amqpProxy.cut();
      mgmtProxy.cut();
      const cutAt = Date.now();
      const during: CycleResult[] = [];
      while (Date.now() - cutAt < OUTAGE_MS) during.push(await cycle());
      amqpProxy.restore();
      mgmtProxy.restore();
      const restoredAt = Date.now();

      // 30 s of outage, well past the 4 s idle grace: every decision held, nothing retired, fleet intact.
      expect(during.length).toBeGreaterThanOrEqual(10);
      for (const r of during) {
        expect(r.decision.reason).toBe('HoldOnMissingData');
        expect(r.decision.retire).toEqual([]);
        expect(r.action.kind).toBe('none');
      }
      expect((await backend.describe()).running).toBe(2);
      const held = logs.filter((l) => l.event === 'decision' && l.reason === 'HoldOnMissingData');
      expect(held.length).toBe(during.length);
      for (const h of held)
        expect(String(h.detail)).toMatch(
          /^holding: no (queue|workers|queue, workers) observation this cycle: .*(unreachable|Channel ended|ECONNRE|closed)/,
        );
      expect(JSON.stringify(held)).not.toContain(RABBIT_ADMIN.password);

      // Recovery, same process: the first cycle after the restore sees the broker again; the idle streaks
      // restart, so the idle workers are retired only a full grace after the outage.
      const after: CycleResult[] = [];
      while (!after.some((r) => r.action.kind === 'scaleIn')) {
        if (Date.now() - restoredAt > 30_000) throw new Error('no recovery within 30 s of the restore');
        after.push(await cycle());
      }
      const firstSeen = after.findIndex((r) => !r.decision.reason.startsWith('Hold'));
      expect(firstSeen).toBeGreaterThanOrEqual(0);
      expect(firstSeen).toBeLessThanOrEqual(3);
      const firstRetire = after.find((r) => r.action.kind === 'scaleIn')!;
      // The decision's clock is read inside the cycle, so the cycle's end bounds it. A correctness bound: a bridge
      // that kept its idle streaks through the outage retires in the first cycles, and load only lengthens it.
      expect(firstRetire.startedAt + firstRetire.durationMs - restoredAt).toBeGreaterThanOrEqual(4000);
      console.log(
        `outage: ${during.length} held cycles; after restore: first observation in cycle ${firstSeen + 1}, ` +
          `first retirement ${Math.round((firstRetire.startedAt - restoredAt) / 100) / 10} s after the restore`,
      );
    },
    OUTAGE_MS + 90_000,
  );
});
