/**
 * A probe of a later engine release through a worker container: the engine's own Starmap (engine 3.15.0, celery
 * 4.4.7, Debian bullseye's Python 3.9, a Python Debian offers) submits tasks to RabbitMQ, a worker container of this
 * image runs them with the engine's safely_call, and their partial results stream back over zmq to the master's
 * receiver port. The pinned release (3.11.5) is tested in worker-image-engine-pinned.test.ts.
 *
 * Opt-in (OQE_TEST_REAL_ENGINE=1): the first run builds a 670 MB image in about three minutes.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  engineMasterRunOptions,
  engineProbeRoot,
  engineWorkerOptions,
  engineWorkerSecrets,
  probeResultsLine,
  probeTaskModule,
} from '../support/engine-probe-containers.ts';
import { createTestVhost, isMissing, RABBIT_ADMIN, REPO_ROOT, type TestVhost } from '../support/services.ts';
import { podman, PODMAN_RUN_LIMITS, runCommand, WORKER_IMAGE_PATHS } from '../support/worker-image.ts';

const enabled = process.env.OQE_TEST_REAL_ENGINE === '1' && !isMissing('rabbitmq');

const MASTER_SCRIPT = `import sys
sys.path.insert(0, '${WORKER_IMAGE_PATHS.sharedDir}')
from openquake.baselib import parallel
import oqe_probe
smap = parallel.Starmap(oqe_probe.probe, [(n,) for n in range(4)], distribute='celery')
out = smap.reduce(agg=lambda acc, r: acc + [r], acc=[])
print('RESULTS', sorted((r['task'], r['part'], r['host']) for r in out))
`;

describe.skipIf(!enabled)('worker image with the real engine (opt-in: OQE_TEST_REAL_ENGINE=1)', () => {
  let image: string;
  let vhost: TestVhost;
  let root: string;
  const worker = `oqe-wi-engine-${randomBytes(3).toString('hex')}`;

  beforeAll(async () => {
    const build = await runCommand(
      'bash',
      [`${REPO_ROOT}scripts/build-worker-image.sh`, 'engine-py39'],
      process.env,
      900_000,
    );
    expect(build.code, build.out).toBe(0);
    image = build.out.trim().split('\n').pop()!;
    vhost = await createTestVhost('oqe-worker-engine');
    root = engineProbeRoot('oqe-worker-engine-', {
      probeModule: probeTaskModule(0.5),
      masterScript: MASTER_SCRIPT,
      // The master's openquake.cfg, as the master renders it, with this test's vhost.
      openquakeCfg: [
        '[distribution]',
        'oq_distribute = celery',
        '[amqp]',
        'host = 127.0.0.1',
        'port = 5672',
        `user = ${RABBIT_ADMIN.user}`,
        `password = ${RABBIT_ADMIN.password}`,
        `vhost = ${vhost.vhost}`,
        'celery_queue = celery',
        '[dbserver]',
        'multi_user = true',
        'host = 127.0.0.1',
        'receiver_host = 127.0.0.1',
        'port = 1908',
        'receiver_ports = 1912-1920',
        'authkey = probe',
        '',
      ].join('\n'),
    });
  }, 900_000);

  afterAll(async () => {
    await podman(['rm', '-f', '-t', '0', worker]);
    await vhost?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('runs the engine Starmap tasks in the worker container, streams every partial result back, stops on SIGTERM', async () => {
    // prettier-ignore
    const start = await podman([
      'run', '-d', '--name', worker, '--network', 'host', '--hostname', 'engine-w1', ...PODMAN_RUN_LIMITS,
      '--health-interval', 'disable',
      ...engineWorkerOptions(root, vhost.vhost),
      image,
    ], engineWorkerSecrets('probe'));
    expect(start.code, start.out).toBe(0);
    const deadline = Date.now() + 30_000;
    while (!(await podman(['logs', worker])).out.includes('oq@engine-w1 ready.')) {
      if (Date.now() > deadline) throw new Error('the engine worker did not become ready in 30 s');
      await new Promise((r) => setTimeout(r, 500));
    }
    const master = await podman(
      ['run', '--rm', ...engineMasterRunOptions(root, image)],
      process.env,
      120_000,
    );
    expect(master.code, master.out).toBe(0);
    expect(master.out).toContain(probeResultsLine('engine-w1'));
    const logs = (await podman(['logs', worker])).out;
    expect(logs.match(/Task openquake\.baselib\.parallel\.safely_call\[[^\]]+\] succeeded/g)).toHaveLength(4);
    expect(logs).toContain(' v4.4.7 ');

    // The health check and the SIGTERM path speak celery 4.4's remote control (a JSON mailbox) too.
    const health = await podman(['healthcheck', 'run', worker], undefined, 60_000);
    expect(health.code, health.out).toBe(0);
    expect((await podman(['kill', '--signal', 'TERM', worker])).code).toBe(0);
    const exit = await podman(['wait', worker], undefined, 60_000);
    expect(exit.out.trim()).toBe('0');
    expect((await podman(['logs', worker])).out).toContain('oq@engine-w1 stopped consuming from celery');
  }, 180_000);
});
