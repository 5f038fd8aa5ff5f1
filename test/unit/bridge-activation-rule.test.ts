import { describe, expect, it } from 'vitest';
import { unservedDemand, type LastCycleView } from '../../bridge/src/decide/activation.ts';
import type { Observation, WorkerObservation } from '../../bridge/src/observe/observation.ts';

const policy = { maxWorkers: 4, slotsPerWorkerFallback: 2 };

function worker(poolSize: number | undefined, active: number, reserved = 0): WorkerObservation {
  return {
    hostname: `oq@w${active}${reserved}`,
    poolSize,
    active: Array.from({ length: active }, (_, i) => ({ id: `t${i}`, name: 'calc' })),
    reserved,
    consuming: true,
    observedAt: 0,
  };
}

function last(
  ready: number,
  fleet: { desired: number; running: number; pending?: number },
  workers: WorkerObservation[] = [],
  askedWorkers = 0,
): LastCycleView {
  const observation: Observation = {
    queue: { ready, unacked: 0, consumers: workers.length, observedAt: 0, source: 'test' },
    compute: { ...fleet, pending: fleet.pending ?? 0, units: [], observedAt: 0 },
    workers,
    errors: [],
  };
  return { observation, askedWorkers };
}

describe('activation rule: ready messages that need a cycle before the next poll', () => {
  it('wakes for work with no worker running or pending, only once more is ready than the last cycle saw', () => {
    const empty = last(0, { desired: 0, running: 0 });
    expect(unservedDemand(1, empty, policy)).toBe('1 ready and no worker running or pending');
    expect(unservedDemand(0, empty, policy)).toBeUndefined();
    expect(unservedDemand(3, last(3, { desired: 0, running: 0 }), policy)).toBeUndefined();
    expect(unservedDemand(1, undefined, policy)).toBeUndefined(); // before the first cycle
  });

  it('counts free slots from the pool size the workers report, and what the last cycle asked for', () => {
    // Two workers of pool 3, four slots busy: two free.
    const busy = last(0, { desired: 2, running: 2 }, [worker(3, 2), worker(3, 1, 1)]);
    expect(unservedDemand(2, busy, policy)).toBeUndefined();
    expect(unservedDemand(3, busy, policy)).toBe(
      '3 ready above the 2 free slots of 2 workers (last cycle saw 0 ready)',
    );
    // The last cycle asked for 3 workers (fallback 2 slots each): 6 slots, none busy.
    expect(unservedDemand(6, last(0, { desired: 0, running: 0 }, [], 3), policy)).toBeUndefined();
    expect(unservedDemand(7, last(0, { desired: 0, running: 0 }, [], 3), policy)).toMatch(/above the 6 free/);
  });

  it('never wakes a fleet already at its maximum', () => {
    expect(unservedDemand(50, last(0, { desired: 4, running: 3, pending: 1 }), policy)).toBeUndefined();
  });
});
