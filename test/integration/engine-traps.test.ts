/**
 * The engine traps of an elastic fleet (docs/master.md, "Engine traps"), against real engine 3.11.5 and celery
 * 4.4.7 code: workers started by the product's entrypoint (celery 4 shim, engine patches) and a master that runs
 * the engine's own `parallel.Starmap(..., distribute='celery')` and `parallel.workers_stop()`.
 *
 * Needs RabbitMQ and the engine's environment (scripts/setup.sh); skipped without them outside CI, failing in CI.
 * Runtime: about 60 s (five worker starts of 3-8 s each, five short calculations).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../local/timeouts.ts';
import { createTestVhost, isMissing, type TestVhost } from '../support/services.ts';
import {
  engineEnvAvailable,
  engineScratch,
  killGroup,
  runEnginePython,
  startEngineWorker,
  type EngineScratch,
  type EngineWorker,
} from '../support/engine-worker.ts';

const inCi = process.env.CI !== undefined;
const enabled = (!isMissing('rabbitmq') && engineEnvAvailable()) || inCi;

// Task functions, imported by master and workers from shared_dir. Each records its attempts in a flag directory,
// so a re-run can behave differently from the first run (as a task that got its memory back would).
const TASKS = `import os, signal, time

FLAGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'flags')

def _attempt(kind, n):
    marker = os.path.join(FLAGS, '%s-%d' % (kind, n))
    first = not os.path.exists(marker)
    with open(marker, 'a') as f:
        f.write('%d\\n' % os.getpid())
    return first

def echo(n, monitor):
    return (n, 'done')

def hold_first(n, monitor):
    """Task 0's first run waits (its pid in flags/hold-0) until the test kills its process."""
    if _attempt('hold', n) and n == 0:
        time.sleep(60)
    return (n, 'done')

def always_lost(n, monitor):
    """Task 0 loses its process every time, as a task that always runs out of memory."""
    if n == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return (n, 'done')

def two_parts(n, monitor):
    """A generator task: part 1, then (task 0's first run only) a wait until the test has killed the worker."""
    first = _attempt('parts', n)
    yield (n, 1)
    if first and n == 0:
        time.sleep(60)
    yield (n, 2)
`;

// The engine master: one Starmap of `task` over `tasks` task numbers, printing each result as it arrives.
const MASTER = `import os, sys
import oq_elastic_engine_patches  # what the master's .pth loads in production
from openquake.baselib import hdf5, parallel
import oq_traps_tasks
task, calc_id, tasks = getattr(oq_traps_tasks, sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
h5 = hdf5.File(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'calc_%d.hdf5' % calc_id), 'w')
parallel.init_performance(h5)
out = []
for result in parallel.Starmap(task, [(n,) for n in range(tasks)], distribute='celery', h5=h5):
    print('GOT', result, flush=True)
    out.append(result)
print('RESULTS', sorted(out), flush=True)
`;

const STOP = `from openquake.baselib import parallel
print('workers_stop:', parallel.workers_stop(), flush=True)
`;

// Trap 6: the engine's version check, with the engine's urlopen replaced by one that fails loudly.
const VERSION_CHECK = `import sys
if sys.argv[1] == 'patched':
    import oq_elastic_engine_patches
from openquake.engine import engine
def no_network(request, *args, **kwargs):
    raise SystemExit('REQUEST to %s' % request.full_url)
engine.urlopen = no_network
print('CHECK', engine.check_obsolete_version('classical'), flush=True)
`;

// Trap 3: the local process pool the engine starts on the master (source_reader.py, post_risk.py do this).
const LOCAL_POOL = `import sys
if sys.argv[1] == 'patched':
    import oq_elastic_engine_patches
from openquake.baselib import parallel
parallel.Starmap.init(distribute='processpool')
print('POOL', len(parallel.Starmap.pids), 'WINDOW', parallel.Starmap.num_cores, flush=True)
parallel.Starmap.shutdown()
`;

describe.skipIf(!enabled)('engine traps on real engine 3.11.5 / celery 4.4.7 workers', () => {
  let vhost: TestVhost;
  let root: string;
  let scratch: EngineScratch;
  const workers: EngineWorker[] = [];
  let calcId = 100;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-engine-traps');
    root = mkdtempSync(join(tmpdir(), 'oqe-engine-traps-'));
    scratch = engineScratch(root, vhost.vhost);
    writeFileSync(join(scratch.sharedDir, 'oq_traps_tasks.py'), TASKS);
    writeFileSync(join(root, 'master.py'), MASTER);
    writeFileSync(join(root, 'stop.py'), STOP);
    writeFileSync(join(root, 'version_check.py'), VERSION_CHECK);
    writeFileSync(join(root, 'local_pool.py'), LOCAL_POOL);
  });

  afterAll(async () => {
    for (const w of workers) killGroup(w.child, 'SIGKILL');
    await vhost?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  function resetFlags(): void {
    const flags = join(scratch.sharedDir, 'flags');
    rmSync(flags, { recursive: true, force: true });
    mkdirSync(flags);
  }

  function master(task: string, tasks: number, env: Record<string, string> = {}, timeoutMs = 90_000) {
    calcId += 1;
    let seen = '';
    const run = runEnginePython(scratch, [join(root, 'master.py'), task, String(calcId), String(tasks)], {
      env,
      timeoutMs,
      onOutput: (text) => (seen = text),
    });
    return { ...run, output: () => seen };
  }

  async function worker(name: string, env: Record<string, string> = {}): Promise<EngineWorker> {
    const w = await startEngineWorker(scratch, { name, env });
    workers.push(w);
    return w;
  }

  it('makes no version-check request with the engine patches (and the engine as shipped does)', async () => {
    const [shipped, patched] = await Promise.all(
      ['shipped', 'patched'].map(
        (engine) => runEnginePython(scratch, [join(root, 'version_check.py'), engine]).done,
      ),
    );
    expect(shipped.out).toMatch(/REQUEST to https:/);
    expect(patched.code, patched.out).toBe(0);
    expect(patched.out).toContain('CHECK None');
  }, 60_000);

  it("sizes the master's local process pool by the master, not num_cores, and keeps num_cores as the queue window", async () => {
    const poolScratch = engineScratch(join(root, 'pool'), vhost.vhost, 6);
    // Three independent processes (each only builds and shuts down a local pool), run side by side.
    const pool = (engine: string, env: Record<string, string> = {}) =>
      runEnginePython(poolScratch, [join(root, 'local_pool.py'), engine], { env }).done;
    const [shipped, patched, bad] = await Promise.all([
      pool('shipped'),
      pool('patched', { OQ_ELASTIC_LOCAL_PROCESSES: '2' }),
      pool('patched', { OQ_ELASTIC_LOCAL_PROCESSES: 'two' }),
    ]);
    expect(shipped.out).toContain('POOL 6 WINDOW 6');
    expect(patched.code, patched.out).toBe(0);
    expect(patched.out).toContain('POOL 2 WINDOW 6');
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/OQ_ELASTIC_LOCAL_PROCESSES='two' is not a positive integer: set it to/);
  }, 60_000);

  it('refuses the broadcast shutdown of an aborted calculation: the worker stays up and runs the next one', async () => {
    const w = await worker('stop-proof');
    const stop = await runEnginePython(scratch, [join(root, 'stop.py')]).done;
    expect(stop.out).toContain('workers_stop: stopped');
    await waitFor(
      'the refusal in the worker log',
      () => (/Refused a remote shutdown/.test(w.log()) ? true : undefined),
      10_000,
    );
    expect(w.child.exitCode).toBeNull();
    resetFlags();
    // The next calculation (several seconds of master start-up and tasks) is the window in which a worker
    // that obeyed the shutdown would have gone: it must run the tasks and still be up afterwards.
    const run = await master('echo', 3).done;
    expect(run.code, run.out).toBe(0);
    expect(run.out).toContain("RESULTS [(0, 'done'), (1, 'done'), (2, 'done')]");
    expect(w.child.exitCode).toBeNull();
    killGroup(w.child, 'SIGTERM');
    await w.exited;
  }, 120_000);

  it('requeues a task whose pool child was SIGKILLed mid-task: the calculation completes', async () => {
    const w = await worker('lost-once');
    resetFlags();
    const run = master('hold_first', 3);
    const holdFile = join(scratch.sharedDir, 'flags', 'hold-0');
    const pid = await waitFor(
      'task 0 running',
      () => (existsSync(holdFile) ? Number(readFileSync(holdFile, 'utf8').trim()) : undefined),
      60_000,
    );
    process.kill(pid, 'SIGKILL'); // a pool child, as the kernel's OOM killer would
    const result = await run.done;
    expect(result.code, result.out).toBe(0);
    expect(result.out).toContain("RESULTS [(0, 'done'), (1, 'done'), (2, 'done')]");
    expect(readFileSync(holdFile, 'utf8').trim().split('\n')).toHaveLength(2); // ran twice
    expect(w.log()).toMatch(/lost its pool process .*requeued once/);
    killGroup(w.child, 'SIGTERM');
    await w.exited;
  }, 120_000);

  it('fails the calculation clearly when the requeued task loses its process again, rather than waiting forever', async () => {
    const w = await worker('lost-always');
    resetFlags();
    const result = await master('always_lost', 3).done;
    expect(result.code).not.toBe(0);
    expect(result.out).toMatch(/task always_lost #0 .* lost its worker process twice .* ran out of memory/);
    expect(w.log()).toMatch(/lost its pool process .*again after a redelivery/);
    killGroup(w.child, 'SIGTERM');
    await w.exited;
  }, 120_000);

  // A generator task sends part 1, then its whole worker dies (a crash, a Spot reclaim); the message is
  // redelivered to a new worker, which runs the task from the start and sends part 1 again.
  async function redeliveredGenerator(env: Record<string, string>): Promise<string> {
    resetFlags();
    const first = await worker(`gen-a-${calcId}`);
    const run = master('two_parts', 2, env);
    await waitFor(
      'part 1 of task 0 and all of task 1 at the master',
      () => (/GOT \(0, 1\)/.test(run.output()) && /GOT \(1, 2\)/.test(run.output()) ? true : undefined),
      60_000,
    );
    killGroup(first.child, 'SIGKILL');
    await first.exited;
    const second = await worker(`gen-b-${calcId}`);
    const result = await run.done;
    killGroup(second.child, 'SIGTERM');
    await second.exited;
    expect(result.code, result.out).toBe(0);
    return result.out;
  }

  it("without the guard, the master aggregates a redelivered generator task's first result twice", async () => {
    const out = await redeliveredGenerator({ OQ_ELASTIC_DROP_REPEATED_RESULTS: '0' });
    expect(out).toContain('RESULTS [(0, 1), (0, 1), (0, 2), (1, 1), (1, 2)]');
  }, 150_000);

  it('with the guard (the default), the repeated result is dropped and each result is counted once', async () => {
    const out = await redeliveredGenerator({});
    expect(out).toContain('RESULTS [(0, 1), (0, 2), (1, 1), (1, 2)]');
    expect(out).toMatch(/Dropping result 0 of task 0: already received/);
  }, 150_000);
});
