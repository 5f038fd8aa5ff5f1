/**
 * The worker image, built with podman from a local debootstrap base, running against the real RabbitMQ:
 * rendered configuration, celery remote control under oq@<id>, tasks taken and finished, the --purge trap,
 * SIGTERM during a task, the read-only shared directory, the health check and refusals to start.
 *
 * The ECS task metadata endpoint has no emulator here (moto lacks it), so one test serves a stub of it on
 * loopback; its name says so.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect, type ChannelModel } from 'amqplib';
import { parse } from 'ini';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  createTestVhost,
  describeWithRabbit,
  managementApi,
  PYTHON,
  REPO_ROOT,
  type TestVhost,
} from '../support/services.ts';
import { ensureWorkerImage, PODMAN, PODMAN_RUN_LIMITS, WORKER_IMAGE_PATHS } from '../support/worker-image.ts';
import { waitFor } from '../../local/timeouts.ts';
import { readJournal } from '../../local/cluster/journal-analysis.ts';

const execFileP = promisify(execFile);
const TESTAPP_DIR = `${REPO_ROOT}worker-image/testapp`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, resolving with its exit code instead of throwing. */
function runCommand(cmd: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

const podman = (args: string[], env?: NodeJS.ProcessEnv, timeoutMs?: number) =>
  runCommand(PODMAN[0], [...PODMAN.slice(1), ...args], env, timeoutMs);

describeWithRabbit('worker image (podman, debootstrap base, real RabbitMQ)', () => {
  let image: string;
  let vhost: TestVhost;
  let admin: ChannelModel;
  let root: string;
  let sharedDir: string;
  let journalDir: string;
  let metadataServer: Server | undefined;
  const containers = new Set<string>();
  const suffix = randomBytes(3).toString('hex');
  // The worker's own RabbitMQ user, so that the health-check test can take the broker away from it alone.
  const workerUser = `oqe-wi-${suffix}`;
  const workerPassword = randomBytes(12).toString('hex');
  const authkey = randomBytes(12).toString('hex');

  const journal = (name: string) => readJournal(join(journalDir, name));

  /** Live queue figures from a passive declare (the management API lags by its statistics interval). */
  const queue = async (): Promise<{ messageCount: number; consumerCount: number }> => {
    const channel = await admin.createChannel();
    try {
      return await channel.checkQueue('celery');
    } finally {
      await channel.close();
    }
  };

  const workerEnv = (
    overrides: Record<string, string | undefined> = {},
  ): Record<string, string | undefined> => ({
    OQ_MASTER_HOST: '127.0.0.1',
    OQ_AMQP_PORT: '5672',
    OQ_AMQP_USER: workerUser,
    OQ_AMQP_PASSWORD: workerPassword,
    OQ_AMQP_VHOST: vhost.vhost,
    OQ_CELERY_QUEUE: 'celery',
    OQ_DBSERVER_PORT: '1908',
    OQ_DBSERVER_AUTHKEY: authkey,
    OQ_RECEIVER_PORTS: '1912-1920',
    OQ_SHARED_DIR: WORKER_IMAGE_PATHS.sharedDir,
    ...overrides,
  });

  /** podman run arguments; secrets go by name (`-e NAME`) so they never appear in a command line. */
  const runArgs = (hostname: string, env: Record<string, string | undefined>, journalName?: string) => {
    const args = [
      '--network',
      'host',
      '--hostname',
      hostname,
      ...PODMAN_RUN_LIMITS,
      '--health-interval',
      'disable',
    ];
    args.push('-v', `${sharedDir}:${WORKER_IMAGE_PATHS.sharedDir}:ro`, '-v', `${journalDir}:/journal:rw`);
    const processEnv: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) continue;
      args.push('-e', k);
      processEnv[k] = v;
    }
    if (journalName) args.push('-e', `OQ_TESTAPP_JOURNAL=/journal/${journalName}`);
    return { args, processEnv };
  };

  const startWorker = async (
    name: string,
    env: Record<string, string | undefined>,
    journalName: string,
  ): Promise<string> => {
    const container = `oqe-wi-${name}-${suffix}`;
    const { args, processEnv } = runArgs(name, env, journalName);
    containers.add(container);
    const run = await podman(['run', '-d', '--name', container, ...args, image], processEnv);
    expect(run.code, run.stderr).toBe(0);
    return container;
  };

  /** Celery remote control from the host, speaking the worker's pickle mailbox (celery 5). */
  const inspect = async (
    method: 'ping' | 'stats' | 'conf',
    destination: string,
  ): Promise<Record<string, unknown>> => {
    const script = [
      'import json, sys',
      'from celery import Celery',
      'app = Celery(broker=sys.argv[1])',
      'app.conf.update(task_serializer="pickle", accept_content=["pickle", "json"])',
      'i = app.control.inspect(destination=[sys.argv[3]], timeout=3, limit=1)',
      'print(json.dumps(getattr(i, sys.argv[2])() or {}, default=str))',
    ].join('\n');
    const { stdout } = await execFileP(PYTHON, ['-c', script, vhost.amqpUrl, method, destination]);
    return JSON.parse(stdout) as Record<string, unknown>;
  };

  const waitForPing = (hostname: string) =>
    waitFor(`${hostname} to answer ping`, async () =>
      (await inspect('ping', hostname))[hostname] ? true : undefined,
    );

  const submit = async (calcId: number, durations: number[]) => {
    await execFileP(PYTHON, ['submit.py', String(calcId), ...durations.map(String)], {
      cwd: TESTAPP_DIR,
      env: { ...process.env, OQ_TESTAPP_BROKER: vhost.amqpUrl },
    });
  };

  beforeAll(async () => {
    image = await ensureWorkerImage();
    vhost = await createTestVhost('oqe-worker-image');
    await managementApi('PUT', `/api/users/${workerUser}`, { password: workerPassword, tags: '' });
    await managementApi('PUT', `/api/permissions/${encodeURIComponent(vhost.vhost)}/${workerUser}`, {
      configure: '.*',
      write: '.*',
      read: '.*',
    });
    admin = await connect(vhost.amqpUrl);
    root = mkdtempSync(join(tmpdir(), 'oqe-worker-image-'));
    sharedDir = join(root, 'shared');
    journalDir = join(root, 'journal');
    mkdirSync(sharedDir);
    mkdirSync(journalDir);
    writeFileSync(join(sharedDir, 'job.ini'), '[general]\ndescription = shared input\n');
    // The worker runs as uid 1200; the journal directory stands in for a writable scratch volume.
    chmodSync(root, 0o755);
    chmodSync(sharedDir, 0o755);
    chmodSync(journalDir, 0o777);
  }, 600_000);

  afterAll(async () => {
    for (const c of containers) await podman(['rm', '-f', '-t', '0', c]);
    metadataServer?.close();
    await admin?.close().catch(() => {});
    await managementApi('DELETE', `/api/users/${workerUser}`).catch(() => {});
    await vhost?.cleanup();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('renders openquake.cfg key by key, private to uid 1200, and prints no secret', async () => {
    const cfgDir = join(root, 'cfg');
    mkdirSync(cfgDir);
    chmodSync(cfgDir, 0o777);
    const { args, processEnv } = runArgs('render-1', workerEnv({ OQ_CONFIG_FILE: '/cfg/openquake.cfg' }));
    const run = await podman(['run', '--rm', ...args, '-v', `${cfgDir}:/cfg:rw`, image, 'check'], processEnv);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout + run.stderr).not.toContain(workerPassword);
    expect(run.stdout + run.stderr).not.toContain(authkey);
    expect(run.stderr).toContain(`amqp://${workerUser}:***@127.0.0.1:5672/${vhost.vhost}`);
    expect(run.stderr).not.toContain('--purge');

    const file = join(cfgDir, 'openquake.cfg');
    const stat = statSync(file);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(stat.uid).toBe(WORKER_IMAGE_PATHS.uid);
    const cfg = parse(readFileSync(file, 'utf8'));
    expect(cfg.distribution).toEqual({ oq_distribute: 'celery' });
    expect(cfg.amqp).toEqual({
      host: '127.0.0.1',
      port: '5672',
      user: workerUser,
      password: workerPassword,
      vhost: vhost.vhost,
      celery_queue: 'celery',
    });
    expect(cfg.dbserver).toEqual({
      multi_user: true, // the ini parser reads `true` as a boolean
      host: '127.0.0.1',
      port: '1908',
      receiver_ports: '1912-1920',
      authkey,
    });
    expect(cfg.directory).toEqual({ shared_dir: WORKER_IMAGE_PATHS.sharedDir });
  });

  it('refuses to start without its variables, naming each, with a non-zero exit', async () => {
    const env = workerEnv({ OQ_MASTER_HOST: undefined, OQ_AMQP_PASSWORD: undefined, OQ_AMQP_PORT: '56720x' });
    const { args, processEnv } = runArgs('refuse-1', env);
    const run = await podman(['run', '--rm', ...args, image], processEnv);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain('OQ_MASTER_HOST is missing');
    expect(run.stderr).toContain('OQ_AMQP_PASSWORD is missing');
    expect(run.stderr).toContain("OQ_AMQP_PORT='56720x' is not a TCP port");
    expect(run.stderr).not.toContain(authkey);

    const extra = await podman(['run', '--rm', ...args, image, 'worker', '--purge'], processEnv);
    expect(extra.code).toBe(64);
    expect(extra.stderr).toContain('never --purge');
  });

  it('leaves waiting messages in the queue when it starts (no --purge), then takes and finishes each task', async () => {
    await submit(101, [4, 4, 4]);
    expect((await queue()).messageCount).toBe(3);
    const c = await startWorker('purge-1', workerEnv({ OQ_WORKER_CONCURRENCY: '1' }), 'purge.jsonl');
    await waitForPing('oq@purge-1');
    // With --purge the worker would have deleted the waiting messages before consuming. With concurrency 1
    // and prefetch 1 it holds one; the other two must still be waiting.
    const q = await queue();
    expect(q.consumerCount).toBe(1);
    expect(q.messageCount).toBeGreaterThanOrEqual(2);

    const ends = await waitFor(
      'three tasks to end',
      async () => {
        const e = journal('purge.jsonl').filter((l) => l.event === 'end');
        return e.length >= 3 ? e : undefined;
      },
      30_000,
    );
    expect(new Set(ends.map((e) => e.task_id)).size).toBe(3);
    expect(ends.every((e) => e.worker === 'oq@purge-1' && e.calc_id === 101)).toBe(true);
    // Each task streamed its partial results before it ended, and none ran twice.
    const lines = journal('purge.jsonl');
    expect(lines.filter((l) => l.event === 'partial')).toHaveLength(6);
    expect(lines.filter((l) => l.event === 'start')).toHaveLength(3);
    expect((await queue()).messageCount).toBe(0);
    await podman(['rm', '-f', '-t', '0', c]);
  });

  it('on SIGTERM during a task stops consuming at once, finishes the task, and leaves the next one queued', async () => {
    const c = await startWorker('term-1', workerEnv({ OQ_WORKER_CONCURRENCY: '1' }), 'term.jsonl');
    await waitForPing('oq@term-1');
    await submit(102, [6, 1]);
    const first = await waitFor('the first task to start', async () =>
      journal('term.jsonl').find((l) => l.event === 'start'),
    );
    const kill = await podman(['kill', '--signal', 'TERM', c]);
    expect(kill.code, kill.stderr).toBe(0);
    // "At once" is judged against the task, not the clock: the consumer is gone while the first (6 s) task
    // still runs. The wait is only a budget for a worker that never stops consuming.
    await waitFor(
      'the consumer to be cancelled',
      async () => ((await queue()).consumerCount === 0 ? true : undefined),
      30_000,
    );
    expect(journal('term.jsonl').some((l) => l.event === 'end')).toBe(false);

    const exit = await podman(['wait', c], undefined, 60_000);
    expect(exit.stdout.trim()).toBe('0');
    const lines = journal('term.jsonl');
    expect(lines.filter((l) => l.event === 'end').map((l) => l.task_id)).toEqual([first.task_id]);
    expect(lines.filter((l) => l.event === 'start')).toHaveLength(1);
    // Nothing lost: the second task waits in the queue, untouched.
    expect(await queue()).toEqual(expect.objectContaining({ messageCount: 1, consumerCount: 0 }));
    const logs = await podman(['logs', c]);
    expect(logs.stderr + logs.stdout).toContain('oq@term-1 stopped consuming from celery');
  });

  it('returns a running task to the queue when the stop timeout kills it (acks_late)', async () => {
    // Clear what the previous test left (it has no consumer), so that this one starts from an empty queue.
    const channel = await admin.createChannel();
    try {
      await channel.purgeQueue('celery');
    } finally {
      await channel.close();
    }
    expect((await queue()).messageCount).toBe(0);

    const c = await startWorker('kill-1', workerEnv({ OQ_WORKER_CONCURRENCY: '1' }), 'kill.jsonl');
    await waitForPing('oq@kill-1');
    await submit(103, [30]);
    await waitFor('the long task to start', async () =>
      journal('kill.jsonl').find((l) => l.event === 'start'),
    );
    expect((await queue()).messageCount).toBe(0);
    const stop = await podman(['stop', '-t', '2', c], undefined, 30_000);
    expect(stop.code, stop.stderr).toBe(0);
    expect(journal('kill.jsonl').some((l) => l.event === 'end')).toBe(false);
    await waitFor('the message to return to the queue', async () =>
      (await queue()).messageCount === 1 ? true : undefined,
    );
  });

  it(
    'answers ping and stats as oq@<ECS task id> from a stub of the ECS task metadata endpoint, ' +
      'reads but cannot write shared_dir, runs as uid 1200, and turns unhealthy when it loses the broker',
    async () => {
      const taskId = `0f1e2d3c4b5a${suffix}`;
      metadataServer = createServer((req, res) => {
        if (req.url !== '/v4/container/task') {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            Cluster: 'oq-elastic',
            TaskARN: `arn:aws:ecs:us-east-1:123456789012:task/oq-elastic/${taskId}`,
            Limits: { CPU: 2, Memory: 4096 },
          }),
        );
      });
      await new Promise<void>((r) => metadataServer!.listen(0, '127.0.0.1', r));
      const port = (metadataServer.address() as { port: number }).port;
      const c = await startWorker(
        'ecs-1',
        workerEnv({ ECS_CONTAINER_METADATA_URI_V4: `http://127.0.0.1:${port}/v4/container` }),
        'ecs.jsonl',
      );
      const hostname = `oq@${taskId}`;
      await waitForPing(hostname);

      const stats = (await inspect('stats', hostname))[hostname] as { pool: { 'max-concurrency': number } };
      expect(stats.pool['max-concurrency']).toBe(2); // the task's vCPUs
      const conf = (await inspect('conf', hostname))[hostname] as Record<string, unknown>;
      expect(conf.task_acks_late).toBe(true);
      expect(conf.worker_prefetch_multiplier).toBe(1);
      const logs = await podman(['logs', c]);
      // 4096 MiB x 0.8 shared by 2 processes.
      expect(logs.stderr + logs.stdout).toContain('max memory per child 1677721 KiB');

      const id = await podman(['exec', c, 'id', '-u']);
      expect(id.stdout.trim()).toBe(String(WORKER_IMAGE_PATHS.uid));
      const read = await podman(['exec', c, 'cat', `${WORKER_IMAGE_PATHS.sharedDir}/job.ini`]);
      expect(read.stdout).toContain('shared input');
      const write = await podman(['exec', c, 'sh', '-c', `echo x > ${WORKER_IMAGE_PATHS.sharedDir}/out.txt`]);
      expect(write.code).not.toBe(0);
      expect(write.stderr).toMatch(/Read-only file system/);
      expect(existsSync(join(sharedDir, 'out.txt'))).toBe(false);

      const healthy = await podman(['healthcheck', 'run', c], undefined, 60_000);
      expect(healthy.code, healthy.stdout + healthy.stderr).toBe(0);

      // Take the broker away from this worker only: delete its user and close its connections.
      await managementApi('DELETE', `/api/users/${workerUser}`);
      const conns = (await (await managementApi('GET', '/api/connections?columns=name,user')).json()) as {
        name: string;
        user: string;
      }[];
      for (const conn of conns.filter((x) => x.user === workerUser)) {
        await managementApi('DELETE', `/api/connections/${encodeURIComponent(conn.name)}`);
      }
      const unhealthy = await podman(['healthcheck', 'run', c], undefined, 60_000);
      expect(unhealthy.code).not.toBe(0);
      expect(unhealthy.stdout + unhealthy.stderr).not.toContain(workerPassword);
    },
    90_000,
  );
});
