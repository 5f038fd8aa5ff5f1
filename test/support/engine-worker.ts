/**
 * Real engine 3.11.5 / celery 4.4.7 processes on this machine, for the tests and benchmarks of the engine traps
 * (docs/master.md, "Engine traps"): a worker started by the product's entrypoint (with its celery 4 shim and
 * engine patches) as a child process, and a master script run with the engine's own `parallel.Starmap`.
 *
 * The engine's environment is the one scripts/setup.sh builds (.engine-venv, Python 3.8, or OQE_ENGINE_VENV).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINE_VENV, engineBin } from '../../local/engine/engine-env.ts';
import { RABBIT_ADMIN, REPO_ROOT } from './services.ts';

export { ENGINE_VENV, engineEnvAvailable } from '../../local/engine/engine-env.ts';
/** The engine environment's Python. */
export const ENGINE_PYTHON = engineBin('python');
/** The directory of oq_elastic_engine_patches.py, which a master process imports (the master's .pth does). */
export const ENGINE_PATCHES_DIR = join(REPO_ROOT, 'worker-image', 'engine-patches');
const ENTRYPOINT = join(REPO_ROOT, 'worker-image', 'entrypoint', 'oq_worker_entrypoint.py');

/** A scratch cluster layout: the engine's openquake.cfg for a master on loopback, a shared dir, free ports. */
export interface EngineScratch {
  readonly root: string;
  readonly vhost: string;
  readonly sharedDir: string;
  readonly configFile: string;
  readonly dbserverPort: number;
  readonly receiverPorts: string;
}

/** Ports well away from the defaults (1908, 1912-1920) and from other tests: one DbServer port, nine receivers. */
function freePortBlock(): { dbserver: number; receivers: string } {
  const base = 21000 + Math.floor(Math.random() * 400) * 10;
  return { dbserver: base, receivers: `${base + 1}-${base + 9}` };
}

/**
 * Writes the master's openquake.cfg (loopback, the vhost given, single-user DbServer in `root`) and the shared
 * directory. `numCores` is the master's `[distribution] num_cores`.
 */
export function engineScratch(root: string, vhost: string, numCores = 4): EngineScratch {
  const sharedDir = join(root, 'shared');
  mkdirSync(sharedDir, { recursive: true });
  const ports = freePortBlock();
  const configFile = join(root, 'openquake.cfg');
  writeFileSync(
    configFile,
    [
      '[distribution]',
      'oq_distribute = celery',
      `num_cores = ${numCores}`,
      '[amqp]',
      'host = 127.0.0.1',
      'port = 5672',
      `user = ${RABBIT_ADMIN.user}`,
      `password = ${RABBIT_ADMIN.password}`,
      `vhost = ${vhost}`,
      'celery_queue = celery',
      '[dbserver]',
      'multi_user = false',
      `file = ${join(root, 'db.sqlite3')}`,
      'listen = 127.0.0.1',
      'host = 127.0.0.1',
      `port = ${ports.dbserver}`,
      `receiver_ports = ${ports.receivers}`,
      'authkey = scratch',
      '[zworkers]',
      'host_cores =',
      '[directory]',
      `shared_dir = ${sharedDir}`,
      '',
    ].join('\n'),
  );
  return {
    root,
    vhost,
    sharedDir,
    configFile,
    dbserverPort: ports.dbserver,
    receiverPorts: ports.receivers,
  };
}

/** A worker process started through the product's entrypoint. */
export interface EngineWorker {
  readonly child: ChildProcess;
  /** Everything the entrypoint and celery wrote so far. */
  log(): string;
  /** Resolves with the exit code (or 128 + signal) when the entrypoint exits. */
  readonly exited: Promise<number>;
}

/**
 * Starts `oq_worker_entrypoint.py worker` with the engine's Python, in a process group of its own (so a test can
 * SIGKILL the whole worker as a crashed host would be), and resolves once celery logs " ready.".
 */
