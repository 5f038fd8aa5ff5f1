/**
 * Real celery workers (Python, .venv, the engine-like test app) as child processes, for the observe tests.
 * Each worker runs in its own process group so that cleanup can kill it and its pool children by id.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON, REPO_ROOT } from './services.ts';

export const TESTAPP_DIR = join(REPO_ROOT, 'worker-image/testapp');
const CELERY = join(REPO_ROOT, '.venv/bin/celery');

export interface StartedWorker {
  readonly hostname: string;
  readonly process: ChildProcess;
  /** Everything the worker wrote to stderr so far (celery logs there). */
  log(): string;
  /** SIGKILL to the worker's whole process group (main process and pool children). */
  kill(): void;
}

export interface WorkerSpec {
  readonly amqpUrl: string;
  readonly hostname: string;
  readonly concurrency: number;
  readonly journal?: string;
  /**
   * Emulate, in this celery 5 worker, the two celery 4.4.7 behaviours the bridge meets with engine 3.11: a
   * JSON-only mailbox (celery/app/control.py before 5.1 hard-codes `accept=['json']` and no serializer) and
   * `Request.info()` that ignores `safe` and returns the raw task arguments (celery/worker/request.py, 4.4.7).
   */
  readonly emulateCelery44?: boolean;
  /** The `celery` program to run, for a worker of another celery release. @default .venv's celery 5.5 */
  readonly celeryBin?: string;
  /**
   * Load {@link ARGSREPR_SHIM} (as a sitecustomize module) into the worker: what a worker image could ship so
   * that celery 4.4's `active` carries argument reprs instead of failing on engine task arguments.
   */
  readonly argsreprShim?: boolean;
  /** Directories put first on the worker's PYTHONPATH (e.g. the image's celery 4 shim). @default none */
  readonly pythonPath?: readonly string[];
  /** Extra environment of the worker. @default none */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * Makes celery 4.4's `Request.info()` report `argsrepr`/`kwargsrepr` (the strings the client put in the message
 * headers) in place of the task's raw arguments, which is what celery >= 5 returns for `active(safe=True)`.
 */
export const ARGSREPR_SHIM = [
  'from celery.worker import request as _request',
  '_info = _request.Request.info',
  'def _info_with_reprs(self, safe=False):',
  '    info = _info(self)',
  "    info['args'] = self._argsrepr",
  "    info['kwargs'] = self._kwargsrepr",
  '    return info',
  '_request.Request.info = _info_with_reprs',
  '',
].join('\n');

