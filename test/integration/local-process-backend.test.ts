import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalFleet } from '../../local/fleet/local-fleet.ts';
import { processFleet } from '../../local/fleet/process-runtime.ts';
import type { WorkerLaunch } from '../../local/fleet/worker-launch.ts';
import { createTestVhost, describeWithRabbit, type TestVhost } from '../support/services.ts';
import { waitFor } from '../../local/timeouts.ts';

describeWithRabbit('process backend (real celery workers as local processes)', () => {
  let vhost: TestVhost;
  let stateDir: string;
  let backend: LocalFleet;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-local-proc');
    stateDir = mkdtempSync(join(tmpdir(), 'oqe-local-proc-'));
    backend = processFleet({
      brokerUrl: vhost.amqpUrl,
      stateDir,
      concurrency: 1,
      retireTimeoutMs: 20_000,
    });
  });

  afterAll(async () => {
    await backend?.shutdownAll(10_000);
    await vhost?.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('starts units as pending, reports them running once celery is ready, and names them oq@<unitId>', async () => {
    await backend.scaleTo(2);
    const first = await backend.describe();
    expect(first.desired).toBe(2);
    expect(first.units).toHaveLength(2);
    expect(first.pending + first.running).toBe(2);
    for (const u of first.units) expect(u.celeryHostname).toBe(`oq@${u.unitId}`);
    const ready = await waitFor('two running workers', async () => {
      const d = await backend.describe();
      return d.running === 2 ? d : undefined;
    });
    expect(ready.pending).toBe(0);
  });

  it('retires exactly the named unit with a warm shutdown and lowers desired by one', async () => {
    const before = await backend.describe();
    const [victim, survivor] = before.units;
    await backend.retire([victim.unitId]);
    // retire does not wait for the warm shutdown (issue 14 item 5): the unit is `stopping` until it exits.
    const meanwhile = await backend.describe();
    expect(meanwhile.desired).toBe(1);
    expect(meanwhile.units.find((u) => u.unitId === victim.unitId)?.state).toBe('stopping');
    await backend.retirementsSettled();
    const after = await backend.describe();
    expect(after.desired).toBe(1);
    expect(after.units.map((u) => u.unitId)).toEqual([survivor.unitId]);
    const events = backend.lifecycle().filter((e) => e.unitId === victim.unitId);
    expect(events.map((e) => e.event)).toContain('retire');
    expect(events.find((e) => e.event === 'retire')?.signal).toBe('SIGTERM');
    // Warm shutdown finished within the timeout: no SIGKILL was needed.
    expect(events.some((e) => e.event === 'kill')).toBe(false);
  });

  it('replaces a unit killed outright, as an ECS service keeps its desired count', async () => {
    const [only] = (await backend.describe()).units;
    await backend.kill(only.unitId);
    const replaced = await waitFor('a replacement unit', async () => {
      const d = await backend.describe();
      return d.units.length === 1 && d.units[0].unitId !== only.unitId ? d : undefined;
    });
    expect(replaced.desired).toBe(1);
  });

  it('a new backend on the same state dir adopts the live fleet (bridge restart)', async () => {
    const again = processFleet({ brokerUrl: vhost.amqpUrl, stateDir, concurrency: 1 });
    const seen = await again.describe();
    expect(seen.desired).toBe(1);
    expect(seen.units.map((u) => u.unitId)).toEqual((await backend.describe()).units.map((u) => u.unitId));
  });

  it('rejects unknown unit ids and bad counts with a message naming the value', async () => {
    await expect(backend.retire(['nope'])).rejects.toThrow(/no live unit nope/);
    await expect(backend.scaleTo(-1)).rejects.toThrow(/desired is -1/);
    expect(() => processFleet({ brokerUrl: 'http://x', stateDir })).toThrow(/brokerUrl/);
  });
});

describe('process backend with a launch of the caller (any worker command, item 7 of issue 11)', () => {
  let stateDir: string;
  let backend: LocalFleet | undefined;
  const saved = process.env.OQE_BROKER_PASSWORD;

  afterAll(async () => {
    await backend?.shutdownAll(5_000);
    if (saved === undefined) delete process.env.OQE_BROKER_PASSWORD;
    else process.env.OQE_BROKER_PASSWORD = saved;
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  it("passes only the launch's variables (never the bridge's password) and reads readiness from the probe", async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'oqe-local-launch-'));
    process.env.OQE_BROKER_PASSWORD = 'bridge-secret-not-for-workers';
    const asked: string[][] = [];
    let answer = false;
    // A stand-in worker that prints its environment and stays up; it never logs celery's " ready.".
    const launch: WorkerLaunch = {
      name: 'env-printer',
      command: 'python3',
      args: (unit) => [
        '-c',
        'import os, sys, time; print(sorted(os.environ)); print(sys.argv[1]); sys.stdout.flush(); time.sleep(60)',
        unit.hostname,
      ],
      env: (unit) => ({ MY_WORKER_SETTING: `for-${unit.unitId}` }),
    };
    backend = processFleet({
      stateDir,
      launch,
      readiness: async (hostnames) => {
        asked.push([...hostnames]);
        return new Set(answer ? hostnames : []);
      },
    });
    await backend.scaleTo(1);
    const unit = (await backend.describe()).units[0]!;
    expect(unit.state).toBe('pending');
    const log = await waitFor('the worker to print its environment', async () => {
      const text = readFileSync(join(stateDir, `${unit.unitId}.log`), 'utf8');
      return text.includes(unit.celeryHostname) ? text : undefined;
    });
    // Exactly the launch's variables and the backend's four, none of this process's (OQE_BROKER_PASSWORD).
    expect(log.split('\n')[0]).toBe("['HOME', 'LANG', 'MY_WORKER_SETTING', 'OQE_UNIT_ID', 'PATH']");
    expect(log).not.toContain('OQE_BROKER_PASSWORD');
    expect(asked.at(-1)).toEqual([unit.celeryHostname]);
    answer = true;
    expect((await backend.describe()).units[0]).toMatchObject({ unitId: unit.unitId, state: 'running' });
  });
});
