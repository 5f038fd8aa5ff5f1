/**
 * What the end-to-end runs of the local loop (local/cluster) check alike, whichever fleet backend they use.
 */
import { expect } from 'vitest';
import { readJournal, type JournalEntry, type RunAnalysis } from '../../local/cluster/journal-analysis.ts';
import type {
  LocalRunHandle,
  LocalRunOptions,
  LocalRunResult,
} from '../../local/cluster/local-cluster-run.ts';

/**
 * Asserts that no task was lost, none ran twice, every second start is explained by a kill or an outage, and no
 * busy worker was retired. One assertion over all four, so that a failure shows every figure at once.
 */
export function expectEveryTaskRanOnce(a: RunAnalysis): void {
  expect({
    lost: a.lost,
    runTwice: a.runTwice,
    startedTwiceUnexplained: a.startedTwiceUnexplained,
    busyRetired: a.busyRetired,
  }).toEqual({ lost: [], runTwice: [], startedTwiceUnexplained: [], busyRetired: [] });
}

/**
 * Asserts what a burst run of `run` must show on any backend: the fleet starts at 0 and the bridge asks for the
 * maximum; every task ends once, none needing a redelivery; the queue is empty and the fleet back at the minimum.
 */
export function expectBurstServed(r: LocalRunResult, run: LocalRunOptions): void {
  expect(r.samples[0].desired).toBe(0);
  expect(r.peakDesired).toBe(run.maxWorkers);
  expect(r.analysis.completed).toBe(run.tasks);
  expectEveryTaskRanOnce(r.analysis);
  expect(r.analysis.redeliveredAfterFailure).toEqual([]);
  expect(r.finalQueue).toMatchObject({ ready: 0, unacked: 0 });
  expect(r.returnedToMinAfterSeconds).toBeDefined();
  expect(r.finalFleet.units).toHaveLength(run.minWorkers);
}

/**
 * Waits, from a run's `during` hook, for a task of 1.5 s or more that started less than `maxAgeSeconds` ago,
 * and returns its journal start: a task long enough to be killed in its middle, caught just after it started.
 * `timeoutMs` defaults to the handle's own.
 */
export async function catchLongTaskJustStarted(
  h: LocalRunHandle,
  maxAgeSeconds: number,
  timeoutMs?: number,
): Promise<JournalEntry> {
  let victim: JournalEntry | undefined;
  await h.waitFor(
    'a long task to start',
    () => {
      const now = Date.now() / 1000;
      victim = readJournal(h.journalPath).find(
        (e) => e.event === 'start' && h.durations[e.task_no] >= 1.5 && now - e.t < maxAgeSeconds,
      );
      return victim !== undefined;
    },
    timeoutMs,
  );
  return victim!;
}
