/**
 * `npm run status:local`: the product's status report of a local process fleet, read by a second process from
 * the fleet's state directory. Real celery workers, the real entry point run as a child process.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { EXIT_CONFIG_REFUSED } from '../../bridge/src/cli.ts';
import type { StatusReport } from '../../bridge/src/cli/status-report.ts';
import type { LocalFleet } from '../../local/fleet/local-fleet.ts';
import { processFleet } from '../../local/fleet/process-runtime.ts';
import { writeRunRecord } from '../../local/run-record.ts';
import { createTestVhost, describeWithRabbit, REPO_ROOT, type TestVhost } from '../support/services.ts';
import { runCommand } from '../support/worker-image.ts';
import { scaleAndAwaitRunning } from '../support/fleet-running.ts';

/** Runs `local/status.ts` as `npm run status:local` does; its exit code, stdout and stderr interleaved. */
function localStatus(...args: string[]): Promise<{ code: number; out: string }> {
  return runCommand(join(REPO_ROOT, 'node_modules/.bin/tsx'), [join(REPO_ROOT, 'local/status.ts'), ...args]);
}

describeWithRabbit('status:local (the bridge status of a local process fleet)', () => {
  let vhost: TestVhost;
  let stateDir: string;
  let fleet: LocalFleet;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-local-status');
    stateDir = mkdtempSync(join(tmpdir(), 'oqe-local-status-'));
    fleet = processFleet({ brokerUrl: vhost.amqpUrl, stateDir, concurrency: 1, retireTimeoutMs: 20_000 });
    writeRunRecord(stateDir, { vhost: vhost.vhost, backend: 'process', remoteControlSerializer: 'pickle' });
    await scaleAndAwaitRunning(fleet, 2);
  }, 60_000);

  afterAll(async () => {
    await fleet?.shutdownAll(10_000);
    await vhost?.cleanup();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('counts the fleet and its workers from a second process, and starts nothing', async () => {
    const spawned = fleet.lifecycle().filter((e) => e.event === 'spawn').length;
    const { code, out } = await localStatus('--state-dir', stateDir, '--json');
    expect(code, out).toBe(0);
    const report = JSON.parse(out) as StatusReport;
    expect(report.fleet).toEqual({ desired: 2, running: 2, pending: 0 });
    const units = (await fleet.describe()).units.map((u) => u.unitId).sort();
    expect(report.hosts.map((h) => h.unitId).sort()).toEqual(units);
    expect(report.hosts.map((h) => h.status)).toEqual(['Online', 'Online']);
    expect(report.totals.workers).toBe(2);
    expect(report.missing).toEqual([]);
    expect(fleet.lifecycle().filter((e) => e.event === 'spawn')).toHaveLength(spawned);

    // One retired: the next look counts one worker.
    await fleet.retire([units[0]!]);
    await fleet.retirementsSettled();
    const after = JSON.parse((await localStatus('--state-dir', stateDir, '--json')).out) as StatusReport;
    expect(after.fleet).toEqual({ desired: 1, running: 1, pending: 0 });
    expect(after.hosts.map((h) => h.unitId)).toEqual([units[1]]);
  }, 60_000);

  it('fails, saying why, without a run in the directory or once the run has gone', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'oqe-local-status-empty-'));
    try {
      const none = await localStatus('--state-dir', empty);
      expect(none.code).toBe(2);
      expect(none.out).toContain(`${empty}/run.json: no local run here`);
      // The run's vhost is gone (the run ended): the broker refuses it, and the report is no success.
      writeRunRecord(empty, {
        vhost: `${vhost.vhost}-gone`,
        backend: 'process',
        remoteControlSerializer: 'pickle',
      });
      const gone = await localStatus('--state-dir', empty);
      expect(gone.code).toBe(EXIT_CONFIG_REFUSED);
      expect(gone.out).toContain(`refused vhost '${vhost.vhost}-gone'`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  }, 60_000);
});
