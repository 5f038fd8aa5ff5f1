import { describe, expect, it } from 'vitest';
import { planSecondRound, reservedIsEmpty } from '../../bridge/src/observe/broadcast-plan.ts';

describe("observer's broadcast plan (pure)", () => {
  it('skips `reserved` only when every expected worker answered and the broker holds no more than is active', () => {
    const facts = {
      activeOk: true,
      activeRepliers: 2,
      activeTasks: 4,
      activeMissing: 0,
      managementUnacked: 4,
    };
    expect(reservedIsEmpty(facts)).toBe(true);
    expect(reservedIsEmpty({ ...facts, managementUnacked: 5 })).toBe(false); // one delivered, not active
    expect(reservedIsEmpty({ ...facts, managementUnacked: undefined })).toBe(false); // broker figure unknown
    expect(reservedIsEmpty({ ...facts, activeMissing: 1 })).toBe(false); // a silent worker may hold one
    expect(reservedIsEmpty({ ...facts, activeRepliers: 0, activeTasks: 0, managementUnacked: 0 })).toBe(
      false,
    );
    expect(reservedIsEmpty({ ...facts, activeOk: false })).toBe(false);
  });

  it('asks `stats` of new and silent workers, `active_queues` only when a worker may not be consuming', () => {
    const base = {
      answered: new Set(['oq@a', 'oq@b']),
      full: ['oq@a', 'oq@b'],
      missed: new Set(['oq@c']),
      heardStats: () => false,
      poolSizeKnown: (h: string) => h === 'oq@a',
      consuming: () => true,
      passiveConsumers: 2,
    };
    expect(planSecondRound(base)).toEqual({
      statsFor: ['oq@b', 'oq@c'],
      missedNow: ['oq@c'],
      askQueues: false,
    });
    // Fewer consumers on the queue than workers assumed consuming: someone stopped.
    expect(planSecondRound({ ...base, passiveConsumers: 1 }).askQueues).toBe(true);
    expect(planSecondRound({ ...base, passiveConsumers: undefined }).askQueues).toBe(true);
    // A drain in progress (a worker last seen not consuming) keeps asking.
    expect(planSecondRound({ ...base, consuming: (h: string) => h !== 'oq@b' }).askQueues).toBe(true);
    // A worker heard in the first round's `stats` is not asked again.
    expect(planSecondRound({ ...base, heardStats: (h: string) => h !== 'oq@a' }).statsFor).toEqual([]);
    expect(planSecondRound({ ...base, full: [] }).askQueues).toBe(false);
  });
});
