import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { LocalFleet } from '../../local/fleet/local-fleet.ts';
import { podmanFleet } from '../../local/fleet/podman-runtime.ts';
import {
  createTestVhost,
  describeWithRabbit,
  managementApi,
  RABBIT_ADMIN,
  type TestVhost,
} from '../support/services.ts';
import { waitFor } from '../../local/timeouts.ts';
import { ensureWorkerImage } from '../support/worker-image.ts';

/** Containers start and report slowly: a minute, looking every half second. */
const until = <T>(what: string, probe: () => Promise<T | undefined>) => waitFor(what, probe, 60_000, 500);

describeWithRabbit('podman backend (containers of the real worker image)', () => {
  let vhost: TestVhost;
  let stateDir: string;
  let backend: LocalFleet;
  let sharedDir: string;
  // The test administrator on this file's vhost, as the workers' entrypoint is given the broker.
  const adminBroker = () => ({
    host: '127.0.0.1',
    port: 5672,
    vhost: vhost.vhost,
    user: RABBIT_ADMIN.user,
    password: RABBIT_ADMIN.password,
  });

  beforeAll(async () => {
    const image = await ensureWorkerImage();
    vhost = await createTestVhost('oqe-local-podman');
    stateDir = mkdtempSync(join(tmpdir(), 'oqe-local-podman-'));
    // The worker runs as uid 1200 and refuses a shared_dir it cannot read, as on EFS with a wrong access point.
    sharedDir = join(stateDir, 'shared');
    mkdirSync(sharedDir);
    chmodSync(sharedDir, 0o755);
    backend = podmanFleet({
      image,
      broker: adminBroker(),
      stateDir,
      sharedDir,
      concurrency: 1,
      retireTimeoutMs: 20_000,
    });
  }, 900_000);

  afterAll(async () => {
    await backend?.shutdownAll(5_000);
    await vhost?.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts a container whose celery worker is oq@<unitId>, pending until celery is ready', async () => {
    // Overlapping calls (the bridge's describe, its scaleTo, the demo's sampler) must start one container, not three.
    await Promise.all([backend.scaleTo(1), backend.describe(), backend.describe()]);
    const first = await backend.describe();
    expect(first.desired).toBe(1);
    expect(first.units).toHaveLength(1);
    expect(first.units[0].celeryHostname).toBe(`oq@${first.units[0].unitId}`);
    const ready = await until('a running worker', async () => {
      const d = await backend.describe();
      return d.running === 1 ? d : undefined;
    });
    expect(ready.units[0].unitId).toBe(first.units[0].unitId);
    expect(backend.lastFailure).toBeUndefined();
    // The worker really is on the broker: the vhost's celery queue has its consumer.
    const consumers = await until('the worker consuming the vhost celery queue', async () => {
      const response = await managementApi('GET', `/api/consumers/${encodeURIComponent(vhost.vhost)}`);
      const list = (await response.json()) as Array<{ queue: { name: string } }>;
      return list.some((c) => c.queue.name === 'celery') ? list : undefined;
    });
    expect(consumers.length).toBeGreaterThan(0);
  });

  it('a new backend on the same state dir adopts the container; retire stops exactly it', async () => {
    const again = podmanFleet({
      image: 'unused-for-adoption',
      broker: { host: '127.0.0.1', port: 5672, vhost: vhost.vhost, user: 'x', password: 'y' },
      stateDir,
      sharedDir: stateDir,
    });
    const seen = await again.describe();
    expect(seen.desired).toBe(1);
    const [unit] = seen.units;
    await again.retire([unit.unitId]);
    await again.retirementsSettled();
    const after = await again.describe();
    expect(after.desired).toBe(0);
    expect(after.units).toHaveLength(0);
    expect(again.lifecycle().some((e) => e.event === 'retire' && e.unitId === unit.unitId)).toBe(true);
  });

  it('reports why a unit that cannot start exited (the entrypoint refuses an unreadable shared_dir)', async () => {
    const closed = join(stateDir, 'closed');
    mkdirSync(closed, { mode: 0o700 });
    const failing = podmanFleet({
      image: await ensureWorkerImage(),
      broker: adminBroker(),
      stateDir: join(stateDir, 'failing'),
      sharedDir: closed,
      concurrency: 1,
    });
    try {
      await failing.scaleTo(1);
      await until('the failed start to be reported', async () => {
        await failing.describe();
        return failing.lastFailure;
      });
      expect(failing.lastFailure).toMatch(/exited with 78: .*OQ_SHARED_DIR/);
      expect(failing.lastFailure).not.toContain(RABBIT_ADMIN.password);
    } finally {
      await failing.shutdownAll(1_000);
    }
  });

  it('rejects a bad port and unknown units, naming the value', async () => {
    expect(() =>
      podmanFleet({
        image: 'x',
        broker: { host: 'h', port: 0, vhost: 'v', user: 'u', password: 'p' },
        stateDir,
        sharedDir: stateDir,
      }),
    ).toThrow(/broker.port is 0/);
    await expect(backend.retire(['nope'])).rejects.toThrow(/no live unit nope/);
  });
});
