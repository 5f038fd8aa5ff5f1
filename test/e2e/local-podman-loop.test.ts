import { beforeAll, expect, it } from 'vitest';
import { runLocalCluster } from '../../local/cluster/local-cluster-run.ts';
import { describeWithRabbit } from '../support/services.ts';
import { ensureWorkerImage } from '../support/worker-image.ts';
import { smallRun } from './local-run-support.ts';

describeWithRabbit(
  'the whole loop with the podman backend: real bridge, containers of the real worker image',
  () => {
    let image: string;

    beforeAll(async () => {
      image = await ensureWorkerImage();
    }, 900_000);

    it(
      'scales a burst from 0 to the maximum, drains the queue, returns to 0; every task starts and ends once',
      { timeout: 300_000 },
      async () => {
        const run = smallRun({ backend: 'podman', image, maxWorkers: 2, tasks: 24, timeoutSeconds: 240 });
        const r = await runLocalCluster(run);
        const a = r.analysis;
        expect(r.samples[0].desired).toBe(0);
        expect(r.peakDesired).toBe(run.maxWorkers);
        expect(a.completed).toBe(run.tasks);
        expect(a.lost).toEqual([]);
        expect(a.runTwice).toEqual([]);
        expect(a.startedTwiceUnexplained).toEqual([]);
        expect(a.redeliveredAfterFailure).toEqual([]);
        expect(a.busyRetired).toEqual([]);
        // The tasks ran in the containers: their celery hostnames are the podman units'.
        expect(new Set(r.journal.map((e) => e.worker)).size).toBeGreaterThanOrEqual(1);
        expect(r.journal.every((e) => /^oq@c[0-9a-f]{8}$/.test(e.worker))).toBe(true);
        expect(r.finalQueue).toMatchObject({ ready: 0, unacked: 0 });
        expect(r.returnedToMinAfterSeconds).toBeDefined();
        expect(r.finalFleet.units).toHaveLength(0);
      },
    );

    it(
      'a container killed with SIGKILL mid-task: the task is redelivered and completes once',
      { timeout: 300_000 },
      async () => {
        let killedTask = -1;
        const r = await runLocalCluster(
          smallRun({
            backend: 'podman',
            image,
            maxWorkers: 2,
            tasks: 24,
            timeoutSeconds: 240,
            during: async (h) => {
              const { readJournal } = await import('../../local/cluster/journal-analysis.ts');
              let victim: { worker: string; task_no: number } | undefined;
              await h.waitFor(
                'a long task to start',
                () => {
                  const now = Date.now() / 1000;
                  victim = readJournal(h.journalPath).find(
                    (e) => e.event === 'start' && h.durations[e.task_no] >= 1.5 && now - e.t < 0.6,
                  );
                  return victim !== undefined;
                },
                120_000,
              );
              killedTask = victim!.task_no;
              await h.backend.kill(victim!.worker.replace(/^oq@/, ''));
            },
          }),
        );
        const a = r.analysis;
        const starts = r.journal.filter((e) => e.event === 'start' && e.task_no === killedTask);
        expect(starts.length).toBe(2);
        expect(starts.some((s) => s.redelivered)).toBe(true);
        expect(a.lost).toEqual([]);
        expect(a.runTwice).toEqual([]);
        expect(a.startedTwiceUnexplained).toEqual([]);
        expect(a.busyRetired).toEqual([]);
      },
    );

    it(
      'the bridge restarted mid-run adopts the containers and retires no busy worker',
      { timeout: 300_000 },
      async () => {
        let restarted = false;
        const run = smallRun({ backend: 'podman', image, maxWorkers: 2, tasks: 24, timeoutSeconds: 240 });
        const r = await runLocalCluster({
          ...run,
          during: async (h) => {
            await h.waitFor(
              'every worker to be running',
              async () => (await h.fleet()).running === run.maxWorkers,
              120_000,
            );
            await h.restartBridge();
            restarted = true;
          },
        });
        const a = r.analysis;
        expect(restarted).toBe(true);
        expect(a.busyRetired).toEqual([]);
        expect(a.lost).toEqual([]);
        expect(a.runTwice).toEqual([]);
        expect(a.startedTwiceUnexplained).toEqual([]);
        // The new bridge adopted the running containers instead of starting a second fleet.
        expect(a.peakWorkers, JSON.stringify(r.lifecycle)).toBeLessThanOrEqual(run.maxWorkers);
        expect(r.returnedToMinAfterSeconds).toBeDefined();
      },
    );
  },
);
