/**
 * The ghost cross-check (issue 14 item 7): an `active` claim is a ghost only once it has outlived, by the
 * ghost window, a management API reading of 0 unacked that describes a time when it was already listed.
 * Pure state machine; the observer's use of it runs with in-process stub sources.
 */
import { describe, expect, it } from 'vitest';
import { GhostTracker } from '../../bridge/src/observe/ghost-tasks.ts';
import { CeleryObserver, type QueueSource, type WorkerInspector } from '../../bridge/src/observe/observer.ts';

const claims = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

describe('GhostTracker', () => {
  it('never calls a task a ghost while the broker counts an unacked message', () => {
    const t = new GhostTracker(10_000);
    for (let now = 0; now <= 600_000; now += 5_000) {
      const ghosts = t.update(claims({ 'oq@a': ['real'] }), { unacked: 1, asOf: now - 10_000 }, now);
      expect(ghosts.size).toBe(0);
    }
  });

  it('ignores a zero reading that describes a time before the claim was listed', () => {
    const t = new GhostTracker(10_000);
    // The claim appears at 100 s; the management API's figures still describe 95 s (before the delivery).
    for (let now = 100_000; now <= 200_000; now += 5_000) {
      const ghosts = t.update(claims({ 'oq@a': ['new'] }), { unacked: 0, asOf: 95_000 }, now);
      expect(ghosts.size).toBe(0);
    }
  });

  it('names a claim a ghost once it outlived a zero reading by the window, and forgets a claim that vanished', () => {
    const t = new GhostTracker(10_000);
    const both = claims({ 'oq@a': ['g'], 'oq@b': ['r'] });
    expect(t.update(both, { unacked: 1, asOf: -5_000 }, 0).size).toBe(0);
    // oq@b did not list its claim this cycle; the figures describe 2 s, when oq@a's claim was listed: 0 unacked.
    expect(t.update(claims({ 'oq@a': ['g'] }), { unacked: 0, asOf: 2_000 }, 5_000).size).toBe(0);
    expect(t.update(both, { unacked: 3, asOf: 7_000 }, 10_000).size).toBe(0);
    // 10 s after the zero reading oq@a's claim is a ghost; oq@b's starts over at 10 s and has seen only 3 unacked.
    expect(t.update(both, undefined, 12_000)).toEqual(new Map([['oq@a', new Set(['g'])]]));
  });
});

describe('CeleryObserver sets ghost claims apart (in-process stub sources)', () => {
  it('leaves ghosts out of demand and idleness once the broker has shown 0 unacked long enough', async () => {
    let now = 1_000_000;
    const queue: QueueSource = {
      passive: () => Promise.resolve({ ready: 0, consumers: 1, observedAt: now, exists: true }),
      fromManagement: () => Promise.resolve({ ready: 0, unacked: 0, consumers: 1, observedAt: now }),
      hasManagement: true,
    };
    const one = <T>(value: T) =>
      Promise.resolve({ replies: new Map([['oq@a', value]]), missing: [], errors: [] });
    const inspector: WorkerInspector = {
      stats: () => one({ poolSize: 2, raw: {} }),
      active: () => one([{ id: 'ghost-1', name: 'safely_call' }]),
      reserved: () => one([]),
      activeQueues: () => one(['celery']),
    };
    const observer = new CeleryObserver({
      queueProbe: queue,
      remoteControl: inspector,
      now: () => now,
      managementLagMs: 1000,
      ghostAfterMs: 5000,
    });
    const first = await observer.observe();
    expect(first.workers![0]!.active).toHaveLength(1);
    expect(first.queue!.unacked).toBe(1);
    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      now += 2000;
      const o = await observer.observe();
      seen.push(o.workers![0]!.active.length);
    }
    // Readings count as describing now - 2 s (twice the lag): the one fetched at +2 s describes +0 s, when the
    // claim was listed, so the claim is a ghost from +5 s on: the cycles at +2 and +4 s still count it.
    expect(seen).toEqual([1, 1, 0, 0, 0]);
    const last = await observer.observe();
    expect(last.workers![0]).toMatchObject({ active: [], ghosts: [{ id: 'ghost-1' }] });
    expect(last.queue!.unacked).toBe(0);
  });
});
