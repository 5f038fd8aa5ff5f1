/**
 * The layer rule of `npm run lint` (eslint-rules/layer-boundaries.js, configured in eslint.config.js) refuses
 * each deliberate violation in test/fixtures/layer-violations/ and accepts the same kind of import where the
 * layout allows it. Linted with the project's own ESLint configuration, as `npm run lint` does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/services.ts';

const FIXTURES = join(REPO_ROOT, 'test/fixtures/layer-violations');
const eslint = new ESLint({ cwd: REPO_ROOT });

async function layerMessages(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, filePath) });
  return result!.messages.filter((m) => m.ruleId === 'layers/layer-boundaries').map((m) => m.message);
}

describe('lint: import boundaries between the layers', () => {
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.ts'));

  it('has a fixture for each boundary', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(8);
  });

  it.each(fixtures)('refuses the violation in %s, naming both files and why', async (fixture) => {
    const code = readFileSync(join(FIXTURES, fixture), 'utf8');
    const as = /^\/\/ as: (\S+)/.exec(code)?.[1];
    expect(as).toBeDefined();
    const messages = await layerMessages(code, as!);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(new RegExp(`^${as!.replace(/[.]/g, '\\.')} may not import \\S+: .+`));
  });

  it('accepts the imports the layout allows', async () => {
    const allowed: [string, string][] = [
      ['bridge/src/config/fixture.ts', "export * from '../../../contract/bridge-settings.ts';"],
      ['cdk/lib/fixture.ts', "export * from '../../contract/prices.ts';"],
      ['bridge/src/decide/fixture.ts', "export type * from '../observe/observation.ts';"],
      ['local/fleet/fixture.ts', "export * from '../../bridge/src/compute/compute-backend.ts';"],
      ['tools/dashboard-preview/fixture.ts', "export * from '../../bench/sim/fleet-simulator.ts';"],
      ['local/cluster/fixture.ts', "export * from '../../common/prng.ts';"],
      ['test/unit/fixture.ts', "export * from '../../local/services.ts';"],
    ];
    for (const [path, code] of allowed) expect(await layerMessages(code, path), path).toEqual([]);
  });

  it('finds no violation in the tree as it stands', async () => {
    const results = await eslint.lintFiles(['contract', 'cdk', 'bridge', 'local']);
    const crossed = results.flatMap((r) => r.messages.filter((m) => m.ruleId === 'layers/layer-boundaries'));
    expect(crossed).toEqual([]);
  });
});
