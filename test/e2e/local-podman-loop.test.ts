import { beforeAll, expect, it } from 'vitest';
import { runLocalCluster } from '../../local/cluster/local-cluster-run.ts';
import { describeWithRabbit } from '../support/services.ts';
import {
  catchLongTaskJustStarted,
  expectBurstServed,
  expectEveryTaskRanOnce,
} from '../support/local-run-checks.ts';
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
        expectBurstServed(r, run);
        // The tasks ran in the containers: their celery hostnames are the podman units'.
        expect(new Set(r.journal.map((e) => e.worker)).size).toBeGreaterThanOrEqual(1);
        expect(r.journal.every((e) => /^oq@c[0-9a-f]{8}$/.test(e.worker))).toBe(true);
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
              const victim = await catchLongTaskJustStarted(h, 0.6, 120_000);
              killedTask = victim.task_no;
              await h.backend.kill(victim.worker.replace(/^oq@/, ''));
            },
          }),
        );
        const a = r.analysis;
        const starts = r.journal.filter((e) => e.event === 'start' && e.task_no === killedTask);
        expect(starts.length).toBe(2);
        expect(starts.some((s) => s.redelivered)).toBe(true);
        expectEveryTaskRanOnce(a);
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
        expectEveryTaskRanOnce(a);
        // The new bridge adopted the running containers instead of starting a second fleet.
        expect(a.peakWorkers, JSON.stringify(r.lifecycle)).toBeLessThanOrEqual(run.maxWorkers);
        expect(r.returnedToMinAfterSeconds).toBeDefined();
      },
    );
  },
);
