/**
 * The master's scripts as the boot installs them: one file each, with the shared modules they import from
 * cdk/assets/master/ inlined (cdk/lib/master/master-script.ts), and refused when the inlined code would not run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CALCULATIONS_METRIC_SCRIPT } from '../../cdk/lib/master/calculations-metric.ts';
import { APPLY_SETTINGS_SCRIPT } from '../../cdk/lib/master/master-settings.ts';
import { readMasterScript } from '../../cdk/lib/master/master-script.ts';
import { REPO_ROOT } from '../support/services.ts';

const ENGINE_DATABASE = readFileSync(`${REPO_ROOT}cdk/assets/master/engine_database.py`, 'utf8');
/** engine_database.py from its first definition on: what each installed script must hold verbatim. */
const COUNT_EXECUTING = ENGINE_DATABASE.slice(ENGINE_DATABASE.indexOf('def count_executing(')).trimEnd();

const fixtures = mkdtempSync(join(tmpdir(), 'oqe-master-script-'));
const fixtureUrl = pathToFileURL(`${fixtures}/`);
afterAll(() => rmSync(fixtures, { recursive: true, force: true }));

function fixture(files: Record<string, string>): void {
  for (const [name, text] of Object.entries(files)) writeFileSync(join(fixtures, name), text);
}

describe('master scripts with shared modules', () => {
  it.each([
    ['oq-apply-settings', APPLY_SETTINGS_SCRIPT],
    ['oq-calculations-metric', CALCULATIONS_METRIC_SCRIPT],
  ])(
    '%s carries the engine database count itself, not an import of a module the master does not have',
    (_, script) => {
      expect(script).toContain(COUNT_EXECUTING);
      expect(script).not.toMatch(/^from engine_database import/m);
      expect(script.match(/^def count_executing\(/gm)).toHaveLength(1);
    },
  );

  it('inlines only modules that sit beside the script, keeping library imports', () => {
    fixture({
      'shared.py': 'import os\n\n\n# why\ndef here():\n    return os.sep\n',
      'script.py':
        'import os\nfrom collections import OrderedDict\n\nfrom shared import here\n\n\nprint(here())\n',
    });
    expect(readMasterScript('script.py', fixtureUrl)).toBe(
      'import os\nfrom collections import OrderedDict\n\n# why\ndef here():\n    return os.sep\n\n\nprint(here())\n',
    );
  });

  it.each([
    {
      refused: 'a script that lacks an import the inlined definitions use, naming it',
      shared: 'import sqlite3\n\n\ndef count():\n    return sqlite3\n',
      script: 'import os\n\nfrom shared import count\n',
      error: 'script.py inlines shared.py, whose definitions use sqlite3: add `import sqlite3`',
    },
    {
      refused: 'a name the module does not define',
      shared: 'import os\n\n\ndef count():\n    return os\n',
      script: 'import os\n\nfrom shared import counted\n',
      error: 'script.py imports counted from shared.py, which does not define it',
    },
  ])('refuses $refused', ({ shared, script, error }) => {
    fixture({ 'shared.py': shared, 'script.py': script });
    expect(() => readMasterScript('script.py', fixtureUrl)).toThrow(error);
  });
});
