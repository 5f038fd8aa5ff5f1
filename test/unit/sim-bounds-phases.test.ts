import { describe, expect, it } from 'vitest';
import { HAND_COMPUTABLE_MODEL } from '../support/hand-computable-fargate-model.ts';
import { DEFAULT_FARGATE_MODEL } from '../../bench/sim/fargate-model.ts';
import { fixedFleet } from '../../bench/sim/policies/fixed-fleet.ts';
import { simulate, type SimResult } from '../../bench/sim/fleet-simulator.ts';
import { busyFloorWorkerHours, busyPeriods, oracleResult, oracleSessions } from '../../bench/sim/oracle.ts';
import { benchSimJson } from '../../bench/sim/report/bench-sim-json.ts';
import { goalChecks, type SimulationRun } from '../../bench/sim/report/benchmarks-markdown.ts';
import { bridgePolicy, ORACLE_COLUMN, policies } from '../../bench/sim/scenarios.ts';
import type { FleetView, SimAction, SimPolicy } from '../../bench/sim/sim-policy.ts';
import { RUN_SHAPES, singleRunTrace, type CalculationSpec, type Trace } from '../../bench/sim/trace.ts';

const MODEL = HAND_COMPUTABLE_MODEL;

function trace(calc: Partial<CalculationSpec> & Pick<CalculationSpec, 'durations'>): Trace {
  return {
    name: 't',
    description: 'test',
    calculations: [{ id: 1, submitAt: 0, submission: 'windowed', numCores: 1, ...calc }],
  };
}

const run = (t: Trace, p: () => SimPolicy, model = MODEL): SimResult =>
  simulate(t, p, model, { seed: 1, tailSeconds: 100 });

describe('simulator: the engine phases', () => {
  it('waits the pre-processing, runs the lead phase, waits the gap, then the main phase', () => {
    // Two warm workers. Pre-processing 100 s; preclassical [10, 10] both at 100..110; gap 50 s; the main
    // phase's one task 160..165. Submitting everything at t = 0 would end at 10.
    const r = run(
      trace({
        durations: [5],
        preprocessSeconds: 100,
        leadPhases: [{ name: 'preclassical', durations: [10, 10], gapAfterSeconds: 50 }],
      }),
      () => fixedFleet(2),
    );
    expect(r.finished).toBe(true);
    expect(r.makespanSeconds).toBe(165);
    expect(r.unitRuns.flat().map(([s]) => s)).toEqual(expect.arrayContaining([100, 100, 160]));
  });

  it('submits a lead phase all at once even when the main phase is windowed (num_cores 1)', () => {
    // Four warm workers: the four 10 s preclassical tasks run side by side (0..10), the main phase's two
    // tasks one after the other in a window of 1 (10..15, 15..20). A windowed lead phase would take 40 s.
    const r = run(
      trace({
        durations: [5, 5],
        leadPhases: [{ name: 'preclassical', durations: [10, 10, 10, 10], gapAfterSeconds: 0 }],
      }),
      () => fixedFleet(4),
    );
    expect(r.makespanSeconds).toBe(20);
  });

  it('runs several lead phases in order, each after the previous one and its gap', () => {
    const r = run(
      trace({
        durations: [1],
        leadPhases: [
          { name: 'a', durations: [10], gapAfterSeconds: 5 },
          { name: 'b', durations: [20], gapAfterSeconds: 7 },
        ],
      }),
      () => fixedFleet(1),
    );
    // a 0..10, gap to 15, b 15..35, gap to 42, main 42..43.
    expect(r.makespanSeconds).toBe(43);
  });

  it("reports each calculation's status as the master would: started, running, between phases, ended", () => {
    const seen: string[] = [];
    const recorder = (): SimPolicy => ({
      ...fixedFleet(1),
      intervalSeconds: 1,
      evaluate: (v: FleetView) => {
        const c = v.calculations?.[0];
        const s = c ? `${c.status}@${c.since}/${c.tasksHeldByMaster}` : 'none';
        if (seen[seen.length - 1] !== s) seen.push(s);
        return undefined;
      },
    });
    // Submitted at 5; pre-processing 10 s; preclassical 15..25; gap 5 s; main 30..32, 32..34 in a window of 1.
    run(
      trace({
        submitAt: 5,
        durations: [2, 2],
        preprocessSeconds: 10,
        leadPhases: [{ name: 'preclassical', durations: [10], gapAfterSeconds: 5 }],
      }),
      recorder,
    );
    expect(seen).toEqual([
      'none',
      'started@5/0',
      'running@15/0',
      'between-phases@25/0',
      'running@30/1',
      'running@30/0',
      'ended@34/0',
    ]);
  });

  it('counts TTFW from the first queued task, not from the calculation start', () => {
    // Pre-processing 100 s; the on-demand policy sees the task at 100, the worker is up at 140.
    const onDemand = (v: FleetView): SimAction | undefined =>
      v.ready > 0 && v.desired === 0 ? { desired: 1 } : undefined;
    const r = run(trace({ durations: [5], preprocessSeconds: 100 }), () => ({
      name: 'on-demand',
      intervalSeconds: 1,
      victims: 'random',
      initialWorkers: 0,
      evaluate: onDemand,
    }));
    expect(r.timeToFirstWorkerSeconds).toBe(40);
    expect(r.makespanSeconds).toBe(145);
  });

  it('the 3x traces carry the published phase figures; the 2x traces the task phase only', () => {
    for (const shape of RUN_SHAPES) {
      const c3 = singleRunTrace(shape, 'windowed', 64, 3).calculations[0]!;
      const c2 = singleRunTrace(shape, 'all-at-once', 64, 3).calculations[0]!;
      expect(c3.preprocessSeconds).toBe(shape.engine.preprocessSeconds);
      const pre = c3.leadPhases![0]!;
      expect(pre.durations).toHaveLength(shape.engine.preclassical.tasks);
      expect(Math.max(...pre.durations)).toBeCloseTo(shape.engine.preclassical.maxSeconds, 6);
      expect(pre.gapAfterSeconds).toBe(shape.engine.gapSeconds);
      expect(c2.leadPhases).toBeUndefined();
      // The same main-phase durations in both, so that 2x and 3x compare the submission alone.
      expect(c3.durations).toEqual(c2.durations);
    }
  });
});

