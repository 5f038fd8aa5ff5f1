/**
 * Runs every policy on every trace and writes docs/benchmarks.md and the charts. Shared by
 * `npm run simulate` and `npm run bench` (which adds its measured results and regenerates the file).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchRealResults } from '../real/bench-results.ts';
import { DEFAULT_FARGATE_MODEL, type FargateModel } from './fargate-model.ts';
import { simulate, type SimResult } from './fleet-simulator.ts';
import { BridgePolicy } from './policies/bridge-policy.ts';
import { benchmarksMarkdown, type SimulationRun } from './report/benchmarks-markdown.ts';
import { format, resolveConfig } from 'prettier';
import { groupedBarChart, stepLineChart } from './report/svg-chart.ts';
import { oracleResult } from './oracle.ts';
import { ORACLE_COLUMN, policies, traces } from './scenarios.ts';
import { benchSimJson } from './report/bench-sim-json.ts';

export const SIM_SEED = 20261124;
export const LIMIT_SECONDS = 8 * 86400;
export const TAIL_SECONDS = 1800;

/** Simulate the whole grid. */
export function runSimulation(model: FargateModel = DEFAULT_FARGATE_MODEL, seed = SIM_SEED): SimulationRun {
  const t0 = Date.now();
  const pols = policies(model);
  const trs = traces(model, seed);
  const results = new Map<string, Map<string, SimResult>>();
  const bridgeReasons = new Map<string, Map<string, number>>();
  for (const t of trs) {
    const row = new Map<string, SimResult>();
    for (const p of pols) {
      let instance: ReturnType<typeof p.make> | undefined;
      const r = simulate(
        t,
        () => (instance = p.make()),
        model,
        // The same seed per trace for every policy: the same start-up draws in the same order.
        { seed: seed + 1000, limitSeconds: LIMIT_SECONDS, tailSeconds: TAIL_SECONDS },
      );
      if (instance instanceof BridgePolicy) {
        const counts = bridgeReasons.get(instance.name) ?? new Map<string, number>();
        for (const [k, v] of instance.reasons) counts.set(k, (counts.get(k) ?? 0) + v);
        bridgeReasons.set(instance.name, counts);
      }
      row.set(p.name, r);
    }
    row.set('oracle', oracleResult(row.get('fixed-max')!, model));
    results.set(t.name, row);
  }
  return {
    model,
    seed,
    limitSeconds: LIMIT_SECONDS,
    tailSeconds: TAIL_SECONDS,
    policies: pols,
    columns: [pols[0]!, ORACLE_COLUMN, ...pols.slice(1)],
    traces: trs,
    results,
    elapsedMs: Date.now() - t0,
    bridgeReasons,
  };
}

/** Write docs/benchmarks.md and docs/bench-*.svg under `docsDir`. */
export async function writeBenchmarkDocs(run: SimulationRun, docsDir: string): Promise<string[]> {
  const realPath = join(docsDir, 'bench-real.json');
  const real = existsSync(realPath)
    ? (JSON.parse(readFileSync(realPath, 'utf8')) as BenchRealResults)
    : undefined;
  const peers = run.columns.filter((p) => p.name !== 'bridge');
  const groupsOf = (metric: (r: SimResult) => number) =>
    run.traces.map((t) => {
      const row = run.results.get(t.name)!;
      const b = metric(row.get('bridge')!);
      return { label: t.name, values: peers.map((p) => metric(row.get(p.name)!) / b) };
    });
  const written: string[] = [];
  const write = (name: string, text: string): void => {
    const path = join(docsDir, name);
    writeFileSync(path, text);
    written.push(path);
  };
  const ratioCharts = [
    { file: 'bench-makespan.svg', what: 'Makespan', metric: (r: SimResult) => r.makespanSeconds },
    { file: 'bench-cost.svg', what: 'Cost', metric: (r: SimResult) => r.cost },
  ];
  for (const { file, what, metric } of ratioCharts) {
    write(
      file,
      groupedBarChart({
        title: `${what}, peer / bridge (dashed line: the bridge)`,
        series: peers.map((p) => p.label),
        groups: groupsOf(metric),
        reference: 1,
        cap: 3,
        yLabel: `${what.toLowerCase()} ratio`,
      }),
    );
  }
  const timelineTrace = 'medium-3x';
  const row = run.results.get(timelineTrace)!;
  const bridgeSpan = row.get('bridge')!.makespanSeconds;
  write(
    'bench-timeline.svg',
    stepLineChart({
      title: `Workers over time, ${timelineTrace}`,
      series: run.columns.map((p) => ({
        label: p.label,
        points: row.get(p.name)!.timeline.map((x) => ({ t: x.t, v: x.workers })),
      })),
      maxT: Math.ceil((bridgeSpan * 2) / 600) * 600,
      maxV: run.model.maxWorkers,
      yLabel: 'workers (running, starting or stopping)',
    }),
  );
  write('bench-sim.json', JSON.stringify(benchSimJson(run), undefined, 2) + '\n');
  // Formatted as `npm run lint` expects, so that a regenerated file never fails the prettier check.
  const mdPath = join(docsDir, 'benchmarks.md');
  const options = (await resolveConfig(mdPath)) ?? {};
  write('benchmarks.md', await format(benchmarksMarkdown(run, real), { ...options, filepath: mdPath }));
  return written;
}
