import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINE_RELEASE } from '../../contract/cluster-constants.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The pinned engine's virtual environment that scripts/setup-engine-env.sh builds. */
export const ENGINE_VENV = process.env.OQE_ENGINE_VENV ?? join(REPO_ROOT, '.engine-venv');

/** A program of the engine's environment (`python`, `oq`, `celery`). */
export function engineBin(program: string): string {
  return join(ENGINE_VENV, 'bin', program);
}

/** Where the engine wheel keeps its QA jobs (`classical/case_13` ...). */
export function engineQaDir(): string {
  return join(
    ENGINE_VENV,
    'lib',
    `python${ENGINE_RELEASE.python}`,
    'site-packages',
    'openquake',
    'qa_tests_data',
  );
}

/** True when the engine's environment has been built. */
export function engineEnvAvailable(): boolean {
  return existsSync(engineBin('oq')) && existsSync(join(ENGINE_VENV, '.installed'));
}

/** Throws, naming the fix, when the engine's environment is missing. */
export function assertEngineEnv(): void {
  if (!engineEnvAvailable()) {
    throw new Error(
      `the OpenQuake Engine ${ENGINE_RELEASE.engine} environment is missing at ${ENGINE_VENV}: run ` +
        'bash scripts/setup.sh (it builds it with Python 3.8), or set OQE_ENGINE_VENV to one',
    );
  }
}