describe('the oracle and the busy floor', () => {
  it('merges overlapping runs into busy periods', () => {
    expect(
      busyPeriods([
        [5, 20],
        [0, 10],
        [30, 40],
        [40, 45],
      ]),
    ).toEqual([
      [0, 20],
      [30, 45],
    ]);
  });

  it('stops a worker through an idle gap longer than one start-up, and keeps it through a shorter one', () => {
    // Start-up 40 s: a 30 s gap is cheaper to sit through, a 41 s gap to stop and relaunch across.
    expect(
      oracleSessions(MODEL, [
        [0, 10],
        [40, 50],
        [91, 100],
      ]),
    ).toEqual([
      [0, 50],
      [91, 100],
    ]);
  });

  it("re-bills the warm fixed fleet's schedule with every worker launched just in time", () => {
    // Two warm workers, tasks of 100 s and 70 s at t = 0. The fixed fleet bills both until 100 s (200 s);
    // the oracle bills 40 + 100 and 40 + 70 (250 s): a start-up each, since nothing is warm for free.
    // Tasks of 100 s and 5 s: the second worker's 40 + 5 s is billed the one-minute minimum.
    const fixed = run(trace({ durations: [100, 70], submission: 'all-at-once' }), () => fixedFleet(2));
    const o = oracleResult(fixed, MODEL);
    expect(o.policy).toBe('oracle');
    expect(o.makespanSeconds).toBe(fixed.makespanSeconds);
    expect(o.workerHours * 3600).toBeCloseTo(250, 6);
    expect(o.lostTaskSeconds).toBe(0);
    const short = oracleResult(
      run(trace({ durations: [100, 5], submission: 'all-at-once' }), () => fixedFleet(2)),
      MODEL,
    );
    expect(short.workerHours * 3600).toBeCloseTo(140 + 60, 6);
  });

  it('the busy floor is every task of every phase over the processes of a worker', () => {
    const t = trace({
      durations: [100, 50],
      leadPhases: [{ name: 'p', durations: [30], gapAfterSeconds: 0 }],
    });
    expect(busyFloorWorkerHours(t, { ...MODEL, slotsPerWorker: 2 }) * 3600).toBeCloseTo(90, 9);
  });

  it('refuses to derive an oracle from a fixed fleet that did not finish', () => {
    const unfinished = simulate(trace({ durations: [100] }), () => fixedFleet(1), MODEL, {
      seed: 1,
      limitSeconds: 50,
    });
    expect(() => oracleResult(unfinished, MODEL)).toThrow(/did not finish/);
  });
});

