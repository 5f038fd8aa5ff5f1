#!/usr/bin/env -S npx tsx
/**
 * The master's own processes during a real calculation with a large `num_cores`, with and without the engine
 * patches (docs/master.md, "Engine traps": the local process pool sized by the master's CPUs). Runs
 * `oq engine --run` of the engine wheel's classical/case_13 QA job (celery, one worker from the product's
 * entrypoint) twice, sampling the `oq engine` process tree every 100 ms: peak number of processes and peak sum
 * of their resident memory. Prints a markdown table to paste into docs/master.md.
 *
 *   npx tsx scripts/bench-master-pool.ts [--num-cores 48]
 *
 * "before" runs the engine as installed; "after" adds a sitecustomize that imports oq_elastic_engine_patches,
 * as the master's .pth file does. Needs RabbitMQ and the engine environment (bash scripts/setup.sh).
 */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir, availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createTestVhost } from '../test/support/services.ts';
import {
  ENGINE_PATCHES_DIR,
  ENGINE_VENV,
  engineEnvAvailable,
  engineScratch,
  killGroup,
  runEnginePython,
  startEngineWorker,
} from '../test/support/engine-worker.ts';

const args = process.argv.slice(2);
const at = args.indexOf('--num-cores');
const numCores = at < 0 ? 48 : Number(args[at + 1]);
if (!Number.isInteger(numCores) || numCores < 1) {
  throw new Error(`--num-cores ${args[at + 1]} is not a positive integer: pass e.g. --num-cores 48`);
}

// Runs `oq engine --run` and samples its process tree; prints one JSON line of figures.
const SAMPLER = `import json, os, subprocess, sys, time
import psutil
import openquake.engine
job = os.path.join(os.path.dirname(os.path.dirname(openquake.engine.__file__)), 'qa_tests_data', 'classical', 'case_13', 'job.ini')
oq = os.path.join(os.path.dirname(sys.executable), 'oq')
# A file, not a pipe: the DbServer that \`oq engine\` starts in the background inherits its output.
log = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'oq-engine.log'), 'w+')
proc = subprocess.Popen([oq, 'engine', '--run', job], stdout=log, stderr=subprocess.STDOUT)
root = psutil.Process(proc.pid)
peak_procs = peak_rss = 0
t0 = time.time()
while proc.poll() is None:
    try:
        tree = [root] + root.children(recursive=True)
        rss = 0
        for p in tree:
            try:
                rss += p.memory_info().rss
            except psutil.Error:
                pass
        peak_procs = max(peak_procs, len(tree))
        peak_rss = max(peak_rss, rss)
    except psutil.Error:
        pass
    time.sleep(0.1)
log.seek(0)
print(log.read()[-3000:], file=sys.stderr)
print(json.dumps({'code': proc.returncode, 'seconds': round(time.time() - t0, 1), 'peak_processes': peak_procs,
                  'peak_rss_mib': round(peak_rss / 2**20)}))
`;

async function measure(label: string, patched: boolean): Promise<Record<string, number>> {
  const vhost = await createTestVhost('oqe-bench-master-pool');
  const root = mkdtempSync(join(tmpdir(), 'oqe-bench-master-pool-'));
  const scratch = engineScratch(root, vhost.vhost, numCores);
  writeFileSync(join(root, 'sampler.py'), SAMPLER);
  const site = join(root, 'site');
  mkdirSync(site);
  if (patched) writeFileSync(join(site, 'sitecustomize.py'), 'import oq_elastic_engine_patches\n');
  const worker = await startEngineWorker(scratch, { name: `pool-${label}`, concurrency: 2 });
  try {
    const run = await runEnginePython(scratch, [join(root, 'sampler.py')], {
      env: { PYTHONPATH: patched ? `${site}:${ENGINE_PATCHES_DIR}` : '', OQ_DATADIR: join(root, 'oqdata') },
      timeoutMs: 600_000,
    }).done;
    const last = run.out.trim().split('\n').pop() ?? '';
    const figures = JSON.parse(last) as Record<string, number>;
    if (figures.code !== 0) throw new Error(`oq engine --run failed (${label}):\n${run.out}`);
    return figures;
  } finally {
    killGroup(worker.child, 'SIGTERM');
    await worker.exited;
    // the DbServer that `oq engine` started in the background for this scratch configuration
    await runEnginePython(scratch, ['-m', 'openquake.commands', 'dbserver', 'stop']).done;
    await vhost.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (!engineEnvAvailable()) {
    throw new Error(
      `the engine environment is missing at ${ENGINE_VENV}: run bash scripts/setup.sh or set OQE_ENGINE_VENV`,
    );
  }
  const before = await measure('before', false);
  const after = await measure('after', true);
  const cpus = availableParallelism();
  process.stdout.write(
    [
      `num_cores = ${numCores}, classical/case_13, this machine: ${cpus} CPUs`,
      '',
      '| master (oq engine process tree) | peak processes | peak resident memory (sum) | run time |',
      '| --- | --- | --- | --- |',
      `| engine as installed | ${before.peak_processes} | ${before.peak_rss_mib} MiB | ${before.seconds} s |`,
      `| with oq_elastic_engine_patches | ${after.peak_processes} | ${after.peak_rss_mib} MiB | ${after.seconds} s |`,
      '',
    ].join('\n'),
  );
}

await main();
