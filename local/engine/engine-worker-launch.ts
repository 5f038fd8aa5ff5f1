import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerLaunch } from '../fleet/worker-launch.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The product's worker: the image's entrypoint (worker-image/entrypoint/oq_worker_entrypoint.py) on the engine's
 * Python, with the variables the ECS task definition sets, so the worker runs the image's exact engine command
 * (`celery worker --config openquake.engine.celeryconfig -n oq@<unit> -Q celery -Ofair ...`, never --purge), the
 * celery 4.x shim, and its SIGTERM drain. OQ_WORKER_ID names each worker after its unit, as the ECS task id does.
 */
export function engineEntrypointLaunch(options: {
  /** The OQ_* variables of the master the workers serve (LocalEngineMaster.workerEnvironment()). */
  readonly workerEnvironment: Record<string, string>;
  /** The engine's virtual environment (its bin has `python` and `celery`). */
  readonly engineVenv: string;
}): WorkerLaunch {
  return {
    name: 'engine',
    command: join(options.engineVenv, 'bin', 'python'),
    args: () => [join(REPO_ROOT, 'worker-image', 'entrypoint', 'oq_worker_entrypoint.py'), 'worker'],
    env: (unit) => ({
      ...options.workerEnvironment,
      OQ_WORKER_ID: unit.unitId,
      OQ_WORKER_CONCURRENCY: String(unit.concurrency),
      OQ_CONFIG_FILE: join(unit.unitDir, 'openquake.cfg'),
      // Celery refuses the engine's pickle serializer as root without it; the image runs as uid 1200 instead.
      C_FORCE_ROOT: '1',
      PYTHONUNBUFFERED: '1',
      // The entrypoint and the celery 4.x shim are loaded from the source tree: no __pycache__ in it.
      PYTHONDONTWRITEBYTECODE: '1',
    }),
    path: `${join(options.engineVenv, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
  };
}
