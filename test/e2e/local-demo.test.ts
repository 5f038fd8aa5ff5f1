import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { describeWithRabbit, REPO_ROOT } from '../support/services.ts';

const run = promisify(execFile);

describeWithRabbit('npm run demo -- --synthetic --short (what CI runs of the synthetic demo)', () => {
  it(
    'runs the loop, prints a summary with no loss, duplicate or busy retirement, and writes the chart',
    { timeout: 240_000 },
    async () => {
      const out = mkdtempSync(join(tmpdir(), 'oqe-local-demo-'));
      try {
        const { stdout } = await run(
          'npx',
          ['tsx', 'local/demo.ts', '--synthetic', '--short', '--no-live', '--out', out],
          {
            cwd: REPO_ROOT,
            timeout: 230_000,
            maxBuffer: 8 * 1024 * 1024,
          },
        );
        expect(stdout).toMatch(/tasks completed: +60\/60/);
        expect(stdout).toMatch(/tasks lost: +0\n/);
        expect(stdout).toMatch(/tasks run twice: +0\n/);
        expect(stdout).toMatch(/busy workers retired: +0\n/);
        expect(stdout).toMatch(/queue left on broker: +0\n/);
        const chart = join(out, 'demo-chart.svg');
        expect(stdout).toContain(chart);
        expect(existsSync(chart)).toBe(true);
        expect(readFileSync(chart, 'utf8')).toMatch(/^<svg[\s\S]*<path [\s\S]*<\/svg>\n$/);
        // The broker password of the test administrator never reaches the output.
        expect(stdout).not.toContain('oqe-test-admin-loopback');
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    },
  );
});
