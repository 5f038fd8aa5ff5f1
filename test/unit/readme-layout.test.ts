import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..', '..');

/** README's "Project layout" section, up to the next heading. */
function layoutSection(): string {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const start = readme.indexOf('## Project layout');
  expect(start, 'README.md has a "## Project layout" section').toBeGreaterThanOrEqual(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** The tracked paths' entries directly under `folder` ('' for the top): `name/` for folders, `name` for files. */
function trackedEntries(folder: string): string[] {
  const files = execFileSync('git', ['ls-files', folder === '' ? '.' : folder], {
    cwd: REPO,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f !== '');
  const prefix = folder === '' ? '' : `${folder}/`;
  const entries = files.map((f) => {
    const rest = f.slice(prefix.length);
    const slash = rest.indexOf('/');
    return slash < 0 ? rest : `${rest.slice(0, slash)}/`;
  });
  return [...new Set(entries)].sort();
}

// A newcomer reads the architecture from this section: a folder it does not name is a part nobody placed.
it("README's layout names every top-level folder, every part of local/ and every stage of the bridge", () => {
  const section = layoutSection();
  const expected = [
    ...trackedEntries('').filter((e) => e.endsWith('/') && !e.startsWith('.')),
    ...trackedEntries('local'),
    ...trackedEntries('bridge/src').filter((e) => e.endsWith('/')),
  ];
  const missing = expected.filter((name) => !section.includes(name));
  expect(missing, 'name these in README.md\'s "Project layout"').toEqual([]);
});
