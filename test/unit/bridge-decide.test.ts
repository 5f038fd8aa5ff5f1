import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DECIDE_TEST_POLICY } from '../support/decide-test-policy.ts';
import { costCapWorkers, decide, isIdle } from '../../bridge/src/decide/decide.ts';
import type { DecisionHistory, DecisionReason, ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import type {
  ComputeUnit,
  Observation,
  SharedDirObservation,
  WorkerObservation,
} from '../../bridge/src/observe/observation.ts';

const NOW = 1_800_000_000_000;
const POLICY: ScalingPolicy = DECIDE_TEST_POLICY;
const EMPTY: DecisionHistory = { idleSince: {} };

/** A worker as its remote-control replies describe it: `a` running tasks, `r` reserved. */
interface W {
  id: string;
  a?: number;
  r?: number;
  pool?: number;
  consuming?: boolean;
  silent?: boolean;
  state?: ComputeUnit['state'];
  startedAt?: number;
}

function unit(w: W): ComputeUnit {
  return { unitId: w.id, celeryHostname: `oq@${w.id}`, state: w.state ?? 'running', startedAt: w.startedAt };
}

function worker(w: W, at = NOW): WorkerObservation {
  return {
    hostname: `oq@${w.id}`,
    poolSize: w.pool === undefined ? 2 : w.pool === 0 ? undefined : w.pool,
    active: Array.from({ length: w.a ?? 0 }, (_, i) => ({ id: `${w.id}-t${i}`, name: 'safely_call' })),
    reserved: w.r ?? 0,
    consuming: w.consuming ?? true,
    observedAt: at,
  };
}

function obs(
  fleet: W[],
  opts: {
    ready?: number;
    unacked?: number;
    desired?: number;
    sharedDir?: SharedDirObservation;
    at?: number;
    consumers?: number;
  } = {},
): Observation {
  const units = fleet.map(unit);
  return {
    queue: {
      ready: opts.ready ?? 0,
      unacked: opts.unacked ?? 0,
      consumers: opts.consumers ?? fleet.length,
      observedAt: opts.at ?? NOW,
      source: 'test',
    },
    workers: fleet
      .filter((w) => !w.silent && (w.state ?? 'running') !== 'pending')
      .map((w) => worker(w, opts.at)),
    compute: {
      desired: opts.desired ?? fleet.filter((w) => w.state !== 'stopping').length,
      running: units.filter((u) => u.state === 'running').length,
      pending: units.filter((u) => u.state === 'pending').length,
      units,
      observedAt: opts.at ?? NOW,
    },
    sharedDir: opts.sharedDir,
    errors: [],
  };
}

const idleFor = (seconds: number, ...ids: string[]): DecisionHistory => ({
  idleSince: Object.fromEntries(ids.map((id) => [`oq@${id}`, NOW - seconds * 1000])),
});

interface Row {
  name: string;
  observation: Observation;
  policy?: Partial<ScalingPolicy>;
  history?: DecisionHistory;
  desired: number;
  reason: DecisionReason;
  retire?: string[];
  demand?: number;
}

const busy2 = (id: string): W => ({ id, a: 2 });
const idle = (id: string): W => ({ id });

const ROWS: Row[] = [
  // 0 workers, 1 ready message: activation 0 -> ceil(1 / 2) = 1.
  {
    name: 'activation on any demand',
    observation: obs([], { ready: 1 }),
    desired: 1,
    reason: 'Activate',
    demand: 1,
  },
  // 0 workers, 7 ready, slots fallback 2: ceil(7 / 2) = 4 <= step 4 -> 4.
  {
    name: 'activation sizes with the fallback slots',
    observation: obs([], { ready: 7 }),
    desired: 4,
    reason: 'Activate',
  },
  // 0 workers, nothing to do, min 0: target max(0, 0) = 0 = current.
  { name: 'nothing to do at zero', observation: obs([]), desired: 0, reason: 'Steady', demand: 0 },
  // 2 busy workers (2 active each) + 4 ready: demand 4 + max(unacked 4, active 4) = 8; ceil(8 / 2) = 4; 2 -> 4.
  {
    name: 'scale out counts in-flight work, not only ready',
    observation: obs([busy2('a'), busy2('b')], { ready: 4, unacked: 4 }),
    desired: 4,
    reason: 'ScaleOut',
    demand: 8,
  },
  // Every worker busy and no ready message: demand 0 + 4 in flight = 4; ceil(4 / 2) = 2 = current -> hold.
  {
    name: 'all busy, nothing ready: demand is the unacked work, not zero',
    observation: obs([busy2('a'), busy2('b')], { ready: 0, unacked: 4 }),
    desired: 2,
    reason: 'Steady',
    demand: 4,
  },
  // Management API lags: unacked reads 0, workers say 4 in hand; demand 0 + max(0, 4) = 4 -> 2 workers.
  {
    name: "lagging unacked is cross-checked with the workers' own figures",
    observation: obs([busy2('a'), busy2('b')], { ready: 0, unacked: 0 }),
    desired: 2,
    reason: 'Steady',
    demand: 4,
  },
  // Pool size from stats: 1 worker with pool 8 (1 active), 9 ready: demand 9 + 1 = 10; ceil(10 / 8) = 2.
  {
    name: 'slots per worker come from stats',
    observation: obs([{ id: 'a', a: 1, pool: 8 }], { ready: 9, unacked: 1 }),
    desired: 2,
    reason: 'ScaleOut',
  },
  // stats missing (pool unknown): fallback 2; 1 worker, 1 active, 5 ready: 6 / 2 = 3.
  {
    name: 'fallback slots when stats did not answer',
    observation: obs([{ id: 'a', a: 1, pool: 0 }], { ready: 5, unacked: 1 }),
    desired: 3,
    reason: 'ScaleOut',
  },
  // 1 busy worker, 40 ready: demand 40 + 2 = 42; ceil(42 / 2) = 21 -> max 10; step 4: min(10, 1 + 4) = 5.
  {
    name: 'step limit',
    observation: obs([busy2('a')], { ready: 40, unacked: 2 }),
    desired: 5,
    reason: 'ScaleUpLimit',
  },
  // 8 busy workers, 40 ready: 56 / 2 = 28 -> max 10; step 4 allows 12 -> 10: capped by max.
  {
    name: 'capped at maxWorkers',
    observation: obs(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(busy2), { ready: 40, unacked: 16 }),
    desired: 10,
    reason: 'AtMax',
  },
  // Already at max 10, more work: 60 / 2 = 30 > 10 -> stays 10, AtMax.
  {
    name: 'at max stays at max',
    observation: obs(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map(busy2), {
      ready: 40,
      unacked: 20,
    }),
    desired: 10,
    reason: 'AtMax',
  },
  // Cost cap: floor(0.35 / 0.1) = 3 workers; 2 busy + 10 ready: 14 / 2 = 7 -> 3.
  {
    name: 'capped by the hourly cost',
    observation: obs([busy2('a'), busy2('b')], { ready: 10, unacked: 4 }),
    policy: { maxHourlyCost: 0.35 },
    desired: 3,
    reason: 'CostCap',
  },
  // min 2 with no demand and no workers: target max(2, 0) = 2 > 0 -> scale out to the floor.
  {
    name: 'raised to minWorkers',
    observation: obs([]),
    policy: { minWorkers: 2 },
    desired: 2,
    reason: 'ScaleOut',
  },
  // min 1, one idle worker idle for 300 s: target max(1, 0) = 1 = current -> AtMin.
  {
    name: 'at min: never below minWorkers',
    observation: obs([idle('a')]),
    policy: { minWorkers: 1 },
    history: idleFor(300, 'a'),
    desired: 1,
    reason: 'AtMin',
  },
  // 2 idle workers, grace 60 s, idle for 10 s: target 0 < 2 but none eligible -> IdleGrace.
  {
    name: 'idle grace before retiring',
    observation: obs([idle('a'), idle('b')]),
    history: idleFor(10, 'a', 'b'),
    desired: 2,
    reason: 'IdleGrace',
  },
  // First time seen idle (no history): idle since now, 0 s < 60 s -> IdleGrace.
  {
    name: 'first idle sighting starts the grace',
    observation: obs([idle('a')]),
    desired: 1,
    reason: 'IdleGrace',
  },
  // 1 busy + 2 idle for 90 s: demand 0 + 2 = 2 -> target ceil(2 / 2) = 1; surplus 3 - 1 = 2 -> both idle go.
  {
    name: 'retire idle workers after the grace, never the busy one',
    observation: obs([busy2('a'), idle('b'), idle('c')], { unacked: 2 }),
    history: idleFor(90, 'b', 'c'),
    desired: 1,
    reason: 'DrainingIdle',
    retire: ['b', 'c'],
  },
  // 3 idle, longest idle first: c 300 s, a 100 s, b 70 s; min 2 -> surplus 3 - 2 = 1 -> retire c.
  {
    name: 'longest idle goes first',
    observation: obs([idle('a'), idle('b'), idle('c')]),
    policy: { minWorkers: 2 },
    history: { idleSince: { 'oq@a': NOW - 100_000, 'oq@b': NOW - 70_000, 'oq@c': NOW - 300_000 } },
    desired: 2,
    reason: 'DrainingIdle',
    retire: ['c'],
  },
  // maxStepIn 1: 3 idle for 90 s, target 0, surplus 3 -> one retired this cycle (the longest idle, a).
  {
    name: 'maxStepIn limits retirements per cycle',
    observation: obs([idle('a'), idle('b'), idle('c')]),
    policy: { maxStepIn: 1 },
    history: { idleSince: { 'oq@a': NOW - 300_000, 'oq@b': NOW - 90_000, 'oq@c': NOW - 90_000 } },
    desired: 2,
    reason: 'DrainingIdle',
    retire: ['a'],
  },
  // An already-drained worker (consumer cancelled, found after a restart) goes before a longer-idle one.
  {
    name: 'a drained worker found after a restart is retired first',
    observation: obs([idle('a'), { id: 'b', consuming: false }]),
    policy: { minWorkers: 1 },
    history: idleFor(120, 'a', 'b'),
    desired: 1,
    reason: 'DrainingIdle',
    retire: ['b'],
  },
  // Reserved counts as busy: a has 0 active but 1 reserved; demand 0 + 1 = 1 -> target 1; b idle 90 s retired.
  {
    name: 'a worker with a reserved task is busy',
    observation: obs([{ id: 'a', r: 1 }, idle('b')], { unacked: 1 }),
    history: idleFor(90, 'a', 'b'),
    desired: 1,
    reason: 'DrainingIdle',
    retire: ['b'],
  },
  // Target 0 < 2 but both workers have 1 of 2 slots busy: demand 2 -> ceil(2 / 2) = 1 < 2, none idle -> Steady.
  {
    name: 'no idle worker to retire: hold',
    observation: obs(
      [
        { id: 'a', a: 1 },
        { id: 'b', a: 1 },
      ],
      { unacked: 2 },
    ),
    desired: 2,
    reason: 'Steady',
  },
  // A stopping unit (already retired) is never chosen again; a (idle 90 s) is: desired 1 -> 0.
  {
    name: 'a stopping unit is not retired twice',
    observation: obs([idle('a'), { id: 'z', state: 'stopping' }], { desired: 1 }),
    history: idleFor(90, 'a', 'z'),
    desired: 0,
    reason: 'DrainingIdle',
    retire: ['a'],
  },
  // A pending unit is capacity on its way: 1 busy + 1 pending, demand 4 -> 2 = current.
  {
    name: 'pending units count toward the desired count',
    observation: obs([busy2('a'), { id: 'p', state: 'pending' }], { unacked: 2, ready: 2 }),
    desired: 2,
    reason: 'Steady',
  },
  // Missing queue: hold at the backend's desired 2, never scale in.
  {
    name: 'broker down: hold',
    observation: {
      ...obs([idle('a'), idle('b')]),
      queue: undefined,
      workers: undefined,
      errors: ['ECONNREFUSED'],
    },
    history: idleFor(600, 'a', 'b'),
    desired: 2,
    reason: 'HoldOnMissingData',
  },
  // Missing compute: hold at the last desired seen (3).
  {
    name: 'backend not observed: hold at the last desired',
    observation: { ...obs([]), compute: undefined },
    history: { idleSince: {}, lastObservedDesired: 3 },
    desired: 3,
    reason: 'HoldOnMissingData',
  },
  // Queue figures 45 s old > 30 s: hold even though both workers have been idle 600 s.
  {
    name: 'stale queue figures: hold',
    observation: (() => {
      const o = obs([idle('a'), idle('b')]);
      return { ...o, queue: { ...o.queue!, observedAt: NOW - 45_000 } };
    })(),
    history: idleFor(600, 'a', 'b'),
    desired: 2,
    reason: 'HoldOnStaleData',
  },
  // 2 units running for 10 minutes, no worker answered and no consumer on the queue, 6 ready: hold, no scale out.
  {
    name: 'running units with no worker replies and no consumer: hold',
    observation: obs(
      [
        { id: 'a', silent: true, startedAt: NOW - 600_000 },
        { id: 'b', silent: true, startedAt: NOW - 600_000 },
      ],
      { ready: 6, consumers: 0 },
    ),
    desired: 2,
    reason: 'HoldOnContradiction',
  },
  // Celery 4.4 workers busy with engine tasks cannot answer `active` but consume: 2 silent, 2 consumers,
  // 4 ready + 2 unacked = 6 / 2 slots = 3 -> scale out 2 -> 3, and no silent unit is ever retired.
  {
    name: 'silent consuming workers (celery 4.4 busy) are capacity, not a contradiction',
    observation: obs(
      [
        { id: 'a', silent: true, startedAt: NOW - 600_000 },
        { id: 'b', silent: true, startedAt: NOW - 600_000 },
      ],
      { ready: 4, unacked: 2, consumers: 2 },
    ),
    desired: 3,
    reason: 'ScaleOut',
  },
  // Same silent pair with no demand at all: target 0 < 2 but nobody answered idle -> nothing to retire.
  {
    name: 'silent workers are never retired',
    observation: obs(
      [
        { id: 'a', silent: true, startedAt: NOW - 600_000 },
        { id: 'b', silent: true, startedAt: NOW - 600_000 },
      ],
      { consumers: 2 },
    ),
    history: idleFor(600, 'a', 'b'),
    desired: 2,
    reason: 'Steady',
  },
  // Units started 20 s ago whose celery has not connected yet are starting, not a contradiction.
  {
    name: 'starting units are not a contradiction',
    observation: obs([{ id: 'a', silent: true, startedAt: NOW - 20_000 }], { ready: 2 }),
    desired: 1,
    reason: 'Steady',
  },
  // Demand 6 / 2 = 3 > 1 but EFS has no mount target in a worker subnet: hold at 1.
  {
    name: 'shared dir not ready: no scale out',
    observation: obs([busy2('a')], {
      ready: 4,
      unacked: 2,
      sharedDir: { available: true, mountTargetsReady: false, sizeBytes: 0, observedAt: NOW },
    }),
    desired: 1,
    reason: 'HoldSharedDirUnavailable',
  },
  // Current 12 above a lowered max 10: retire the 2 idle ones only (12 - 10 = 2), busy ones stay.
  {
    name: 'above a lowered max: retire idle only',
    observation: obs(
      [...['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map(busy2), idle('k'), idle('l')],
      { unacked: 20, ready: 10 },
    ),
    history: idleFor(90, 'k', 'l'),
    desired: 10,
    reason: 'DrainingIdle',
    retire: ['k', 'l'],
  },
];

describe('decide: one row per branch', () => {
  it.each(ROWS)('$name', (row) => {
    const d = decide(row.observation, { ...POLICY, ...row.policy }, row.history ?? EMPTY, NOW);
    expect({ reason: d.reason, desired: d.desired }, d.detail).toEqual({
      reason: row.reason,
      desired: row.desired,
    });
    expect([...d.retire].sort()).toEqual(row.retire ?? []);
    if (row.demand !== undefined) expect(d.demand).toBe(row.demand);
    expect(d.detail.length).toBeGreaterThan(10);
  });

  it('names every reason except the loop-level HoldActionInFlight', () => {
    const seen = new Set(ROWS.map((r) => r.reason));
    for (const reason of [
      'Steady',
      'Activate',
      'ScaleOut',
      'ScaleUpLimit',
      'AtMax',
      'CostCap',
      'AtMin',
      'IdleGrace',
      'DrainingIdle',
      'HoldOnMissingData',
      'HoldOnStaleData',
      'HoldOnContradiction',
      'HoldSharedDirUnavailable',
    ] as DecisionReason[]) {
      expect(seen.has(reason), reason).toBe(true);
    }
  });

  it('keeps idle streaks across cycles and restarts them when a worker gets work', () => {
    const first = decide(obs([idle('a')]), POLICY, EMPTY, NOW);
    expect(first.history.idleSince['oq@a']).toBe(NOW);
    const later = decide(obs([idle('a')], { at: NOW + 61_000 }), POLICY, first.history, NOW + 61_000);
    expect(later.reason).toBe('DrainingIdle');
    const busyAgain = decide(
      obs([{ id: 'a', a: 1 }], { unacked: 1, at: NOW + 30_000 }),
      POLICY,
      first.history,
      NOW + 30_000,
    );
    expect(busyAgain.history.idleSince['oq@a']).toBeUndefined();
  });

  it('forgets idle streaks on missing data, so an outage restarts the grace', () => {
    const o = { ...obs([idle('a')]), workers: undefined };
    const d = decide(o, POLICY, idleFor(600, 'a'), NOW);
    expect(d.history.idleSince).toEqual({});
  });

  it("passes the backend's reason for a shortfall (e.g. the Fargate vCPU quota) into the detail", () => {
    const o = obs([busy2('a')], { ready: 4, unacked: 2, desired: 3 });
    const quota =
      'service oq was unable to place a task. Reason: You have reached the limit on the number of vCPUs';
    const d = decide({ ...o, compute: { ...o.compute!, shortfall: quota } }, POLICY, EMPTY, NOW);
    expect(d.reason).toBe('Steady');
    expect(d.detail).toContain(`backend short of 3: ${quota}`);
  });

  it('cost cap arithmetic survives floating point', () => {
    expect(costCapWorkers({ ...POLICY, maxHourlyCost: 1.2, workerHourlyCost: 0.4 })).toBe(3);
    expect(costCapWorkers({ ...POLICY, maxHourlyCost: Infinity })).toBe(Infinity);
  });
});

// ---- properties -------------------------------------------------------------------------------------------

const arbWorker = fc.record({
  a: fc.nat(3),
  r: fc.nat(1),
  pool: fc.integer({ min: 0, max: 8 }),
  consuming: fc.boolean(),
  silent: fc.boolean(),
  state: fc.constantFrom<ComputeUnit['state']>('running', 'running', 'running', 'pending', 'stopping'),
  idleAgo: fc.option(fc.nat(600), { nil: undefined }),
});
const arbCase = fc.record({
  fleet: fc.array(arbWorker, { maxLength: 14 }),
  ready: fc.nat(60),
  unacked: fc.nat(30),
  extraDesired: fc.integer({ min: -2, max: 3 }),
  minWorkers: fc.nat(4),
  span: fc.nat(10),
  maxStepOut: fc.integer({ min: 1, max: 6 }),
  grace: fc.nat(120),
  cost: fc.option(fc.double({ min: 0.1, max: 3, noNaN: true }), { nil: undefined }),
  drop: fc.constantFrom('none', 'none', 'queue', 'workers', 'compute', 'stale'),
});

type Case = typeof arbCase extends fc.Arbitrary<infer T> ? T : never;

function build(c: Case) {
  const fleet: W[] = c.fleet.map((w, i) => ({ id: `u${i}`, ...w, startedAt: NOW - 1_000_000 }));
  const policy: ScalingPolicy = {
    ...POLICY,
    minWorkers: c.minWorkers,
    maxWorkers: c.minWorkers + c.span + 1,
    maxStepOut: c.maxStepOut,
    idleGraceSeconds: c.grace,
    maxHourlyCost: c.cost === undefined ? Infinity : Math.max(c.cost, 0.1 * Math.max(1, c.minWorkers)),
  };
  const notStopping = fleet.filter((w) => w.state !== 'stopping').length;
  let o = obs(fleet, {
    ready: c.ready,
    unacked: c.unacked,
    desired: Math.max(0, notStopping + c.extraDesired),
  });
  if (c.drop === 'queue') o = { ...o, queue: undefined };
  if (c.drop === 'workers') o = { ...o, workers: undefined };
  if (c.drop === 'compute') o = { ...o, compute: undefined };
  if (c.drop === 'stale') o = { ...o, compute: { ...o.compute!, observedAt: NOW - 31_000 } };
  const history: DecisionHistory = {
    idleSince: Object.fromEntries(
      c.fleet.flatMap((w, i) => (w.idleAgo === undefined ? [] : [[`oq@u${i}`, NOW - w.idleAgo * 1000]])),
    ),
    lastObservedDesired: notStopping,
  };
  return { fleet, policy, o, history, current: o.compute?.desired ?? notStopping };
}

describe('decide: invariants (fast-check)', () => {
  it('never scales above max, never retires below min', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const { policy, o, history, current } = build(c);
        const d = decide(o, policy, history, NOW);
        if (d.desired > current) expect(d.desired).toBeLessThanOrEqual(policy.maxWorkers);
        if (d.desired < current) expect(d.desired).toBeGreaterThanOrEqual(policy.minWorkers);
        expect(d.desired).toBeLessThanOrEqual(Math.max(current, policy.maxWorkers));
        expect(d.desired).toBe(current - d.retire.length + (d.desired > current ? d.desired - current : 0));
      }),
      { numRuns: 2000 },
    );
  });

  it('never retires a unit with an active or reserved task, nor one that did not answer', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const { o, policy, history } = build(c);
        const d = decide(o, policy, history, NOW);
        for (const id of d.retire) {
          const w = o.workers?.find((x) => x.hostname === `oq@${id}`);
          expect(w, `${id} answered`).toBeDefined();
          expect(isIdle(w!), `${id} idle`).toBe(true);
          expect(o.compute!.units.find((u) => u.unitId === id)?.state).toBe('running');
        }
        expect(new Set(d.retire).size).toBe(d.retire.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('never scales in on missing or stale data', () => {
    fc.assert(
      fc.property(
        arbCase.filter((c) => c.drop !== 'none'),
        (c) => {
          const { o, policy, history, current } = build(c);
          const d = decide(o, policy, history, NOW);
          expect(d.retire).toEqual([]);
          expect(d.desired).toBe(current);
          expect(d.reason).toMatch(/^Hold/);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('never retires before the idle grace', () => {
    fc.assert(
      fc.property(arbCase, (c) => {
        const { o, policy, history } = build(c);
        const d = decide(o, policy, history, NOW);
        for (const id of d.retire) {
          const since = d.history.idleSince[`oq@${id}`] ?? history.idleSince[`oq@${id}`];
          expect(since).toBeDefined();
          expect(NOW - since!).toBeGreaterThanOrEqual(policy.idleGraceSeconds * 1000);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
