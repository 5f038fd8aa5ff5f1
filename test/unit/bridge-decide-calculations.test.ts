import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECIDE_TEST_POLICY } from '../support/decide-test-policy.ts';
import { decide, isIdle } from '../../bridge/src/decide/decide.ts';
import type { DecisionHistory, DecisionReason, ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import type {
  CalculationState,
  CalculationStatus,
  Observation,
  SharedDirObservation,
} from '../../bridge/src/observe/observation.ts';

const T0 = 1_900_000_000_000;
const BASE: ScalingPolicy = {
  ...DECIDE_TEST_POLICY,
  prewarmWorkers: 2,
  calculationHoldSeconds: 900,
};

/** A fleet as `[busy tasks per worker]`: 0 is an idle worker; every worker has a pool of 2 and answered. */
function observe(
  tasksPerWorker: readonly number[],
  queue: { ready?: number; desired?: number } = {},
  calculations?: { list: readonly CalculationState[]; ageSeconds?: number },
  sharedDir?: SharedDirObservation,
): Observation {
  const ids = tasksPerWorker.map((_, i) => `w${i}`);
  const inFlight = tasksPerWorker.reduce((a, b) => a + b, 0);
  return {
    queue: {
      ready: queue.ready ?? 0,
      unacked: inFlight,
      consumers: ids.length,
      observedAt: T0,
      source: 'test',
    },
    workers: tasksPerWorker.map((n, i) => ({
      hostname: `oq@w${i}`,
      poolSize: 2,
      active: Array.from({ length: n }, (_, k) => ({ id: `w${i}-${k}`, name: 'safely_call' })),
      reserved: 0,
      consuming: true,
      observedAt: T0,
    })),
    compute: {
      desired: queue.desired ?? ids.length,
      running: ids.length,
      pending: 0,
      units: ids.map((id) => ({ unitId: id, celeryHostname: `oq@${id}`, state: 'running' as const })),
      observedAt: T0,
    },
    ...(sharedDir ? { sharedDir } : {}),
    ...(calculations
      ? {
          calculations: {
            calculations: calculations.list,
            observedAt: T0 - (calculations.ageSeconds ?? 0) * 1000,
          },
        }
      : {}),
    errors: [],
  };
}

const calc = (
  status: CalculationStatus,
  secondsAgo = 10,
  tasksHeldByMaster?: number,
  id = 7,
): CalculationState => ({
  id,
  status,
  since: T0 - secondsAgo * 1000,
  ...(tasksHeldByMaster === undefined ? {} : { tasksHeldByMaster }),
});

/** Every worker idle for `seconds` before now. */
const idleFor = (seconds: number, count: number): DecisionHistory => ({
  idleSince: Object.fromEntries(Array.from({ length: count }, (_, i) => [`oq@w${i}`, T0 - seconds * 1000])),
});

interface Row {
  readonly name: string;
  readonly observation: Observation;
  readonly policy?: Partial<ScalingPolicy>;
  readonly history?: DecisionHistory;
  readonly desired: number;
  readonly reason: DecisionReason;
  readonly retire?: readonly string[];
}

const ROWS: Row[] = [
  {
    name: 'a started calculation pre-warms prewarmWorkers before any task is queued',
    observation: observe([], { desired: 0 }, { list: [calc('started')] }),
    desired: 2,
    reason: 'PrewarmForCalculation',
  },
  {
    name: 'the pre-warm respects maxStepOut and maxWorkers',
    observation: observe([], { desired: 0 }, { list: [calc('started')] }),
    policy: { prewarmWorkers: 50, maxStepOut: 3 },
    desired: 3,
    reason: 'PrewarmForCalculation',
  },
  {
    name: 'no pre-warm without prewarmWorkers',
    observation: observe([], { desired: 0 }, { list: [calc('started')] }),
    policy: { prewarmWorkers: undefined },
    desired: 0,
    reason: 'Steady',
  },
  {
    name: 'no pre-warm on a stale calculation signal (today: nothing to do)',
    observation: observe([], { desired: 0 }, { list: [calc('started')], ageSeconds: 31 }),
    desired: 0,
    reason: 'Steady',
  },
  {
    name: 'no pre-warm once the started status is older than calculationHoldSeconds',
    observation: observe([], { desired: 0 }, { list: [calc('started', 901)] }),
    desired: 0,
    reason: 'Steady',
  },
  {
    name: 'the pre-warm waits for shared_dir like any scale-out',
    observation: observe(
      [],
      { desired: 0 },
      { list: [calc('started')] },
      { available: false, mountTargetsReady: false, sizeBytes: 0, observedAt: T0 },
    ),
    desired: 0,
    reason: 'HoldSharedDirUnavailable',
  },
  {
    name: 'demand larger than the pre-warm scales out as today',
    observation: observe([], { ready: 20, desired: 0 }, { list: [calc('started')] }),
    desired: 4,
    reason: 'Activate',
  },
  {
    name: 'idle workers are held through a gap between phases, past their grace',
    observation: observe([0, 0, 0], {}, { list: [calc('between-phases', 200)] }),
    history: idleFor(300, 3),
    desired: 3,
    reason: 'HoldForCalculation',
  },
  {
    name: 'the same fleet without the signal is retired after its grace (today)',
    observation: observe([0, 0, 0]),
    history: idleFor(300, 3),
    desired: 0,
    reason: 'DrainingIdle',
    retire: ['w0', 'w1', 'w2'],
  },
  {
    name: 'a gap older than calculationHoldSeconds holds nothing',
    observation: observe([0, 0, 0], {}, { list: [calc('between-phases', 1000)] }),
    history: idleFor(300, 3),
    desired: 0,
    reason: 'DrainingIdle',
    retire: ['w0', 'w1', 'w2'],
  },
  {
    name: 'a pre-processing calculation keeps only its pre-warm of an older idle fleet',
    observation: observe([0, 0, 0, 0], {}, { list: [calc('started')] }),
    history: idleFor(300, 4),
    desired: 2,
    reason: 'DrainingIdle',
    retire: ['w0', 'w1'],
  },
  {
    name: 'no calculation running and an empty queue: idle workers go at once, no grace',
    observation: observe([0, 0], {}, { list: [calc('ended')] }),
    history: idleFor(5, 2),
    desired: 0,
    reason: 'CalculationsEnded',
    retire: ['w0', 'w1'],
  },
  {
    name: 'an empty calculation list counts as none running',
    observation: observe([0], {}, { list: [] }),
    history: idleFor(5, 1),
    desired: 0,
    reason: 'CalculationsEnded',
    retire: ['w0'],
  },
  {
    name: 'ended, but work still in flight: the grace applies (a late signal changes nothing)',
    observation: observe([2, 0], {}, { list: [calc('ended')] }),
    history: idleFor(5, 2),
    desired: 2,
    reason: 'IdleGrace',
  },
  {
    name: "a phase's tail (all submitted, nothing ready): idle workers go at once, busy ones stay",
    observation: observe([2, 0, 0], {}, { list: [calc('running', 100, 0)] }),
    history: idleFor(5, 3),
    desired: 1,
    reason: 'PhaseTail',
    retire: ['w1', 'w2'],
  },
  {
    name: 'the master still holds tasks of the phase: the grace applies',
    observation: observe([2, 0, 0], {}, { list: [calc('running', 100, 3)] }),
    history: idleFor(5, 3),
    desired: 3,
    reason: 'IdleGrace',
  },
  {
    name: 'a running calculation that does not say what it holds back: the grace applies',
    observation: observe([2, 0, 0], {}, { list: [calc('running', 100)] }),
    history: idleFor(5, 3),
    desired: 3,
    reason: 'IdleGrace',
  },
  {
    name: "one calculation's tail while another is between phases: the gap holds the fleet",
    observation: observe(
      [2, 0, 0],
      {},
      { list: [calc('running', 100, 0), calc('between-phases', 50, undefined, 8)] },
    ),
    history: idleFor(5, 3),
    desired: 3,
    reason: 'HoldForCalculation',
  },
];

describe('decide with calculation events: one row per branch', () => {
  for (const row of ROWS) {
    it(row.name, () => {
      const d = decide(row.observation, { ...BASE, ...row.policy }, row.history ?? { idleSince: {} }, T0);
      expect({ desired: d.desired, reason: d.reason, retire: [...d.retire] }).toEqual({
        desired: row.desired,
        reason: row.reason,
        retire: [...(row.retire ?? [])],
      });
    });
  }

  it('names the calculations in the detail', () => {
    const d = decide(
      observe([0], {}, { list: [calc('between-phases', 20, undefined, 42)] }),
      BASE,
      idleFor(300, 1),
      T0,
    );
    expect(d.detail).toContain('42 between phases');
  });
});

const arbStatus = fc.constantFrom<CalculationStatus>('started', 'running', 'between-phases', 'ended');
const arbCalc = fc.record({
  status: arbStatus,
  ago: fc.nat(1200),
  held: fc.option(fc.nat(5), { nil: undefined }),
});
const arbCase = fc.record({
  tasks: fc.array(fc.nat(2), { maxLength: 10 }),
  idleAgo: fc.array(fc.nat(300), { maxLength: 10 }),
  ready: fc.nat(30),
  extraDesired: fc.integer({ min: -2, max: 3 }),
  calcs: fc.array(arbCalc, { maxLength: 3 }),
  signalAge: fc.nat(60),
  prewarm: fc.nat(12),
  grace: fc.nat(200),
});
type Case = typeof arbCase extends fc.Arbitrary<infer T> ? T : never;

function build(c: Case) {
  const list = c.calcs.map((x, i) => calc(x.status, x.ago, x.held, i + 1));
  const desired = Math.max(0, c.tasks.length + c.extraDesired);
  const withSignal = observe(c.tasks, { ready: c.ready, desired }, { list, ageSeconds: c.signalAge });
  const without = observe(c.tasks, { ready: c.ready, desired });
  const policy: ScalingPolicy = { ...BASE, prewarmWorkers: c.prewarm, idleGraceSeconds: c.grace };
  const history: DecisionHistory = {
    idleSince: Object.fromEntries(
      c.tasks.flatMap((n, i) =>
        n === 0 && c.idleAgo[i] !== undefined ? [[`oq@w${i}`, T0 - c.idleAgo[i]! * 1000]] : [],
      ),
    ),
  };
  return { withSignal, without, policy, history, current: desired };
}

describe('decide with calculation events: invariants (fast-check)', () => {
  it('never retires a busy worker, whatever the calculations say', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const { withSignal, policy, history } = build(c);
        const d = decide(withSignal, policy, history, T0);
        for (const id of d.retire) {
          const w = withSignal.workers!.find((x) => x.hostname === `oq@${id}`)!;
          expect(isIdle(w)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a stale signal decides exactly as no signal', () => {
    fc.assert(
      fc.property(
        arbCase.filter((c) => c.signalAge > 30),
        (c) => {
          const { withSignal, without, policy, history } = build(c);
          const a = decide(withSignal, policy, history, T0);
          const b = decide(without, policy, history, T0);
          expect([a.desired, a.reason, a.retire]).toEqual([b.desired, b.reason, b.retire]);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never holds back demand: a scale-out without the signal is at least as large with it', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const { withSignal, without, policy, history, current } = build(c);
        const b = decide(without, policy, history, T0);
        const a = decide(withSignal, policy, history, T0);
        if (b.desired > current) expect(a.desired).toBeGreaterThanOrEqual(b.desired);
        expect(a.desired).toBeLessThanOrEqual(Math.max(current, policy.maxWorkers));
      }),
      { numRuns: 2000 },
    );
  });

  it('retires a worker before its grace only for CalculationsEnded (nothing in flight) or PhaseTail (nothing ready)', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const { withSignal, policy, history } = build(c);
        const d = decide(withSignal, policy, history, T0);
        const early = d.retire.some((id) => {
          const since = d.history.idleSince[`oq@${id}`]!;
          return T0 - since < policy.idleGraceSeconds * 1000;
        });
        if (!early) return;
        expect(['CalculationsEnded', 'PhaseTail']).toContain(d.reason);
        if (d.reason === 'CalculationsEnded') expect(d.demand).toBe(0);
        expect(withSignal.queue!.ready).toBe(0);
      }),
      { numRuns: 2000 },
    );
  });
});
