import { describe, expect, it } from 'vitest';
import { DEFAULT_FARGATE_MODEL } from '../../bench/sim/fargate-model.ts';
import { simulate } from '../../bench/sim/fleet-simulator.ts';
import { policies } from '../../bench/sim/scenarios.ts';
import { RUN_SHAPES, singleRunTrace } from '../../bench/sim/trace.ts';

describe('simulator smoke: every policy on the small engine 3.x run', () => {
  const model = DEFAULT_FARGATE_MODEL;
  const trace = singleRunTrace(RUN_SHAPES[0]!, 'windowed', model.maxWorkers * model.slotsPerWorker, 11);
  const run = () =>
    new Map(
      policies(model).map((p) => [
        p.name,
        simulate(trace, p.make, model, { seed: 5, tailSeconds: 1800, limitSeconds: 2 * 86400 }),
      ]),
    );
  const results = run();
  const totalTaskSeconds = trace.calculations[0]!.durations.reduce((a, b) => a + b, 0);

  it('runs the bridge decide() to completion without losing or refusing work', () => {
    const b = results.get('bridge')!;
    expect(b.finished).toBe(true);
    expect(b.lostTaskSeconds).toBe(0);
    expect(b.refusedRetires).toBe(0);
    expect(b.peakWorkers).toBe(model.maxWorkers);
    // It must pay for at least the work itself, and scale back to zero within the tail.
    expect(b.workerHours).toBeGreaterThan(totalTaskSeconds / model.slotsPerWorker / 3600);
    expect(b.timeline[b.timeline.length - 1]!.workers).toBe(0);
  });

  it('the fixed fleet is the makespan floor and starts at once', () => {
    const f = results.get('fixed-max')!;
    expect(f.timeToFirstWorkerSeconds).toBe(0);
    expect(f.makespanSeconds).toBeGreaterThanOrEqual(
      totalTaskSeconds / (model.maxWorkers * model.slotsPerWorker),
    );
    for (const r of results.values())
      if (r.finished) expect(r.makespanSeconds).toBeGreaterThanOrEqual(f.makespanSeconds);
  });

  it('KEDA over AMQP (ready only) kills busy workers and redelivers their tasks', () => {
    const k = results.get('keda-amqp')!;
    expect(k.killedTasks).toBeGreaterThan(0);
    expect(k.lostTaskSeconds).toBeGreaterThan(0);
  });

  it('is deterministic', () => {
    const again = run();
    for (const [name, r] of results) {
      const s = again.get(name)!;
      expect([s.makespanSeconds, s.workerHours, s.lostTaskSeconds]).toEqual([
        r.makespanSeconds,
        r.workerHours,
        r.lostTaskSeconds,
      ]);
    }
  });
});