describe('expert peer mechanics', () => {
  const scaleToZeroAt = (t: number, victims: SimPolicy['victims'], stopTimeoutSeconds?: number) => () =>
    ({
      name: 'scripted',
      intervalSeconds: 1,
      victims,
      initialWorkers: 2,
      ...(stopTimeoutSeconds === undefined ? {} : { stopTimeoutSeconds }),
      evaluate: (v: FleetView): SimAction | undefined => (v.now === t ? { desired: 0 } : undefined),
    }) satisfies SimPolicy;

  it('task scale-in protection (idle-only): busy units finish, each stops the moment it turns idle', () => {
    // Tasks 100 s and 10 s on two warm workers; desired 0 at 1 s. The 10 s one stops at 10 + 2 (billed
    // the 60 s minimum), the 100 s one at 100 + 2: 162 s, nothing lost.
    const t = trace({ durations: [100, 10], submission: 'all-at-once' });
    const r = run(t, scaleToZeroAt(1, 'idle-only'));
    expect(r.lostTaskSeconds).toBe(0);
    expect(r.makespanSeconds).toBe(100);
    expect(r.workerHours * 3600).toBeCloseTo(162, 6);
    // The same scale-in without protection kills both tasks after the 30 s stop timeout.
    const unprotected = run(t, scaleToZeroAt(1, 'random'));
    expect(unprotected.killedTasks).toBe(1);
    expect(unprotected.finished).toBe(false);
  });

  it('a termination grace longer than the task (Kubernetes) lets a scaled-in busy pod finish', () => {
    const t = trace({ durations: [100, 100], submission: 'all-at-once' });
    const graceful = run(t, scaleToZeroAt(1, 'newest-first', 200));
    expect(graceful.lostTaskSeconds).toBe(0);
    expect(graceful.makespanSeconds).toBe(100);
    // The default 30 s: SIGTERM at 1, SIGKILL at 31, both tasks lose their 31 s.
    const default30 = run(t, scaleToZeroAt(1, 'newest-first'));
    expect(default30.lostTaskSeconds).toBe(62);
  });

  it('every expert peer is configured as documented and loses nothing on the small 3.x run', () => {
    const model = DEFAULT_FARGATE_MODEL;
    const experts = policies(model).filter((p) => p.expert);
    expect(experts.map((p) => p.name).sort()).toEqual([
      'ecs-patterns-step-expert',
      'keda-amqp-expert',
      'keda-http-expert',
      'target-tracking-expert',
    ]);
    const longest = Math.max(...RUN_SHAPES.map((s) => s.maxSeconds));
    const t = singleRunTrace(RUN_SHAPES[0]!, 'windowed', model.maxWorkers * model.slotsPerWorker, 11);
    for (const p of experts) {
      const instance = p.make();
      expect(instance.name).toBe(p.name);
      if (p.name.startsWith('keda')) expect(instance.stopTimeoutSeconds).toBeGreaterThan(longest);
      else expect(instance.victims).toBe('idle-only');
      const r = simulate(t, p.make, model, { seed: 5, tailSeconds: 1800, limitSeconds: 2 * 86400 });
      expect(r.finished).toBe(true);
      expect(r.lostTaskSeconds).toBe(0);
    }
    // The step expert starts from zero workers (min 0), the KEDA ones too; target tracking keeps 1.
    expect(experts.find((p) => p.name === 'ecs-patterns-step-expert')!.make().initialWorkers).toBe(0);
  });
});

