import { expect, it } from 'vitest';
import { readJournal, type JournalEntry } from '../../local/cluster/journal-analysis.ts';
import { runLocalCluster } from '../../local/cluster/local-cluster-run.ts';
import {
  catchLongTaskJustStarted,
  expectBurstServed,
  expectEveryTaskRanOnce,
} from '../support/local-run-checks.ts';
import { describeWithRabbit } from '../support/services.ts';
import { smallRun } from './local-run-support.ts';

/** Journal starts of one task, oldest first. */
function startsOf(journal: readonly JournalEntry[], taskNo: number) {
  return journal.filter((e) => e.event === 'start' && e.task_no === taskNo).sort((a, b) => a.t - b.t);
}

describeWithRabbit('the whole loop on one machine: real bridge, process backend, real celery workers', () => {
  it(
    'scales a burst from 0 to the maximum, drains the queue, returns to 0; every task starts and ends once',
    { timeout: 240_000 },
    async () => {
      const run = smallRun();
      const r = await runLocalCluster(run);
      expectBurstServed(r, run);
      expect(r.analysis.peakWorkers).toBe(run.maxWorkers);
      // The bridge said why: it scaled out and later retired idle workers through the drain protocol.
      expect(r.decisions.some((d) => d.reason === 'Activate' || d.reason === 'ScaleOut')).toBe(true);
      expect(r.decisions.some((d) => d.reason === 'DrainingIdle')).toBe(true);
    },
  );

  it(
    'a worker killed with SIGKILL mid-task: the broker redelivers the task and it completes once',
    { timeout: 240_000 },
    async () => {
      let killedTask = -1;
      const r = await runLocalCluster(
        smallRun({
          during: async (h) => {
            const victim = await catchLongTaskJustStarted(h, 0.5);
            killedTask = victim.task_no;
            await h.backend.kill(victim.worker.replace(/^oq@/, ''));
          },
        }),
      );
      const a = r.analysis;
      expect(killedTask).toBeGreaterThanOrEqual(0);
      const starts = startsOf(r.journal, killedTask);
      expect(starts.length).toBe(2);
      // The second start is the broker's redelivery (the message's redelivered flag), on another worker.
      expect(starts[1].redelivered).toBe(true);
      expect(starts[1].worker).not.toBe(starts[0].worker);
      expect(a.redeliveredAfterFailure).toContain(killedTask);
      expectEveryTaskRanOnce(a);
    },
  );

  it(
    'the bridge restarted mid-run adopts the fleet and retires no busy worker',
    { timeout: 240_000 },
    async () => {
      let busyAtRestart = 0;
      let restartedAt = 0;
      const run = smallRun();
      const r = await runLocalCluster({
        ...run,
        during: async (h) => {
          await h.waitFor(
            'every worker to be running',
            async () => (await h.fleet()).running === run.maxWorkers,
          );
          busyAtRestart = new Set(
            readJournal(h.journalPath)
              .filter((e) => e.event === 'start')
              .map((e) => e.worker),
          ).size;
          restartedAt = Date.now();
          await h.restartBridge();
        },
      });
      const a = r.analysis;
      expect(restartedAt).toBeGreaterThan(0);
      expect(busyAtRestart).toBeGreaterThan(0);
      expectEveryTaskRanOnce(a);
      // The new bridge did not lose track of the fleet: no duplicate fleet was started.
      expect(a.peakWorkers, JSON.stringify(r.lifecycle)).toBeLessThanOrEqual(run.maxWorkers);
      expect(r.returnedToMinAfterSeconds).toBeDefined();
    },
  );
});
