/**
 * The pinned OpenQuake Engine (contract/engine-release.json: 3.11.5, celery 4.4.7, Python 3.8) in a worker container.
 *
 * Debian here offers no Python 3.8, so the image's base carries the CPython 3.8 that this host built with pyenv
 * (scripts/build-host-python-base.sh; `scripts/build-worker-image.sh engine-local`), with the engine and the
 * production image's pins installed on it by the production Dockerfile. A second container of the same image
 * plays the master: the engine's own `parallel.Starmap(..., distribute='celery')` submits `safely_call` tasks to
 * the local RabbitMQ, the worker (the entrypoint's engine command, OQ_WORKER_APP=engine) runs them, and the
 * partial results stream back over zmq to the master's receiver port.
 *
 * Runs wherever a Python 3.8 is found (OQE_HOST_PYTHON, pyenv, python3.8 on the PATH); in CI it never skips, so a
 * CI machine without one fails here. Cost: about 50 s cold to build the image (engine wheels, gcc for psutil),
 * about 1 s warm; the test itself about 16 s.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { renderOpenquakeCfg } from '../../cdk/lib/master/openquake-cfg.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CeleryObserver } from '../../bridge/src/observe/observer.ts';
import type { CeleryRemoteControl, TaskInfo } from '../../bridge/src/observe/celery-remote-control.ts';
import type { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import { type BrokerClients, openBrokerClients } from '../support/broker-clients.ts';
import { createTestVhost, isMissing, RABBIT_ADMIN, type TestVhost } from '../support/services.ts';
import {
  engineMasterRunOptions,
  engineProbeRoot,
  engineWorkerOptions,
  engineWorkerSecrets,
  probeResultsLine,
  probeTaskModule,
} from '../support/engine-probe-containers.ts';
import {
  collectOutput,
  type CommandOutput,
  ensureEngineImage,
  hostPythonAvailable,
  podman,
  PODMAN,
  PODMAN_RUN_LIMITS,
  TASK_DEFINITION_RESTRICTIONS,
  WORKER_IMAGE_PATHS,
} from '../support/worker-image.ts';
import { waitFor } from '../../local/timeouts.ts';

const enabled = !isMissing('rabbitmq') && (hostPythonAvailable('3.8') || process.env.CI !== undefined);

const CALC_ID = 4242;
const WORKER_ID = 'engine311-w1';
const HOSTNAME = `oq@${WORKER_ID}`;

// The master side: the engine's own Starmap with oq_distribute=celery; the hdf5 file name gives the calculation
// id (Starmap.__init__ reads it from the name), which the monitor then carries into every task's arguments.
const MASTER_SCRIPT = `import sys
sys.path.insert(0, '${WORKER_IMAGE_PATHS.sharedDir}')
from openquake.baselib import hdf5, parallel
import openquake.engine
import oqe_probe
print('ENGINE', openquake.engine.__version__, 'DISTRIBUTE', parallel.oq_distribute(), flush=True)
h5 = hdf5.File('/tmp/calc_${CALC_ID}.hdf5', 'w')
parallel.init_performance(h5)
smap = parallel.Starmap(oqe_probe.probe, [(n,) for n in range(4)], distribute='celery', h5=h5)
out = smap.reduce(agg=lambda acc, r: acc + [r], acc=[])
print('RESULTS', sorted((r['task'], r['part'], r['host']) for r in out), flush=True)
`;

describe.skipIf(!enabled)(
  'worker image with the pinned engine 3.11.5 on Python 3.8 (needs a host Python 3.8)',
  () => {
    let image: string;
    let vhost: TestVhost;
    let root: string;
    let clients: BrokerClients;
    let control: CeleryRemoteControl;
    let probe: QueueProbe;
    const suffix = randomBytes(3).toString('hex');
    const worker = `oqe-wi-e311-${suffix}`;
    const master = `oqe-wi-e311m-${suffix}`;

    beforeAll(async () => {
      image = await ensureEngineImage();
      vhost = await createTestVhost('oqe-worker-e311');
      root = engineProbeRoot('oqe-worker-e311-', {
        // Each task streams its two partial results slowly enough that the test sees it running.
        probeModule: probeTaskModule(2),
        masterScript: MASTER_SCRIPT,
        // The master's own openquake.cfg renderer, pointed at loopback and this test's vhost: the real engine
        // reads exactly what the master would write. num_cores = 4 so that all four tasks go to the queue at once.
        openquakeCfg: renderOpenquakeCfg({
          masterHost: '127.0.0.1',
          amqpUser: RABBIT_ADMIN.user,
          amqpPassword: RABBIT_ADMIN.password,
          amqpVhost: vhost.vhost,
          dbserverAuthkey: 'probe',
          numCores: 4,
        }),
      });
      // celery 4.4 answers remote control in JSON only (docs/observe.md).
      clients = openBrokerClients(vhost.endpoint, { serializer: 'json', timeoutMs: 2000 });
      ({ control, probe } = clients);
    }, 1_900_000);

    afterAll(async () => {
      await podman(['rm', '--force', '--ignore', '--time', '0', master, worker]);
      await clients?.close();
      await vhost?.cleanup();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('queues the tasks with no worker, then a worker runs them (reporting each in active with its calculation id) and every partial result streams back', async () => {
      // The master first, with no worker at all: engine 3.11 submits and waits (Starmap's worker check finds no
      // celery worker and so no worker "down"), which is what lets the fleet scale to zero between calculations.
      const masterRun = collectOutput(
        spawn(
          PODMAN[0],
          [...PODMAN.slice(1), 'run', '--rm', '--name', master, ...engineMasterRunOptions(root, image)],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        ),
        180_000,
      );
      let masterEnded: CommandOutput | undefined;
      void masterRun.then((r) => (masterEnded = r));
      // The master submits its first num_cores tasks (all four here) and waits: they sit in the queue, unconsumed.
      const queued = await waitFor(
        'the master to queue its tasks',
        async () => {
          if (masterEnded)
            throw new Error(`the master exited early (${masterEnded.code}): ${masterEnded.out}`);
          const figures = await probe.passive().catch(() => undefined);
          return figures && figures.ready === 4 ? figures : undefined;
        },
        60_000,
      );
      expect(queued.consumers).toBe(0);

      // prettier-ignore
      const start = await podman([
        'run', '-d', '--name', worker, '--network', 'host', '--hostname', WORKER_ID, ...PODMAN_RUN_LIMITS,
        // As on Fargate: read-only root, scratch volumes, user 1200, every capability dropped.
        ...TASK_DEFINITION_RESTRICTIONS,
        '--health-interval', 'disable',
        ...engineWorkerOptions(root, vhost.vhost), '-e', 'OQ_WORKER_APP=engine',
        image,
      ], engineWorkerSecrets('probe'));
      expect(start.code, start.out).toBe(0);
      // The restrictions hold: the image's root cannot be written, even by the worker's own user.
      const inspect = await podman([
        'inspect',
        '--format',
        '{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}',
        worker,
      ]);
      expect(inspect.out.trim()).toBe('true 1200:1200');
      expect((await podman(['exec', worker, 'touch', '/opt/openquake/written'])).code).not.toBe(0);

      // Busy with engine tasks, the celery 4.4.7 worker answers `active` (the image's argsrepr shim), with the
      // engine's task and the calculation id from the Monitor's repr.
      const active = await waitFor(
        'an active reply listing running tasks',
        async () => {
          const reply = await control.active({ expect: [HOSTNAME] });
          const tasks = reply.replies.get(HOSTNAME);
          return tasks && tasks.length > 0 ? tasks : undefined;
        },
        60_000,
      );
      expect(active.length).toBeLessThanOrEqual(2);
      for (const task of active as TaskInfo[]) {
        expect(task.name).toBe('openquake.baselib.parallel.safely_call');
        expect(task.calculationId).toBe(CALC_ID);
        expect(String(task.args)).toContain(`<Monitor #${CALC_ID} probe[`);
      }
      // So the bridge's observer counts this busy engine worker, with its tasks, instead of leaving it out.
      const seen = await waitFor(
        'the observer to see the busy worker',
        async () => {
          const observation = await new CeleryObserver({
            remoteControl: control,
            queueProbe: probe,
            timeouts: { workersMs: 3000 },
          }).observe();
          const mine = observation.workers?.find((w) => w.hostname === HOSTNAME);
          return mine && mine.active.length > 0 ? mine : undefined;
        },
        60_000,
      );
      expect(seen).toMatchObject({ poolSize: 2, consuming: true });
      expect(seen.active.every((t) => t.calculationId === CALC_ID)).toBe(true);
      // The health check passes while every pool process is busy: the main process answers the ping.
      const busyHealth = await podman(['healthcheck', 'run', worker], undefined, 60_000);
      expect(busyHealth.code, busyHealth.out).toBe(0);

      const ran = await masterRun;
      expect(ran.code, ran.out).toBe(0);
      expect(ran.out).toContain('ENGINE 3.11.5 DISTRIBUTE celery');
      expect(ran.out).toContain(probeResultsLine(WORKER_ID));

      const logs = (await podman(['logs', worker])).out;
      // The engine's own worker command from the entrypoint, never --purge; celery and the engine as pinned.
      expect(logs).toMatch(
        /command: celery worker --config openquake\.engine\.celeryconfig -n oq@engine311-w1 -Q celery -Ofair -c 2 --prefetch-multiplier=1 /,
      );
      expect(logs).not.toContain('--purge');
      expect(logs).toContain(' v4.4.7 ');
      expect(logs.match(/Task openquake\.baselib\.parallel\.safely_call\[[^\]]+\] succeeded/g)).toHaveLength(
        4,
      );
      expect(logs).not.toContain('EncodeError');
    }, 240_000);

    it('ships setproctitle (oq abort needs it) and the engine patches next to the shim, which the worker loaded', async () => {
      // prettier-ignore
      const probeRun = await podman([
        'run', '--rm', ...PODMAN_RUN_LIMITS, '--entrypoint', WORKER_IMAGE_PATHS.python, '-e',
        'PYTHONPATH=/opt/openquake/celery4-shim:/opt/openquake/engine-patches', image, '-c',
        'import setproctitle, sys; print("SETPROCTITLE", setproctitle.__version__, "PATCHES", ' +
          '"oq_elastic_engine_patches" in sys.modules)',
      ]);
      expect(probeRun.code, probeRun.out).toBe(0);
      expect(probeRun.out).toMatch(/SETPROCTITLE 1\.2\.2 PATCHES True/);
      expect((await podman(['logs', worker])).out).toContain(
        'worker PYTHONPATH /opt/openquake/celery4-shim:/opt/openquake/engine-patches',
      );
    }, 90_000);

    it('drains on SIGTERM under celery 4.4 and exits 0', async () => {
      expect((await podman(['kill', '--signal', 'TERM', worker])).code).toBe(0);
      const exit = await podman(['wait', worker], undefined, 60_000);
      expect(exit.out.trim()).toBe('0');
      expect((await podman(['logs', worker])).out).toContain(`${HOSTNAME} stopped consuming from celery`);
    }, 90_000);
  },
);
