import { describe, expect, it } from 'vitest';
import { HAND_COMPUTABLE_MODEL } from '../support/hand-computable-fargate-model.ts';
import { EventQueue } from '../../bench/sim/event-queue.ts';
import { billedSeconds } from '../../bench/sim/fargate-model.ts';
import { simulate } from '../../bench/sim/fleet-simulator.ts';
import { KEDA_DEFAULTS, KedaHpaPolicy } from '../../bench/sim/policies/keda-hpa.ts';
import {
  STEP_SCALING_DEFAULTS,
  StepScalingPolicy,
  stepChange,
} from '../../bench/sim/policies/step-scaling.ts';
import { TARGET_TRACKING_DEFAULTS, TargetTrackingPolicy } from '../../bench/sim/policies/target-tracking.ts';
import { Prng } from '../../common/prng.ts';
import type { FleetView, SimAction, SimPolicy } from '../../bench/sim/sim-policy.ts';
import { RUN_SHAPES, taskDurations, type Trace } from '../../bench/sim/trace.ts';

const MODEL = HAND_COMPUTABLE_MODEL;

function oneCalc(durations: number[], submitAt = 0): Trace {
  return {
    name: 't',
    description: 'test',
    calculations: [{ id: 1, submitAt, durations, submission: 'all-at-once', numCores: 64 }],
  };
}

/** A scripted policy: a function of the view, evaluated every second. */
function scripted(
  script: (v: FleetView) => SimAction | undefined,
  initialWorkers = 0,
  victims: SimPolicy['victims'] = 'random',
): SimPolicy {
  return { name: 'scripted', intervalSeconds: 1, victims, initialWorkers, evaluate: script };
}

/** Launch one worker on demand, scale to zero when nothing is queued or running. */
const onDemand = (v: FleetView): SimAction | undefined => {
  if (v.ready + v.unacked > 0 && v.desired === 0) return { desired: 1 };
  if (v.ready + v.unacked === 0 && v.desired > 0 && v.units.some((u) => u.state === 'running'))
    return { desired: 0 };
  return undefined;
};

