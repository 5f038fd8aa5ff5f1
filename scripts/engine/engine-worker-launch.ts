import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** One worker the process backend is about to start. */
export interface WorkerUnit {
  readonly unitId: string;
  /** Its celery hostname, `oq@<unitId>`, unique on the broker. */
  readonly hostname: string;
  /** Pool processes (celery `-c`). */
  readonly concurrency: number;
  /** A directory of the unit's own (its rendered configuration, for example). */
  readonly unitDir: string;
}

/**
 * How a local backend starts one worker: any celery app and command, with exactly the environment the worker
 * needs. Nothing of the caller's environment is passed on unless listed here (the bridge's own holds the broker
 * password of its monitoring user, OQE_BROKER_PASSWORD, which a worker has no use for).
 */
export interface WorkerLaunch {
  /** A short name for logs: `engine`, `testapp`, or the user's. */
  readonly name: string;
  readonly command: string;
  readonly args: (unit: WorkerUnit) => string[];
  /** The worker's whole environment (the backend adds only PATH, HOME, LANG and its unit id). */
  readonly env: (unit: WorkerUnit) => Record<string, string>;
  readonly cwd?: string;
  /** PATH of the worker. @default '/usr/local/bin:/usr/bin:/bin' */
  readonly path?: string;
}

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
    }),
    path: `${join(options.engineVenv, 'bin')}:/usr/local/bin:/usr/bin:/bin`,
  };
}

/**
 * Readiness read from the workers themselves: the hostnames that answer a celery remote-control `ping` (a worker
 * answers once its consumers run, whatever its log level), instead of a line in its log.
 */
export function pingReadiness(control: CeleryRemoteControl) {
  return async (hostnames: readonly string[]): Promise<ReadonlySet<string>> => {
    if (hostnames.length === 0) return new Set();
    const replies = await control
      .ping({ destination: [...hostnames], timeoutMs: 1000 })
      .catch(() => undefined);
    return new Set(replies ? [...replies.replies.keys()] : []);
  };
}
