import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { offlineEnv } from '../support/offline-env.ts';
import { REPO_ROOT } from '../support/services.ts';

const run = promisify(execFile);

/**
 * The app entry point as `cdk synth` runs it (the CLI passes context and outdir through these variables), on a
 * machine without AWS credentials: it must synthesize without any context lookup.
 */
describe('stack: the CDK app synthesizes offline from context', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  function outdir(): string {
    const dir = mkdtempSync(join(tmpdir(), 'oqe-stack-cli-'));
    dirs.push(dir);
    return dir;
  }

  it('synthesizes with -c values, no credentials and no missing context', async () => {
    const dir = outdir();
    await run(process.execPath, ['--import', 'tsx', 'cdk/bin/oq-elastic.ts'], {
      cwd: REPO_ROOT,
      env: offlineEnv({ maxWorkers: '3', workerVcpu: '2', workerMemoryGiB: '8' }, dir),
    });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.missing ?? []).toEqual([]);
    expect(existsSync(join(dir, 'OqElastic.template.json'))).toBe(true);
    const template = readFileSync(join(dir, 'OqElastic.template.json'), 'utf8');
    expect(template).toMatch(/"Name": "OQE_MAX_WORKERS",\s*"Value": "3"/);
    expect(template).toMatch(/"Cpu": "2048"/);
  }, 120_000);

  it('fails with the prop, the value and the fix when a context value is invalid', async () => {
    const dir = outdir();
    const failure = await run(process.execPath, ['--import', 'tsx', 'cdk/bin/oq-elastic.ts'], {
      cwd: REPO_ROOT,
      env: offlineEnv({ workerVcpu: '2', workerMemoryGiB: '32' }, dir),
    }).then(
      () => undefined,
      (e: { stderr: string }) => e,
    );
    expect(failure).toBeDefined();
    expect(failure!.stderr).toMatch(
      /invalid prop workerMemoryGiB=32: Fargate does not offer 32 GiB with workerVcpu=2; use 4-16 GiB/,
    );
    expect(existsSync(join(dir, 'OqElastic.template.json'))).toBe(false);
  }, 120_000);

  // Regression: this used to synthesize, and the deployed bridge then refused to start ("pays for fewer than
  // max(1, 0) workers") and crash-looped. The bridge's own checks now run at synth.
  it('fails at synth, naming maxHourlyCost, when the cap pays for less than one worker', async () => {
    const dir = outdir();
    const failure = await run(process.execPath, ['--import', 'tsx', 'cdk/bin/oq-elastic.ts'], {
      cwd: REPO_ROOT,
      env: offlineEnv({ maxHourlyCost: '0.1' }, dir),
    }).then(
      () => undefined,
      (e: { stderr: string }) => e,
    );
    expect(failure).toBeDefined();
    expect(failure!.stderr).toMatch(
      /invalid prop maxHourlyCost=0\.1: maxHourlyCost=0\.1 pays for fewer than max\(1, minWorkers=0\) workers at 0\.233\d* USD each: raise it to at least 0\.2330/,
    );
    expect(existsSync(join(dir, 'OqElastic.template.json'))).toBe(false);
  }, 120_000);
});
