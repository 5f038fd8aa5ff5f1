import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ActiveTask, WorkerObservation } from '../../bridge/src/observe/observation.ts';
import {
  addAttributions,
  attributeWorkerTime,
  calculationCostEmf,
  type CostAttributionOptions,
} from '../../bridge/src/report/calculation-cost.ts';
import { METRIC_NAMES, METRIC_NAMESPACE } from '../../contract/metric-names.ts';

const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);
const options: CostAttributionOptions = {
  workerHourlyCost: 0.36,
  slotsPerWorkerFallback: 2,
  maxIntervalSeconds: 60,
};

function task(id: string, calculationId?: number, startedAt?: number): ActiveTask {
  return { id, name: 'openquake.baselib.parallel.safely_call', calculationId, startedAt };
}

function worker(hostname: string, active: ActiveTask[], poolSize?: number): WorkerObservation {
  return { hostname, poolSize, active, reserved: 0, consuming: true, observedAt: T0 };
}

describe('attributeWorkerTime', () => {
  it('splits a worker between calculations by the slots their tasks hold', () => {
    const w = worker('oq@a', [task('1', 7), task('2', 7), task('3', 7), task('4', 8)], 4);
    const result = attributeWorkerTime(T0, [w], T0 + 10_000, options);
    expect(result.calculations.map((c) => [c.calculationId, c.workerSeconds])).toEqual([
      [7, 7.5],
      [8, 2.5],
    ]);
    // 0.36 USD per worker-hour = 0.0001 USD per worker-second.
    expect(result.calculations[0]?.cost).toBeCloseTo(0.00075, 10);
    expect(result.idleWorkerSeconds).toBe(0);
    expect(result.workerSeconds).toBe(10);
  });

  it('charges only the part of the interval after a task started, and the rest as idle', () => {
    const w = worker('oq@a', [task('1', 3, T0 + 6_000)], 1);
    const result = attributeWorkerTime(T0, [w], T0 + 10_000, options);
    expect(result.calculations).toEqual([
      { calculationId: 3, workerSeconds: 4, cost: expect.closeTo(0.0004, 12) },
    ]);
    expect(result.idleWorkerSeconds).toBeCloseTo(6, 10);
  });

  it('attributes nothing on the first cycle, when the interval is unknown', () => {
    const result = attributeWorkerTime(undefined, [worker('oq@a', [task('1', 3)], 1)], T0, options);
    expect(result.workerSeconds).toBe(0);
    expect(result.calculations).toEqual([]);
  });

  it('caps the interval after a gap in observations', () => {
    const result = attributeWorkerTime(T0, [worker('oq@a', [task('1', 3)], 1)], T0 + 600_000, options);
    expect(result.calculations[0]?.workerSeconds).toBe(60);
  });

  it('uses the fallback slot count when stats did not answer, and keeps tasks without an id apart', () => {
    const w = worker('oq@b', [task('1'), task('2', 9)]);
    const result = attributeWorkerTime(T0, [w, worker('oq@c', [], 2)], T0 + 20_000, options);
    expect(result.unknownWorkerSeconds).toBe(10);
    expect(result.calculations).toEqual([
      { calculationId: 9, workerSeconds: 10, cost: expect.closeTo(0.001, 12) },
    ]);
    expect(result.idleWorkerSeconds).toBe(20);
    expect(result.workerSeconds).toBe(40);
  });

  it('never charges a calculation more than the worker time when a reply lists more tasks than slots', () => {
    const w = worker('oq@a', [task('1', 1), task('2', 1), task('3', 1)], 2);
    const result = attributeWorkerTime(T0, [w], T0 + 10_000, options);
    expect(result.calculations[0]?.workerSeconds).toBeCloseTo(10, 10);
    expect(result.idleWorkerSeconds).toBeCloseTo(0, 10);
  });

  it('rejects bad options with the name, the value and the rule', () => {
    expect(() => attributeWorkerTime(T0, [], T0 + 1, { ...options, workerHourlyCost: -1 })).toThrow(
      'CostAttributionOptions.workerHourlyCost is -1: it must be a positive finite number.',
    );
    expect(() => attributeWorkerTime(T0, [], T0 + 1, { ...options, maxIntervalSeconds: NaN })).toThrow(
      /maxIntervalSeconds is NaN/,
    );
  });

  it('always accounts for every worker-second: calculations + unknown + idle = workers x interval', () => {
    const taskArb = fc.record({
      calc: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      startOffset: fc.option(fc.integer({ min: -30_000, max: 40_000 }), { nil: undefined }),
    });
    const workerArb = fc.record({
      pool: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
      tasks: fc.array(taskArb, { maxLength: 10 }),
    });
    fc.assert(
      fc.property(fc.array(workerArb, { maxLength: 6 }), fc.integer({ min: 1, max: 120_000 }), (ws, dt) => {
        const workers = ws.map((w, i) =>
          worker(
            `oq@${i}`,
            w.tasks.map((t, j) =>
              task(`${i}-${j}`, t.calc, t.startOffset === undefined ? undefined : T0 + t.startOffset),
            ),
            w.pool,
          ),
        );
        const r = attributeWorkerTime(T0, workers, T0 + dt, options);
        const interval = Math.min(dt / 1000, options.maxIntervalSeconds);
        const parts =
          r.calculations.reduce((s, c) => s + c.workerSeconds, 0) +
          r.unknownWorkerSeconds +
          r.idleWorkerSeconds;
        expect(parts).toBeCloseTo(workers.length * interval, 6);
        expect(r.workerSeconds).toBeCloseTo(workers.length * interval, 6);
        for (const c of r.calculations) {
          expect(c.workerSeconds).toBeGreaterThanOrEqual(0);
          expect(c.cost).toBeCloseTo((c.workerSeconds * options.workerHourlyCost) / 3600, 12);
        }
        expect(r.idleWorkerSeconds).toBeGreaterThanOrEqual(-1e-9);
      }),
    );
  });
});

