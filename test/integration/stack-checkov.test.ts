/**
 * checkov (Bridgecrew/Prisma Cloud's policy scanner) over the synthesized template: a second, independent opinion
 * next to cdk-nag and cfn-lint. Every check the cluster does not pass is listed in CHECKOV_SKIPS with a one-line
 * reason; anything else fails, and so does a skip that no longer matches a finding (a stale reason).
 *
 * checkov lives in .venv-checkov (scripts/setup.sh): its pins would downgrade what .venv's tools use. Outside CI
 * a missing checkov skips this file; in CI (CI=true) it fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OqElasticStack } from '../../cdk/lib/oq-elastic-stack.ts';
import { CHECKOV_SKIPS } from '../support/checkov-skips.ts';
import { REPO_ROOT, requireServices } from '../support/services.ts';

const run = promisify(execFile);
const CHECKOV = join(REPO_ROOT, '.venv-checkov/bin/checkov');
const missing = !existsSync(CHECKOV) && !requireServices();

interface CheckovFailure {
  readonly check_id: string;
  readonly check_name: string;
  readonly resource: string;
}

describe.skipIf(missing)(
  `stack: checkov${missing ? ' (skipped: no .venv-checkov; run scripts/setup.sh)' : ''}`,
  () => {
    let dir: string;
    let failures: CheckovFailure[];

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'oqe-checkov-'));
      const app = new App({ outdir: dir });
      // The WebUI with a CIDR: the variant with the most resources and the only ingress from outside the VPC.
      const stack = new OqElasticStack(app, 'CheckovTest', {
        cluster: { webUi: true, webUiAllowedCidr: '10.20.0.0/16' },
      });
      app.synth();
      const template = join(dir, `${stack.artifactId}.template.json`);
      // Exit code 1 means "some check failed": the JSON report says which.
      const { stdout } = await run(
        CHECKOV,
        ['-f', template, '--framework', 'cloudformation', '--output', 'json', '--quiet', '--compact'],
        { maxBuffer: 64 * 1024 * 1024, timeout: 300_000, env: { ...process.env, BC_SKIP_MAPPING: 'TRUE' } },
      ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
      const report = JSON.parse(stdout) as { results?: { failed_checks?: CheckovFailure[] } };
      failures = report.results?.failed_checks ?? [];
    }, 360_000);

    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('fails no check that is not listed, with its reason, in CHECKOV_SKIPS', () => {
      const unexpected = failures
        .filter((f) => !(f.check_id in CHECKOV_SKIPS))
        .map((f) => `${f.check_id} ${f.check_name} (${f.resource})`);
      expect(unexpected).toEqual([]);
    });

    it('lists no skip that no finding needs, and gives each a one-line reason', () => {
      const found = new Set(failures.map((f) => f.check_id));
      for (const [id, reason] of Object.entries(CHECKOV_SKIPS)) {
        expect(found.has(id), `${id} is skipped but checkov no longer reports it: remove it`).toBe(true);
        expect(reason.length, id).toBeGreaterThan(20);
        expect(reason, id).not.toContain('\n');
      }
    });
  },
);
