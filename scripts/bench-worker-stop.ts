#!/usr/bin/env -S npx tsx
/**
 * How long an idle engine worker takes to stop on SIGTERM (what ECS sends at scale-in and on every stop):
 * starts real engine 3.11.5 / celery 4.4.7 workers through the product's entrypoint, leaves each idle for a
 * random 0.5 to 3 s, sends SIGTERM to the entrypoint and times until it exits. A worker still running after
 * the cap counts as hung and is SIGKILLed. Writes the distribution to docs/bench-worker-stop.md.
 *
 *   npx tsx scripts/bench-worker-stop.ts [--stops 52] [--parallel 4] [--cap 60] [--unpatched] [--no-write]
 *
 * --unpatched keeps celery 4.4.7's own signal handlers (OQ_ELASTIC_FLAG_ONLY_SIGNALS=0), the "before" figure;
 * without it the image's shim is measured. Both runs land in the same file, each in its own section.
 * Needs RabbitMQ (bash scripts/services.sh start) and the engine environment (bash scripts/setup.sh).
 * Each parallel lane has a vhost and scratch directory of its own. 3 to 5 minutes for 52 stops on 2 busy cores.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as prettier from 'prettier';
import { createTestVhost, REPO_ROOT } from '../test/support/services.ts';
import {
  engineEnvAvailable,
  engineScratch,
  engineVersion,
  killGroup,
  startEngineWorker,
  ENGINE_VENV,
} from '../test/support/engine-worker.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} ${args[at + 1]} is not a positive integer: pass e.g. ${name} ${fallback}`);
  }
  return value;
};
const stops = option('--stops', 52);
const parallel = option('--parallel', 4);
const capSeconds = option('--cap', 60);
const unpatched = args.includes('--unpatched');
const write = !args.includes('--no-write');
const OUTPUT = join(REPO_ROOT, 'docs', 'bench-worker-stop.md');

/** One lane: its own vhost and scratch directory, workers started and stopped one after another. */
async function lane(index: number, count: number, times: number[], hung: number[]): Promise<void> {
  const vhost = await createTestVhost(`oqe-bench-stop-${index}`);
  const root = mkdtempSync(join(tmpdir(), 'oqe-bench-stop-'));
  const scratch = engineScratch(root, vhost.vhost);
  try {
    for (let i = 0; i < count; i += 1) {
      const worker = await startEngineWorker(scratch, {
        name: `stop-${index}-${i}`,
        concurrency: 2,
        env: unpatched ? { OQ_ELASTIC_FLAG_ONLY_SIGNALS: '0' } : {},
      });
      await sleep(500 + Math.random() * 2500);
      const start = Date.now();
      worker.child.kill('SIGTERM'); // the entrypoint, as ECS signals the container's first process
      const outcome = await Promise.race([
        worker.exited.then(() => 'exited'),
        sleep(capSeconds * 1000).then(() => 'hung'),
      ]);
      const seconds = (Date.now() - start) / 1000;
      if (outcome === 'hung') {
        hung.push(seconds);
        killGroup(worker.child, 'SIGKILL');
        await worker.exited;
        process.stdout.write(`lane ${index}: stop ${i + 1} HUNG (over ${capSeconds} s)\n`);
      } else {
        times.push(seconds);
        process.stdout.write(`lane ${index}: stop ${i + 1} in ${seconds.toFixed(2)} s\n`);
      }
    }
  } finally {
    await vhost.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function histogram(times: readonly number[]): string[] {
  const bins = [1, 2, 3, 5, 10, 30, Infinity];
  let lower = 0;
  return bins.map((upper) => {
    const n = times.filter((t) => t >= lower && t < upper).length;
    const label = upper === Infinity ? `>= ${lower} s` : `${lower} to ${upper} s`;
    lower = upper;
    return `| ${label} | ${n} |`;
  });
}

function section(label: string, times: readonly number[], hung: readonly number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
  return [
    `<!-- ${label}:start -->`,
    `### ${label === 'patched' ? "With the image's shim (flag-only signal handlers)" : "Celery 4.4.7's own handlers (--unpatched)"}`,
    '',
    `Run ${new Date().toISOString().slice(0, 16)}Z: ${times.length + hung.length} stops, ${parallel} lanes, engine ` +
      `${engineVersion()}, cap ${capSeconds} s.`,
    '',
    `- hung (still running after ${capSeconds} s, then SIGKILLed): **${hung.length}**`,
    `- stopped: ${times.length}; median ${f(percentile(sorted, 50))} s, p90 ${f(percentile(sorted, 90))} s, ` +
      `p99 ${f(percentile(sorted, 99))} s, max ${f(sorted[sorted.length - 1] ?? NaN)} s`,
    `- above 30 s: ${times.filter((t) => t > 30).length + hung.length}`,
    '',
    '| SIGTERM to exit | stops |',
    '| --- | --- |',
    ...histogram(times),
    `| hung | ${hung.length} |`,
    `<!-- ${label}:end -->`,
  ].join('\n');
}

const HEADER = `# Benchmark: stopping idle engine workers

Written by \`npx tsx scripts/bench-worker-stop.ts\` (see its header). Each stop is one real engine 3.11.5 /
celery 4.4.7 worker started by the product's entrypoint, idle for 0.5 to 3 s, then sent SIGTERM as ECS does;
the time runs until the entrypoint exits (it first cancels the worker's consumer over remote control, then
passes SIGTERM on for celery's warm shutdown). Why it matters: celery 4.4.7 raises its shutdown exception inside
the signal handler, and an idle worker sometimes hangs in \`pidbox._close_channel\`; on ECS each hang costs the
task's stop timeout (at most 120 s) of paid time. See docs/master.md, "Engine traps".
`;

async function main(): Promise<void> {
  if (!engineEnvAvailable()) {
    throw new Error(
      `the engine environment is missing at ${ENGINE_VENV}: run bash scripts/setup.sh or set OQE_ENGINE_VENV`,
    );
  }
  const times: number[] = [];
  const hung: number[] = [];
  const perLane = Math.ceil(stops / parallel);
  await Promise.all(Array.from({ length: parallel }, (_, i) => lane(i, perLane, times, hung)));
  const label = unpatched ? 'unpatched' : 'patched';
  const text = section(label, times, hung);
  process.stdout.write(`\n${text}\n`);
  if (!write) return;
  let doc = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : `${HEADER}\n`;
  const pattern = new RegExp(`<!-- ${label}:start -->[\\s\\S]*<!-- ${label}:end -->`);
  doc = pattern.test(doc) ? doc.replace(pattern, text) : `${doc.trimEnd()}\n\n${text}\n`;
  // Formatted as `npm run lint` expects, so that regenerating never breaks the prettier check.
  const options = (await prettier.resolveConfig(OUTPUT)) ?? {};
  writeFileSync(OUTPUT, await prettier.format(doc, { ...options, filepath: OUTPUT }));
  process.stdout.write(`wrote ${OUTPUT}\n`);
}

await main();