describe('simulator mechanics: Fargate start-up and billing', () => {
  it('starts the first task one start-up delay after the launch', () => {
    // Submitted at 10 s; the policy sees it at 10 s, the worker is up at 50 s, the 5 s task ends at 55 s.
    const r = simulate(oneCalc([5], 10), () => scripted(onDemand), MODEL, { seed: 1, tailSeconds: 100 });
    expect(r.timeToFirstWorkerSeconds).toBe(40);
    expect(r.makespanSeconds).toBe(45);
    expect(r.launches).toBe(1);
  });

  it('bills a task that ran less than a minute for the one-minute minimum', () => {
    // Launched at 0, task 40..45, stopped at 45 + 2 s idle shutdown = 47 s of life, billed 60 s.
    const r = simulate(oneCalc([5]), () => scripted(onDemand), MODEL, { seed: 1, tailSeconds: 100 });
    expect(r.workerHours * 3600).toBeCloseTo(60, 6);
    expect(r.cost).toBeCloseTo((60 / 3600) * MODEL.workerHourlyCost, 9);
    // Without the minimum the same life bills 47 s: the minimum is what made it 60.
    const r0 = simulate(
      oneCalc([5]),
      () => scripted(onDemand),
      { ...MODEL, billingMinimumSeconds: 0 },
      {
        seed: 1,
        tailSeconds: 100,
      },
    );
    expect(r0.workerHours * 3600).toBeCloseTo(47, 6);
  });

  it('bills per second beyond the minimum', () => {
    expect(billedSeconds(MODEL, 100, 130)).toBe(60);
    expect(billedSeconds(MODEL, 100, 190.5)).toBe(90.5);
  });

  it('kills a busy task on scale-in after stopTimeout and runs it again from the start', () => {
    // A warm worker starts the 100 s task at 0. Scale to 0 at 50: SIGTERM, SIGKILL at 80 (80 s lost,
    // the message is requeued). Scale to 1 at 90: up at 130, the task runs again 130..230.
    const script = (v: FleetView): SimAction | undefined => {
      if (v.now === 50) return { desired: 0 };
      if (v.now === 90) return { desired: 1 };
      return undefined;
    };
    const r = simulate(oneCalc([100]), () => scripted(script, 1), MODEL, { seed: 1, tailSeconds: 10 });
    expect(r.killedTasks).toBe(1);
    expect(r.lostTaskSeconds).toBe(80);
    expect(r.makespanSeconds).toBe(230);
  });

  it('lets a task that ends within stopTimeout finish (warm shutdown): nothing lost', () => {
    const script = (v: FleetView): SimAction | undefined => (v.now === 80 ? { desired: 0 } : undefined);
    const r = simulate(oneCalc([100]), () => scripted(script, 1), MODEL, { seed: 1, tailSeconds: 10 });
    expect(r.killedTasks).toBe(0);
    expect(r.lostTaskSeconds).toBe(0);
    expect(r.makespanSeconds).toBe(100);
  });

  it('refuses to retire a busy unit by name (the bridge drain protocol) and protects the others', () => {
    const script = (v: FleetView): SimAction | undefined =>
      v.now === 10 ? { desired: 0, retire: [v.units[0]!.id] } : undefined;
    const r = simulate(oneCalc([100]), () => scripted(script, 1, 'none'), MODEL, {
      seed: 1,
      tailSeconds: 10,
    });
    expect(r.refusedRetires).toBe(1);
    expect(r.killedTasks).toBe(0);
    expect(r.makespanSeconds).toBe(100);
  });

  it('launches at most launchesPerMinute tasks in any minute', () => {
    const model = { ...MODEL, launchesPerMinute: 3 };
    const script = (v: FleetView): SimAction | undefined => (v.now === 0 ? { desired: 5 } : undefined);
    const r = simulate(oneCalc([100, 100, 100, 100, 100]), () => scripted(script), model, {
      seed: 1,
      tailSeconds: 5,
    });
    // 3 launched at 0 (up at 40), 2 more at 60 (up at 100): the last tasks run 100..200.
    expect(r.launches).toBe(5);
    expect(r.makespanSeconds).toBe(200);
  });
});

