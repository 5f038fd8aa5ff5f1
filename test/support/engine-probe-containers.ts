/**
 * The layout the worker-image engine probes share: a master container running the engine's own
 * `parallel.Starmap` from a script, and a worker container of the same image, both mounting one shared_dir that
 * holds the task module (as an engine job's files would be), on the host network with the local RabbitMQ.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PODMAN_RUN_LIMITS, WORKER_IMAGE_PATHS } from './worker-image.ts';
import { RABBIT_ADMIN } from './services.ts';

/**
 * The task module (`oqe_probe.py`): the engine's Starmap calls `probe(n, monitor)`, which streams two partial
 * results, each after `sleepSeconds`, naming the host that ran it.
 */
export function probeTaskModule(sleepSeconds: number): string {
  return `import socket, time

def probe(n, monitor):
    time.sleep(${sleepSeconds})
    yield {'task': n, 'part': 1, 'host': socket.gethostname()}
    time.sleep(${sleepSeconds})
    yield {'task': n, 'part': 2, 'host': socket.gethostname()}
`;
}

/** What the master scripts print once both partial results of tasks 0 to 3 came back, all run on `host`. */
export function probeResultsLine(host: string): string {
  const results = [0, 1, 2, 3].flatMap((n) => [`(${n}, 1, '${host}')`, `(${n}, 2, '${host}')`]);
  return `RESULTS [${results.join(', ')}]`;
}

/** What a probe puts in its scratch directory: the shared task module, the master's script and configuration. */
export interface EngineProbeFiles {
  /** `oqe_probe.py` in shared_dir, imported by the master and the worker. */
  readonly probeModule: string;
  /** `run_master.py`, the master's program. */
  readonly masterScript: string;
  /** The master's `openquake.cfg`. */
  readonly openquakeCfg: string;
}

/**
 * Makes a scratch root with `shared/` (read-only for the worker's uid) and `master/` (writable by the master's
 * engine, which keeps its hdf5 file there) and writes `files` into them; returns the root.
 */
export function engineProbeRoot(prefix: string, files: EngineProbeFiles): string {
  const root = mkdtempSync(join(tmpdir(), prefix));
  for (const dir of ['shared', 'master']) mkdirSync(join(root, dir));
  chmodSync(root, 0o755);
  chmodSync(join(root, 'shared'), 0o755);
  chmodSync(join(root, 'master'), 0o777);
  writeFileSync(join(root, 'shared', 'oqe_probe.py'), files.probeModule);
  writeFileSync(join(root, 'master', 'run_master.py'), files.masterScript);
  writeFileSync(join(root, 'master', 'openquake.cfg'), files.openquakeCfg);
  return root;
}

/** `podman run` options (after `run --rm`) of the master container: the image's Python on `run_master.py`. */
export function engineMasterRunOptions(root: string, image: string): string[] {
  // prettier-ignore
  return [
    '--network', 'host', '--hostname', 'engine-master', ...PODMAN_RUN_LIMITS, '--health-interval', 'disable',
    '--entrypoint', WORKER_IMAGE_PATHS.python,
    '-e', 'OQ_CONFIG_FILE=/master/openquake.cfg',
    '-v', `${join(root, 'master')}:/master`,
    '-v', `${join(root, 'shared')}:${WORKER_IMAGE_PATHS.sharedDir}:ro`,
    image, '/master/run_master.py',
  ];
}

/**
 * The worker container's shared_dir mount and its entrypoint's settings for a master on loopback and `vhost`,
 * two pool processes. The secrets are passed by name only: run podman with {@link engineWorkerSecrets} in its
 * environment.
 */
export function engineWorkerOptions(root: string, vhost: string): string[] {
  const shared = WORKER_IMAGE_PATHS.sharedDir;
  // prettier-ignore
  return [
    '-v', `${join(root, 'shared')}:${shared}:ro`,
    '-e', `PYTHONPATH=/opt/openquake/app:${shared}`,
    '-e', 'OQ_MASTER_HOST=127.0.0.1', '-e', 'OQ_AMQP_PORT=5672', '-e', `OQ_AMQP_USER=${RABBIT_ADMIN.user}`,
    '-e', 'OQ_AMQP_PASSWORD', '-e', `OQ_AMQP_VHOST=${vhost}`, '-e', 'OQ_CELERY_QUEUE=celery',
    '-e', 'OQ_DBSERVER_PORT=1908', '-e', 'OQ_DBSERVER_AUTHKEY', '-e', 'OQ_RECEIVER_PORTS=1912-1920',
    '-e', `OQ_SHARED_DIR=${shared}`, '-e', 'OQ_WORKER_CONCURRENCY=2',
  ];
}

/** The environment podman needs for {@link engineWorkerOptions}: the AMQP password and the DbServer's authkey. */
export function engineWorkerSecrets(dbserverAuthkey: string): NodeJS.ProcessEnv {
  return { ...process.env, OQ_AMQP_PASSWORD: RABBIT_ADMIN.password, OQ_DBSERVER_AUTHKEY: dbserverAuthkey };
}
