import type { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';

/** One worker a local backend is about to start. */
export interface WorkerUnit {
  readonly unitId: string;
  /** Its celery hostname, `oq@<unitId>`, unique on the broker. */
  readonly hostname: string;
  /** Pool processes (celery `-c`). */
  readonly concurrency: number;
  /** A private directory of the unit's own, removed when it exits (its rendered configuration, for example). */
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
  /** The worker's environment; the backend adds only PATH, HOME, LANG and its unit id. */
  readonly env: (unit: WorkerUnit) => Record<string, string>;
  /** @default the unit's directory */
  readonly cwd?: string;
  /** PATH of the worker. @default '/usr/local/bin:/usr/bin:/bin' */
  readonly path?: string;
}

/** Which of these celery hostnames are ready to take tasks, as the workers themselves say. */
export type WorkerReadiness = (hostnames: readonly string[]) => Promise<ReadonlySet<string>>;

/**
 * The engine-like test app (worker-image/testapp, celery 5.5 with the pickle serializer) as a worker:
 * `celery -A oq_testapp worker -n oq@<unit> -O fair -Q celery --loglevel INFO`, never --purge.
 */
export function testAppLaunch(options: {
  /** AMQP URL with the vhost; it holds a password, so it goes in the environment only. */
  readonly brokerUrl: string;
  readonly python: string;
  readonly appDir: string;
  /** The tasks' journal (OQ_TESTAPP_JOURNAL). @default none */
  readonly journalPath?: string;
}): WorkerLaunch {
  return {
    name: 'testapp',
    command: options.python,
    args: (unit) => [
      '-m',
      'celery',
      '-A',
      'oq_testapp',
      'worker',
      '-n',
      unit.hostname,
      '-c',
      String(unit.concurrency),
      '-O',
      'fair',
      '-Q',
      'celery',
      '--loglevel',
      'INFO',
    ],
    env: () => ({
      OQ_TESTAPP_BROKER: options.brokerUrl,
      // Celery refuses pickle as root without it; the machines that run the demo run as root.
      C_FORCE_ROOT: '1',
      PYTHONUNBUFFERED: '1',
      // The app's directory is the source tree: no __pycache__ in it.
      PYTHONDONTWRITEBYTECODE: '1',
      ...(options.journalPath ? { OQ_TESTAPP_JOURNAL: options.journalPath } : {}),
    }),
    cwd: options.appDir,
  };
}

/**
 * Readiness read from the workers themselves: the hostnames that answer a celery remote-control `ping` (a worker
 * answers once its consumers run, whatever its log level), instead of a line in its log.
 */
export function pingReadiness(control: CeleryRemoteControl): WorkerReadiness {
  return async (hostnames) => {
    if (hostnames.length === 0) return new Set();
    const replies = await control
      .ping({ destination: [...hostnames], timeoutMs: 1000 })
      .catch(() => undefined);
    return new Set(replies ? [...replies.replies.keys()] : []);
  };
}