describe('simulator mechanics: the peers', () => {
  const step = (): StepScalingPolicy => new StepScalingPolicy({ ...STEP_SCALING_DEFAULTS, maxCapacity: 50 });

  it('step scaling: the steps of aws-ecs-patterns (<= 0: -1, >= 100: +1, >= 500: +5)', () => {
    const cfg = { ...STEP_SCALING_DEFAULTS, maxCapacity: 50 };
    expect([0, 1, 99, 100, 499, 500, 5000].map((m) => stepChange(cfg, m))).toEqual([-1, 0, 0, 1, 1, 5, 5]);
  });

  it('step scaling: the alarm sees the maximum of the 5-minute period', () => {
    const p = step();
    const view = (now: number, ready: number): FleetView => ({
      now,
      ready,
      unacked: 0,
      desired: 1,
      units: [],
    });
    // One sample of 600 at 180 s inside the period (60..300] is enough for +5 at 300 s.
    const readies = [0, 0, 600, 0, 0];
    let action: SimAction | undefined;
    readies.forEach((r, i) => (action = p.evaluate(view(60 * (i + 1), r))));
    expect(action).toEqual({ desired: 6 });
  });

  it('step scaling: the cooldown absorbs a repeated step and scale-in waits for its own cooldown', () => {
    const p = step();
    expect(p.onAlarm(1, 5, 300)).toEqual({ desired: 6 });
    // Same step inside the 300 s cooldown: the 5 just added count, nothing more.
    expect(p.onAlarm(6, 5, 450)).toBeUndefined();
    expect(p.onAlarm(6, 1, 450)).toBeUndefined();
    // Cooldown over at 600: +5 again.
    expect(p.onAlarm(6, 5, 600)).toEqual({ desired: 11 });
    // A larger step inside a cooldown adds the difference.
    const q = step();
    expect(q.onAlarm(1, 1, 300)).toEqual({ desired: 2 });
    expect(q.onAlarm(2, 5, 400)).toEqual({ desired: 6 });
    // Scale-in: -1, then blocked for 300 s, then -1.
    expect(q.onAlarm(6, -1, 1000)).toEqual({ desired: 5 });
    expect(q.onAlarm(5, -1, 1100)).toBeUndefined();
    expect(q.onAlarm(5, -1, 1300)).toEqual({ desired: 4 });
    // Never below minCapacity 1.
    expect(q.onAlarm(1, -1, 2000)).toBeUndefined();
  });

  it('KEDA/HPA: scale-down waits for the highest recommendation to leave the 300 s window', () => {
    const k = new KedaHpaPolicy({ ...KEDA_DEFAULTS, protocol: 'http', maxReplicas: 16, value: 4 });
    expect(k.decideReplicas(0, 40, 0)).toEqual({ desired: 1 }); // activation
    expect(k.decideReplicas(1, 40, 15)).toEqual({ desired: 5 }); // raw 10, limited to max(2x1, 1+4)
    expect(k.decideReplicas(5, 40, 30)).toEqual({ desired: 10 }); // raw 10 within max(10, 9)
    // Demand falls to 8 (raw 2) at 45 s: held at 10 while a recommendation of 10 is younger than 300 s.
    for (let t = 45; t < 330; t += 15) expect(k.decideReplicas(10, 8, t)).toBeUndefined();
    // At 330 s the recommendation of 30 s leaves the window: down to 2.
    expect(k.decideReplicas(10, 8, 330)).toEqual({ desired: 2 });
  });

  it('KEDA: scales to zero after cooldownPeriod with nothing counted, busy or not', () => {
    const k = new KedaHpaPolicy({ ...KEDA_DEFAULTS, protocol: 'amqp', maxReplicas: 16, value: 4 });
    expect(k.decideReplicas(0, 8, 0)).toEqual({ desired: 1 });
    expect(k.decideReplicas(1, 0, 15)).toBeUndefined();
    expect(k.decideReplicas(1, 0, 285)).toBeUndefined();
    expect(k.decideReplicas(1, 0, 300)).toEqual({ desired: 0 });
  });

  it('target tracking: 3 datapoints above the target scale out, 15 below 90 % scale in', () => {
    const tt = new TargetTrackingPolicy({ ...TARGET_TRACKING_DEFAULTS, maxCapacity: 16, targetValue: 4 });
    const view = (now: number, backlog: number, desired: number): FleetView => ({
      now,
      ready: backlog,
      unacked: 0,
      desired,
      units: [],
    });
    expect(tt.evaluate(view(0, 32, 1))).toBeUndefined();
    expect(tt.evaluate(view(60, 32, 1))).toBeUndefined();
    expect(tt.evaluate(view(120, 32, 1))).toEqual({ desired: 8 }); // ceil(1 x 32 / 4)
    // Backlog per task 2 (< 3.6) for 14 minutes: nothing; the 15th datapoint scales in to ceil(8 x 2 / 4).
    for (let i = 1; i <= 14; i++) expect(tt.evaluate(view(120 + 60 * i, 16, 8))).toBeUndefined();
    expect(tt.evaluate(view(120 + 60 * 15, 16, 8))).toEqual({ desired: 4 });
  });
});

describe('simulator building blocks', () => {
  it('the event queue runs events in time order, ties in insertion order', () => {
    const q = new EventQueue();
    const seen: string[] = [];
    q.push(5, () => seen.push('b'));
    q.push(1, () => seen.push('a'));
    q.push(5, () => seen.push('c'));
    for (let e = q.pop(); e; e = q.pop()) e.run();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('the PRNG is deterministic per seed', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const xs = [a.next(), a.next()];
    expect([b.next(), b.next()]).toEqual(xs);
    expect(c.next()).not.toBe(xs[0]);
  });

  it("task durations have the shape's count, mean and maximum exactly", () => {
    for (const shape of RUN_SHAPES) {
      const d = taskDurations(shape, new Prng(7));
      expect(d).toHaveLength(shape.tasks);
      expect(Math.max(...d)).toBeCloseTo(shape.maxSeconds, 6);
      expect(d.reduce((a, b) => a + b, 0) / d.length).toBeCloseTo(shape.meanSeconds, 3);
    }
  });
});
