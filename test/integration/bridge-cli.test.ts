/**
 * The bridge CLI as an operator runs it (a child process), against the local RabbitMQ and an ECS service on
 * the moto server: start-up validation, `decide --dry-run` and `status --json` on a queue with waiting tasks
 * and no worker yet.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  AWS_ENDPOINT_URL,
  createTestVhost,
  describeWithServices,
  RABBIT_ADMIN,
  REPO_ROOT,
  type TestVhost,
} from '../support/services.ts';
import { submitTasks } from '../../local/celery-workers.ts';

function cli(
  args: string[],
  env: Record<string, string>,
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bridge/src/cli.ts', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describeWithServices('bridge CLI (child process; RabbitMQ and moto)', () => {
  const suffix = randomBytes(4).toString('hex');
  const cluster = `oqe-cli-${suffix}`;
  const service = `oq-workers-${suffix}`;
  let vhost: TestVhost;
  let env: Record<string, string>;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-bridge-cli');
    const ecs = new ECSClient({
      endpoint: AWS_ENDPOINT_URL,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: `oq-worker-${suffix}`,
        containerDefinitions: [{ name: 'worker', image: 'oq-worker:test', memory: 2048, cpu: 1024 }],
      }),
    );
    await ecs.send(
      new CreateServiceCommand({
        cluster,
        serviceName: service,
        taskDefinition: td.taskDefinition!.taskDefinitionArn!,
        desiredCount: 0,
      }),
    );
    ecs.destroy();
    // Three engine-like tasks wait in the queue; no worker runs yet.
    submitTasks(vhost.amqpUrl, 42, [1, 1, 1]);
    env = {
      OQE_BACKEND: 'ecs',
      OQE_BROKER_HOST: '127.0.0.1',
      OQE_BROKER_VHOST: vhost.vhost,
      OQE_BROKER_USER: RABBIT_ADMIN.user,
      OQE_BROKER_PASSWORD: RABBIT_ADMIN.password,
      OQE_MANAGEMENT_URL: 'http://127.0.0.1:15672',
      OQE_REMOTE_CONTROL_SERIALIZER: 'pickle',
      OQE_ECS_CLUSTER: cluster,
      OQE_ECS_SERVICE: service,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    };
  });

  afterAll(async () => {
    await vhost?.cleanup();
  });

  it('refuses a bad configuration before connecting, naming every variable and hiding the password', () => {
    const r = cli(['run'], { ...env, OQE_MAX_WORKERS: 'many', OQE_ECS_SERVICE: '' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('OQE_MAX_WORKERS="many" must be a whole number');
    expect(r.stderr).toContain('OQE_ECS_SERVICE is not set');
    expect(r.stderr + r.stdout).not.toContain(RABBIT_ADMIN.password);
    expect(cli(['decide'], env).status).toBe(2);
    expect(cli(['scale'], env).status).toBe(2);
  });

  it('decide --dry-run: 3 waiting tasks, 0 workers -> activate to ceil(3 / 2) = 2, nothing changed', () => {
    const r = cli(['decide', '--dry-run'], env);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { reason: string; desired: number; current: number; demand: number };
    expect(out).toMatchObject({ reason: 'Activate', current: 0, desired: 2, demand: 3 });
    expect(r.stdout + r.stderr).not.toContain(RABBIT_ADMIN.password);
    // Dry run: the service's desired count is untouched.
    const again = JSON.parse(cli(['decide', '--dry-run'], env).stdout) as { current: number };
    expect(again.current).toBe(0);
  });

  it('status --json: the queue and the (empty) fleet', () => {
    const r = cli(['status', '--json'], env);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      queue?: { ready: number; demand: number };
      totals: { workers: number };
    };
    expect(report.queue).toMatchObject({ ready: 3, demand: 3 });
    expect(report.totals.workers).toBe(0);
  });

  it('run: scales the service out for the waiting tasks, logs and emits metrics, stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bridge/src/cli.ts', 'run'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, OQE_POLL_SECONDS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const ecs = new ECSClient({
      endpoint: AWS_ENDPOINT_URL,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    try {
      const deadline = Date.now() + 30_000;
      let desired = 0;
      while (desired !== 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        const out = await ecs.send(new DescribeServicesCommand({ cluster, services: [service] }));
        desired = out.services?.[0]?.desiredCount ?? 0;
      }
      expect(desired).toBe(2);
    } finally {
      ecs.destroy();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const lines = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const decisions = lines.filter((l) => l.event === 'decision');
    expect(decisions[0]).toMatchObject({ reason: 'Activate', desired: 2, action: 'scaleOut' });
    expect(lines.some((l) => l._aws !== undefined && l.QueueReady === 3 && l.Heartbeat === 1)).toBe(true);
    expect(lines.some((l) => l.event === 'loop-stopped')).toBe(true);
    expect(stdout).not.toContain(RABBIT_ADMIN.password);
  });
});
