/**
 * Tests that run Python (the project's `.venv`: celery, cfn-lint) are integration tests: they skip, outside CI
 * only, when that Python is missing, with the reason and the fix in the skipped test's name. In CI (CI=true or
 * OQE_REQUIRE_SERVICES=1) they run, so a missing `.venv` fails them instead of hiding them.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { PYTHON, REPO_ROOT } from '../../local/services.ts';
import { requireServices } from './services.ts';

/** cfn-lint of the project's `.venv`. */
export const CFN_LINT = join(REPO_ROOT, '.venv/bin/cfn-lint');

const SETUP_FIX = 'run bash scripts/setup.sh';

/** Why tests needing `file` cannot run here, or undefined when they can (always in CI). */
function missing(file: string): string | undefined {
  if (requireServices() || existsSync(file)) return undefined;
  return `skipped: no ${file}; ${SETUP_FIX}`;
}

/** `describe` for a group that runs the project's Python (PYTHON, or OQE_TEST_PYTHON), or `file` when given. */
export function describeWithPython(name: string, body: () => void, file: string = PYTHON): void {
  const reason = missing(file);
  if (reason) describe.skip(`${name} (${reason})`, body);
  else describe(name, body);
}

/** `it` for one test that runs the project's Python, or `file` (such as {@link CFN_LINT}) when given. */
export function itWithPython(
  name: string,
  body: () => unknown,
  timeout?: number,
  file: string = PYTHON,
): void {
  const reason = missing(file);
  if (reason) it.skip(`${name} (${reason})`, body, timeout);
  else it(name, body, timeout);
}