export async function startEngineWorker(
  scratch: EngineScratch,
  options: { name: string; concurrency?: number; env?: Record<string, string>; readyTimeoutMs?: number },
): Promise<EngineWorker> {
  const configDir = join(scratch.root, `worker-${options.name}`);
  const child = spawn(ENGINE_PYTHON, [ENTRYPOINT, 'worker'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: `${join(ENGINE_VENV, 'bin')}:/usr/bin:/bin`,
      HOME: process.env.HOME ?? '/root',
      PYTHONDONTWRITEBYTECODE: '1', // no __pycache__ in worker-image/, the image's build context
      C_FORCE_ROOT: '1', // celery refuses pickle as root without it; these machines run as root
      OQ_WORKER_APP: 'engine',
      OQ_WORKER_ID: options.name,
      OQ_MASTER_HOST: '127.0.0.1',
      OQ_AMQP_PORT: '5672',
      OQ_AMQP_USER: RABBIT_ADMIN.user,
      OQ_AMQP_PASSWORD: RABBIT_ADMIN.password,
      OQ_AMQP_VHOST: scratch.vhost,
      OQ_CELERY_QUEUE: 'celery',
      OQ_DBSERVER_PORT: String(scratch.dbserverPort),
      OQ_DBSERVER_AUTHKEY: 'scratch',
      OQ_RECEIVER_PORTS: scratch.receiverPorts,
      OQ_SHARED_DIR: scratch.sharedDir,
      OQ_WORKER_CONCURRENCY: String(options.concurrency ?? 2),
      OQ_CONFIG_FILE: join(configDir, 'openquake.cfg'),
      PYTHONPATH: scratch.sharedDir, // the task modules of a test live in shared_dir, as job files do
      ...options.env,
    },
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? osSignal(signal) : 0))),
  );
  const worker: EngineWorker = { child, log: () => output, exited };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let ended = false;
  void exited.then(() => (ended = true));
  while (!/ ready\.\s*$/m.test(output)) {
    if (ended) throw new Error(`worker ${options.name} exited before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      killGroup(child, 'SIGKILL');
      throw new Error(`worker ${options.name} not ready in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return worker;
}

function osSignal(name: NodeJS.Signals): number {
  return ({ SIGTERM: 15, SIGKILL: 9, SIGINT: 2, SIGQUIT: 3, SIGHUP: 1 } as Record<string, number>)[name] ?? 0;
}

/** Sends a signal to a worker's whole process group (entrypoint, celery, pool children); ignores a gone group. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/** Runs a Python program with the engine's Python, reading `configFile`; resolves with its exit code and output. */
export function runEnginePython(
  scratch: EngineScratch,
  args: readonly string[],
  options: { env?: Record<string, string>; timeoutMs?: number; onOutput?: (text: string) => void } = {},
): { child: ChildProcess; done: Promise<{ code: number; out: string }> } {
  const child = spawn(ENGINE_PYTHON, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: `${join(ENGINE_VENV, 'bin')}:/usr/bin:/bin`,
      HOME: process.env.HOME ?? '/root',
      OQ_CONFIG_FILE: scratch.configFile,
      PYTHONDONTWRITEBYTECODE: '1',
      PYTHONPATH: [ENGINE_PATCHES_DIR, scratch.sharedDir].join(':'),
      ...options.env,
    },
  });
  let out = '';
  const collect = (d: Buffer) => {
    out += d.toString();
    options.onOutput?.(out);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const done = new Promise<{ code: number; out: string }>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal ? osSignal(signal) : 0), out });
    }),
  );
  return { child, done };
}

/** The engine's version as its Python reports it (a quick check that the environment works). */
export function engineVersion(): string {
  const r = spawnSync(ENGINE_PYTHON, ['-c', 'import openquake.engine as e; print(e.__version__)'], {
    encoding: 'utf8',
  });
  return r.stdout.trim();
}
