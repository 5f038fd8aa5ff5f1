import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/services.ts';

/** The names of the readonly members declared in `interface <name> { ... }` of a TypeScript source. */
function declaredProps(file: string, name: string): string[] {
  const source = readFileSync(join(REPO_ROOT, file), 'utf8');
  const start = source.indexOf(`export interface ${name} {`);
  expect(start, `${name} in ${file}`).toBeGreaterThanOrEqual(0);
  const body = source.slice(start, source.indexOf('\n}\n', start));
  return [...body.matchAll(/^\s+readonly (\w+)\??:/gm)].map((m) => m[1]!).sort();
}

// The Python package's facade copies the props by hand (jsii cannot compile the library itself): a prop added
// to the construct and not to the facade would be missing in Python without any error.
describe('jsii facade (jsii/src/index.ts)', () => {
  it('declares exactly the props of OqElasticCluster', () => {
    const library = declaredProps('cdk/lib/oq-elastic-cluster.ts', 'OqElasticClusterProps');
    expect(library.length).toBeGreaterThan(30);
    expect(declaredProps('jsii/src/index.ts', 'OqElasticClusterProps')).toEqual(library);
  });

  it('declares exactly the price overrides of the price table', () => {
    expect(declaredProps('jsii/src/index.ts', 'PriceOverrides')).toEqual(
      declaredProps('contract/prices.ts', 'PriceTable'),
    );
  });
});
