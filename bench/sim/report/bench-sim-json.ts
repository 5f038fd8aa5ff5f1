/**
 * docs/bench-sim.json: the simulation's figures in a form a program can check, one entry per trace and policy
 * id (`bridge`, `oracle`, `fixed-max`, each default peer, each expert peer ending in `-expert`). Rounded so that
 * the file is byte-identical from one run to the next on any machine.
 */
import type { SimResult } from '../fleet-simulator.ts';
import { busyFloorWorkerHours } from '../oracle.ts';
import type { SimulationRun } from './benchmarks-markdown.ts';

export interface BenchSimFigures {
  readonly makespan_s: number | null;
  readonly worker_h: number;
  readonly cost_usd: number;
  readonly lost_task_s: number;
  readonly ttfw_s: number;
  readonly finished: boolean;
}

export interface BenchSimJson {
  readonly generated_by: string;
  readonly seed: number;
  readonly worker: { readonly vcpu: number; readonly memory_gib: number; readonly hourly_usd: number };
  readonly max_workers: number;
  readonly traces: Record<
    string,
    {
      readonly description: string;
      /** Task time alone on fully busy workers: the hard floor of worker-hours and cost. */
      readonly busy_floor: { readonly worker_h: number; readonly cost_usd: number };
      readonly policies: Record<string, BenchSimFigures>;
    }
  >;
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

function figures(r: SimResult): BenchSimFigures {
  return {
    makespan_s: Number.isFinite(r.makespanSeconds) ? round(r.makespanSeconds, 1) : null,
    worker_h: round(r.workerHours, 4),
    cost_usd: round(r.cost, 4),
    lost_task_s: round(r.lostTaskSeconds, 1),
    ttfw_s: round(r.timeToFirstWorkerSeconds, 1),
    finished: r.finished,
  };
}

export function benchSimJson(run: SimulationRun): BenchSimJson {
  const m = run.model;
  const traces: BenchSimJson['traces'] = {};
  for (const t of run.traces) {
    const row = run.results.get(t.name)!;
    const floor = busyFloorWorkerHours(t, m);
    traces[t.name] = {
      description: t.description,
      busy_floor: { worker_h: round(floor, 4), cost_usd: round(floor * m.workerHourlyCost, 4) },
      policies: Object.fromEntries([...row.entries()].map(([id, r]) => [id, figures(r)])),
    };
  }
  return {
    generated_by: 'npm run simulate',
    seed: run.seed,
    worker: { vcpu: m.vcpu, memory_gib: m.memoryGiB, hourly_usd: round(m.workerHourlyCost, 6) },
    max_workers: m.maxWorkers,
    traces,
  };
}
