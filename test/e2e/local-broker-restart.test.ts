import { afterAll, beforeAll, expect, it } from 'vitest';
import { runLocalCluster } from '../../local/cluster/local-cluster-run.ts';
import { PrivateRabbit } from '../support/private-rabbit.ts';
import { describeWithRabbit, RABBIT_ADMIN } from '../support/services.ts';
import { ensureWorkerImage } from '../support/worker-image.ts';
import { smallRun } from './local-run-support.ts';

/**
 * A private RabbitMQ of this file's own, on ports of its own, so that restarting it never disturbs the shared
 * broker the other tests use. scripts/services.sh keeps its state (users, vhosts, durable queues) across restarts.
 */
const PRIVATE = { amqp: 5783, management: 15783, dist: 25783 };

describeWithRabbit('the whole loop survives a RabbitMQ restart in the middle of a run', () => {
  const rabbit = new PrivateRabbit('local-e2e', PRIVATE);
  let image: string;

  beforeAll(async () => {
    // Independent: the node's boot and the image's build (or its cache check) go side by side.
    [, image] = await Promise.all([rabbit.start(), ensureWorkerImage()]);
  }, 900_000);

  afterAll(async () => {
    await rabbit.dispose();
  });

  // Both backends: child processes, and containers of the worker image (host networking, so they reach the
  // private broker on its own ports like the bridge does).
  it.each(['process', 'podman'] as const)(
    '%s backend: holds while the broker is down, completes every task, and duplicates only what the outage interrupted',
    { timeout: 300_000 },
    async (backend) => {
      let outage: { from: number; to: number } | undefined;
      const r = await runLocalCluster(
        smallRun({
          backend,
          image,
          broker: {
            host: '127.0.0.1',
            amqpPort: PRIVATE.amqp,
            managementPort: PRIVATE.management,
            adminUser: RABBIT_ADMIN.user,
            adminPassword: RABBIT_ADMIN.password,
          },
          tasks: 40,
          timeoutSeconds: 200,
          // Celery 5.5 workers keep the tasks a connection loss interrupted in their `active` list although the
          // broker has requeued them, so the bridge, which counts the workers' own figures, keeps those workers
          // (conservative; reported). The fleet's return to the minimum is asserted by the other tests.
          awaitMinSeconds: 5,
          during: async (h) => {
            await h.waitFor('a third of the tasks to end', () => h.master.progress.ended >= 12, 90_000);
            const from = Date.now();
            await rabbit.stop();
            await rabbit.start();
            outage = { from, to: Date.now() };
            h.brokerOutages.push(outage);
          },
        }),
      );
      const a = r.analysis;
      expect(outage).toBeDefined();
      expect(a.completed).toBe(40);
      expect(a.lost).toEqual([]);
      // A task running when the broker went down cannot be acknowledged: RabbitMQ redelivers it. Every second
      // start must be explained by the outage, and nothing started after it ran twice.
      expect(a.startedTwiceUnexplained).toEqual([]);
      for (const taskNo of a.runTwice) {
        const first = r.journal.find((e) => e.event === 'start' && e.task_no === taskNo)!;
        expect(first.t * 1000).toBeLessThanOrEqual(outage!.to);
      }
      expect(a.busyRetired).toEqual([]);
      // While the broker was down the bridge never retired a worker (it holds on missing data).
      const during = r.decisions.filter((d) => d.t >= outage!.from && d.t <= outage!.to);
      expect(during.filter((d) => d.reason === 'DrainingIdle')).toEqual([]);
      expect(r.finalQueue).toMatchObject({ ready: 0, unacked: 0 });
    },
  );
});