describe('addAttributions', () => {
  it('sums per calculation across intervals', () => {
    const a = attributeWorkerTime(T0, [worker('oq@a', [task('1', 2)], 1)], T0 + 5_000, options);
    const b = attributeWorkerTime(
      T0 + 5_000,
      [worker('oq@a', [task('2', 1), task('3', 2)], 2)],
      T0 + 15_000,
      options,
    );
    const total = addAttributions(a, b);
    expect(total.calculations.map((c) => [c.calculationId, c.workerSeconds])).toEqual([
      [1, 5],
      [2, 10],
    ]);
    expect(total.workerSeconds).toBe(15);
  });
});

describe('calculationCostEmf', () => {
  it('publishes worker-seconds and cost per calculation under the Cluster and CalculationId dimensions', () => {
    const a = attributeWorkerTime(T0, [worker('oq@a', [task('1', 42)], 1)], T0 + 30_000, options);
    const [doc, ...rest] = calculationCostEmf(a, 'oqe-cluster', T0 + 30_000);
    expect(rest).toEqual([]);
    expect(doc).toMatchObject({
      _aws: {
        Timestamp: T0 + 30_000,
        CloudWatchMetrics: [{ Namespace: METRIC_NAMESPACE, Dimensions: [['Cluster', 'CalculationId']] }],
      },
      Cluster: 'oqe-cluster',
      CalculationId: '42',
      CalculationWorkerSeconds: 30,
    });
    expect(doc?.CalculationCost).toBeCloseTo(0.003, 10);
    // Every metric the document declares is one the bridge's list names, so the dashboard can find it.
    const declared = (
      doc?._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }
    ).CloudWatchMetrics[0]?.Metrics.map((m) => m.Name);
    for (const name of declared ?? []) expect(METRIC_NAMES).toContain(name);
  });
});