describe('the engine-aware bridge in the simulator', () => {
  it('is fed the calculation events and spends fewer worker-hours than the queue-only bridge, losing nothing', () => {
    const model = DEFAULT_FARGATE_MODEL;
    const t = singleRunTrace(RUN_SHAPES[0]!, 'windowed', model.maxWorkers * model.slotsPerWorker, 11);
    const opts = { seed: 5, tailSeconds: 1800, limitSeconds: 86400 };
    const plain = simulate(t, () => bridgePolicy(model), model, opts);
    const aware = bridgePolicy(model, true);
    const r = simulate(t, () => aware, model, opts);
    expect(r.finished).toBe(true);
    expect(r.lostTaskSeconds).toBe(0);
    expect(r.refusedRetires).toBe(0);
    expect(r.workerHours).toBeLessThan(plain.workerHours);
    // The events drove decisions of their own.
    for (const reason of ['PrewarmForCalculation', 'PhaseTail', 'CalculationsEnded']) {
      expect(aware.reasons.get(reason) ?? 0, reason).toBeGreaterThan(0);
    }
  });
});

describe('docs/bench-sim.json and the goals', () => {
  const model = DEFAULT_FARGATE_MODEL;
  const t = singleRunTrace(RUN_SHAPES[0]!, 'windowed', model.maxWorkers * model.slotsPerWorker, 11);
  const pols = policies(model);
  const row = new Map<string, SimResult>(
    pols.map((p) => [
      p.name,
      simulate(t, p.make, model, { seed: 5, tailSeconds: 1800, limitSeconds: 86400 }),
    ]),
  );
  row.set('oracle', oracleResult(row.get('fixed-max')!, model));
  const sim: SimulationRun = {
    model,
    seed: 5,
    limitSeconds: 86400,
    tailSeconds: 1800,
    policies: pols,
    columns: [pols[0]!, ORACLE_COLUMN, ...pols.slice(1)],
    traces: [t],
    results: new Map([[t.name, row]]),
    elapsedMs: 0,
    bridgeReasons: new Map(),
  };

  it('has every policy id with the five figures, and the busy floor under the oracle', () => {
    const json = benchSimJson(sim);
    const entry = json.traces[t.name]!;
    const ids = Object.keys(entry.policies);
    for (const id of ['bridge', 'oracle', 'fixed-max', 'keda-http', 'keda-http-expert'])
      expect(ids).toContain(id);
    expect(ids.filter((id) => id.endsWith('-expert'))).toHaveLength(4);
    for (const f of Object.values(entry.policies)) {
      expect(Object.keys(f)).toEqual(
        expect.arrayContaining(['makespan_s', 'worker_h', 'cost_usd', 'lost_task_s', 'ttfw_s']),
      );
    }
    const oracle = entry.policies.oracle!;
    expect(entry.busy_floor.worker_h).toBeLessThan(oracle.worker_h);
    expect(oracle.worker_h).toBeLessThan(entry.policies.bridge!.worker_h);
    expect(oracle.makespan_s).toBe(entry.policies['fixed-max']!.makespan_s);
    // Deterministic: the same run serialises to the same bytes.
    expect(JSON.stringify(benchSimJson(sim))).toBe(JSON.stringify(json));
  });

  it('the goal check measures the bridge against the oracle and the expert peers', () => {
    const [c] = goalChecks(sim);
    const b = row.get('bridge')!;
    expect(c!.workerHoursVsOracle).toBeCloseTo(b.workerHours / row.get('oracle')!.workerHours, 12);
    const cheaper = pols
      .filter((p) => p.expert && row.get(p.name)!.cost < b.cost)
      .map((p) => p.name)
      .sort();
    expect(c!.cheaperExperts.map((x) => x.name).sort()).toEqual(cheaper);
  });
});