/** Starts a worker and resolves once celery logs `ready`. */
export async function startWorker(spec: WorkerSpec, readyTimeoutMs = 30_000): Promise<StartedWorker> {
  const argv = ['worker', '-n', spec.hostname, '-c', String(spec.concurrency), '-O', 'fair', '-l', 'INFO'];
  argv.push('--without-gossip', '--without-mingle', '--without-heartbeat');
  let shimDir: string | undefined;
  if (spec.argsreprShim) {
    shimDir = mkdtempSync(join(tmpdir(), 'oqe-shim-'));
    writeFileSync(join(shimDir, 'sitecustomize.py'), ARGSREPR_SHIM);
  }
  const pythonPath = [...(spec.pythonPath ?? []), ...(shimDir ? [shimDir] : [])];
  const env = {
    ...process.env,
    ...(pythonPath.length > 0 ? { PYTHONPATH: pythonPath.join(':') } : {}),
    ...spec.env,
    C_FORCE_ROOT: '1',
    OQ_TESTAPP_BROKER: spec.amqpUrl,
    ...(spec.journal ? { OQ_TESTAPP_JOURNAL: spec.journal } : {}),
  };
  const child = spec.emulateCelery44
    ? spawn(
        PYTHON,
        [
          '-c',
          'import sys, oq_testapp\n' +
            'mailbox = oq_testapp.app.control.mailbox\n' +
            "mailbox.accept = ['json']\n" +
            "mailbox.serializer = 'json'\n" +
            'from celery.worker import request\n' +
            'info = request.Request.info\n' +
            'request.Request.info = lambda self, safe=False: info(self, safe=False)\n' +
            'oq_testapp.app.worker_main(sys.argv[1:])',
          ...argv,
        ],
        { cwd: TESTAPP_DIR, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
      )
    : spawn(spec.celeryBin ?? CELERY, ['-A', 'oq_testapp', ...argv], {
        cwd: TESTAPP_DIR,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const kill = (): void => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  const deadline = Date.now() + readyTimeoutMs;
  while (!/ready\./.test(log)) {
    if (child.exitCode !== null) throw new Error(`worker ${spec.hostname} exited: ${log}`);
    if (Date.now() > deadline) {
      kill();
      throw new Error(`worker ${spec.hostname} not ready in ${readyTimeoutMs} ms: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { hostname: spec.hostname, process: child, log: () => log, kill };
}

/** Submits tasks the way the engine's master does; returns their task ids in order. */
export function submitTasks(amqpUrl: string, calcId: number, durations: readonly number[]): string[] {
  const code =
    'import sys, oq_testapp\n' +
    'ids = [oq_testapp.submit(int(sys.argv[1]), n, float(d)).id for n, d in enumerate(sys.argv[2:])]\n' +
    'print(" ".join(ids))';
  const run = spawnSync(PYTHON, ['-c', code, String(calcId), ...durations.map(String)], {
    cwd: TESTAPP_DIR,
    env: { ...process.env, OQ_TESTAPP_BROKER: amqpUrl },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (run.status !== 0) throw new Error(`submit failed: ${run.stderr}`);
  return run.stdout.trim().split(/\s+/).filter(Boolean);
}

/** The engine 3.11 release's celery and kombu (contract/engine-release.json; kombu as celery 4.4.7 resolves it). */
const CELERY44 = ['celery==4.4.7', 'kombu==4.6.11'];

/**
 * A Python that can run celery 4.4.7 (3.8, the engine 3.11 release's, or 3.9), from OQE_CELERY44_PYTHON or the
 * PATH; undefined when there is none (the real-celery-4.4 tests then skip and say so).
 */
export function findCelery44Python(): string | undefined {
  // pyenv's shims answer only for the selected version, so its installed 3.8/3.9 are looked up directly.
  const pyenvVersions = join(process.env.PYENV_ROOT ?? join(homedir(), '.pyenv'), 'versions');
  const pyenv = existsSync(pyenvVersions)
    ? readdirSync(pyenvVersions)
        .filter((v) => /^3\.[89]\.\d+$/.test(v))
        .sort()
        .map((v) => join(pyenvVersions, v, 'bin', 'python3'))
    : [];
  const candidates = [process.env.OQE_CELERY44_PYTHON, 'python3.8', 'python3.9', ...pyenv].filter(
    Boolean,
  ) as string[];
  for (const candidate of candidates) {
    const probe = spawnSync(candidate, ['-c', 'import sys, venv; print(sys.executable)'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    if (probe.status === 0 && probe.stdout.trim()) return probe.stdout.trim();
  }
  return undefined;
}

/**
 * A virtual environment with celery 4.4.7 under .cache/ (created once, from the package index, then reused);
 * returns its `celery` program.
 */
export function ensureCelery44(python: string): string {
  const dir = join(REPO_ROOT, '.cache', 'celery-4.4.7');
  const celery = join(dir, 'bin', 'celery');
  const check = spawnSync(
    join(dir, 'bin', 'python'),
    ['-c', 'import celery; assert celery.__version__ == "4.4.7"'],
    {
      timeout: 30_000,
    },
  );
  if (check.status === 0) return celery;
  const steps: [string, string[]][] = [
    [python, ['-m', 'venv', '--clear', dir]],
    [join(dir, 'bin', 'pip'), ['install', '-q', ...CELERY44]],
  ];
  for (const [program, args] of steps) {
    const run = spawnSync(program, args, { encoding: 'utf8', timeout: 300_000 });
    if (run.status !== 0) throw new Error(`${program} ${args.join(' ')} failed: ${run.stderr}`);
  }
  return celery;
}
