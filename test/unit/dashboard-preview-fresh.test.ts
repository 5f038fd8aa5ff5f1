import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');

// docs/dashboard-preview.svg is what README shows of the dashboard: it must be the dashboard the CDK app
// synthesizes today, not the one of some earlier commit (it once lagged a new alarm by a whole session).
it('the committed dashboard preview is what `npm run preview` renders from this commit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oqe-preview-'));
  try {
    const fresh = join(dir, 'dashboard-preview.svg');
    execFileSync(
      join(REPO, 'node_modules', '.bin', 'tsx'),
      ['scripts/preview-dashboard.ts', '--out', fresh],
      {
        cwd: REPO,
        stdio: 'pipe',
      },
    );
    const committed = readFileSync(join(REPO, 'docs', 'dashboard-preview.svg'), 'utf8');
    expect(
      readFileSync(fresh, 'utf8') === committed,
      'docs/dashboard-preview.svg is stale: run `npm run preview` and commit it',
    ).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
