/**
 * The worker image for tests and the local compute backend: built once per content hash by
 * scripts/build-worker-image.sh (a debootstrap Debian base and the engine-like test app), then reused.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './services.ts';

const run = promisify(execFile);

/** podman with the flags this kind of machine needs (no systemd, no cgroup v2 delegation). */
export const PODMAN = ['podman', '--runtime', 'runc', '--cgroup-manager=cgroupfs'] as const;

/** Limits every container needs here: the defaults are too low for RabbitMQ clients and celery's pool. */
export const PODMAN_RUN_LIMITS = ['--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=10000:10000'] as const;

/**
 * What the stack's worker task definition imposes (cdk/lib/workers/worker-service.ts): a read-only root file
 * system with writable scratch at /tmp and /home/openquake, the image's user and no capability at all. The
 * scratch paths are the image's VOLUMEs, which podman (like Fargate's bind mounts) fills from the image.
 */
export const TASK_DEFINITION_RESTRICTIONS = [
  '--read-only',
  '--user',
  '1200:1200',
  '--cap-drop',
  'ALL',
  '--security-opt',
  'no-new-privileges',
] as const;

/** Where the image keeps what it mounts or reads. */
export const WORKER_IMAGE_PATHS = {
  sharedDir: '/opt/openquake/shared',
  python: '/opt/openquake/venv/bin/python',
  healthcheck: '/opt/openquake/bin/oq_worker_healthcheck.py',
  /** uid and gid the worker runs as (contract/cluster-constants.ts OPENQUAKE_UID/GID). */
  uid: 1200,
} as const;

/** A finished command: its exit code (-1 when killed) and its stdout and stderr, interleaved. */
export interface CommandOutput {
  code: number;
  out: string;
}

/** Collects a spawned child's output until it exits, resolving (never rejecting on a non-zero exit); SIGKILL after `timeoutMs`. */
export function collectOutput(child: ChildProcess, timeoutMs: number): Promise<CommandOutput> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, out });
    });
  });
}

/** Runs a command to completion with {@link collectOutput}. */
export function runCommand(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 120_000,
): Promise<CommandOutput> {
  return collectOutput(spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }), timeoutMs);
}

/** Runs podman with {@link PODMAN}'s flags to completion. */
export function podman(
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
  timeoutMs?: number,
): Promise<CommandOutput> {
  return runCommand(PODMAN[0], [...PODMAN.slice(1), ...args], env, timeoutMs);
}

let building: Promise<string> | undefined;

/**
 * Builds the local worker image if its inputs changed (cold: about a minute and a half; warm: about a second)
 * and returns its tag, `localhost/oq-elastic-worker:test`. One build per process; concurrent processes
 * wait for each other through the build script's lock.
 */
export function ensureWorkerImage(): Promise<string> {
  building ??= run('bash', [`${REPO_ROOT}scripts/build-worker-image.sh`], {
    cwd: REPO_ROOT,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 15 * 60 * 1000,
  }).then(
    ({ stdout }) => {
      const tag = stdout.trim().split('\n').pop() ?? '';
      if (!tag.includes(':'))
        throw new Error(`build-worker-image.sh printed no image tag: ${JSON.stringify(stdout)}`);
      return tag;
    },
    (error: Error & { stderr?: string }) => {
      building = undefined;
      throw new Error(`building the worker image failed: ${error.message}\n${error.stderr ?? ''}`);
    },
  );
  return building;
}

/**
 * Whether this host has a CPython `minor` (e.g. '3.8') that scripts/build-host-python-base.sh can pack into a
 * local base image: OQE_HOST_PYTHON, pyenv's versions directory, or pythonX.Y on the PATH (the script's order).
 */
export function hostPythonAvailable(minor: string): boolean {
  if (process.env.OQE_HOST_PYTHON) return true;
  const versions = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  if (existsSync(versions) && readdirSync(versions).some((v) => v.startsWith(`${minor}.`))) return true;
  return (process.env.PATH ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsSync(join(dir, `python${minor}`)));
}

/**
 * Builds (once per content hash) the pinned engine's worker image on a base carrying the host's Python
 * (`scripts/build-worker-image.sh engine-local`) and returns its tag. Cold: several minutes (packages for the
 * engine, a compiler for psutil); warm: about a second.
 */
export async function ensureEngineImage(): Promise<string> {
  try {
    const { stdout } = await run('bash', [`${REPO_ROOT}scripts/build-worker-image.sh`, 'engine-local'], {
      cwd: REPO_ROOT,
      maxBuffer: 16 * 1024 * 1024,
      timeout: 30 * 60 * 1000,
    });
    return stdout.trim().split('\n').pop() ?? '';
  } catch (error) {
    const failure = error as Error & { stderr?: string; code?: number };
    throw new Error(
      `building the engine worker image (engine-local) failed with code ${failure.code}: ${failure.stderr ?? failure.message}`,
    );
  }
}
