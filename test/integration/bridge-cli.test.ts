/**
 * The bridge CLI as an operator runs it (a child process), against the local RabbitMQ and an ECS service on
 * the moto server: start-up validation, `decide --dry-run` and `status` on a queue with waiting tasks and no
 * worker yet, and what an operator sees when something is misconfigured or down (issue 14): every failure
 * names the setting, its value and the fix; `status` never reads "0 workers" when it could not look; a refused
 * login or vhost stops `run` at once with exit 78.
 */
import { createServer, type Server } from 'node:net';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  bridgeEnv,
  createMotoWorkerService,
  motoEcsClient,
  runBridgeCli as cli,
  startBridgeCli,
} from '../support/bridge-cli.ts';
import { createTestVhost, describeWithServices, RABBIT_ADMIN, type TestVhost } from '../support/services.ts';
import { submitTasks } from '../../local/celery-workers.ts';

/** A port on loopback where nothing listens (bound, then released). */
async function closedPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describeWithServices('bridge CLI (child process; RabbitMQ and moto)', () => {
  let vhost: TestVhost;
  let env: Record<string, string>;
  let service: string;
  let cluster: string;

  beforeAll(async () => {
    vhost = await createTestVhost('oqe-bridge-cli');
    ({ cluster, service } = await createMotoWorkerService('oqe-cli'));
    // Three engine-like tasks wait in the queue; no worker runs yet.
    submitTasks(vhost.amqpUrl, 42, [1, 1, 1]);
    env = bridgeEnv(vhost.vhost, { cluster, service });
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
    const { child, output, exited } = startBridgeCli(['run'], { ...env, OQE_POLL_SECONDS: '1' });
    const ecs = motoEcsClient();
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
    const { stdout } = output();
    const lines = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    // Issue 14 item 4: the decision is on record (with its id) before its action, the outcome after it.
    const decisions = lines.filter((l) => l.event === 'decision');
    expect(decisions[0]).toMatchObject({ reason: 'Activate', desired: 2 });
    const firstId = decisions[0]!.id as string;
    const decisionAt = lines.indexOf(decisions[0]!);
    const actionAt = lines.findIndex((l) => l.event === 'action' && l.id === firstId);
    expect(actionAt).toBeGreaterThan(decisionAt);
    expect(lines[actionAt]).toMatchObject({ action: 'scaleOut', actionDetail: 'desired 0 -> 2' });
    expect(lines.some((l) => l._aws !== undefined && l.QueueReady === 3 && l.Heartbeat === 1)).toBe(true);
    expect(lines.some((l) => l.event === 'loop-stopped')).toBe(true);
    expect(stdout).not.toContain(RABBIT_ADMIN.password);
  });

  it('status: no AWS SDK Node.js notice, and the report exits 0 when every part was observed', () => {
    const r = cli(['status'], env);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('Queue celery:        3 ready');
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|node >=/);
    const d = cli(['decide', '--dry-run'], env);
    expect(d.stderr).not.toMatch(/NodeVersionSupportWarning|node >=/);
  });

  it('status with a wrong password: exit 78, names the settings, never the password, never "No workers"', () => {
    const r = cli(['status'], { ...env, OQE_BROKER_PASSWORD: 'not-the-password' });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(`refused the login of user '${RABBIT_ADMIN.user}' (ACCESS_REFUSED)`);
    expect(r.stderr).toContain('OQE_BROKER_PASSWORD');
    expect(r.stdout).toContain('Workers: UNKNOWN');
    expect(r.stdout).toContain('Total workers:       unknown');
    expect(r.stdout).not.toContain('No workers.');
    expect(r.stdout + r.stderr).not.toContain('not-the-password');
    expect(r.stdout + r.stderr).not.toContain(RABBIT_ADMIN.password);
    const d = cli(['decide', '--dry-run'], { ...env, OQE_BROKER_PASSWORD: 'not-the-password' });
    expect(d.status).toBe(78);
    expect(JSON.parse(d.stdout)).toMatchObject({ reason: 'HoldOnMissingData' });
  });

  it('status with a vhost that does not exist: exit 78 and OQE_BROKER_VHOST, not the host and port advice', () => {
    const r = cli(['status'], { ...env, OQE_BROKER_VHOST: 'no-such-vhost' });
    expect(r.status).toBe(78);
    expect(r.stderr).toContain("refused vhost 'no-such-vhost'");
    expect(r.stderr).toContain('OQE_BROKER_VHOST');
    expect(r.stdout + r.stderr).not.toContain('OQE_BROKER_HOST, OQE_BROKER_PORT and the security group');
  });

  it('status when the broker cannot be reached: exit 1, unknown (not zero), and the setting to check', async () => {
    const refused = cli(['status'], { ...env, OQE_BROKER_PORT: String(await closedPort()) });
    expect(refused.status).toBe(1);
    expect(refused.stdout).toMatch(
      /nothing listens on 127\.0\.0\.1:\d+ \(ECONNREFUSED\): check OQE_BROKER_PORT/,
    );
    // The management API still gave the queue; the workers could not be asked.
    expect(refused.stdout).toContain('INCOMPLETE: workers unknown (not zero).');
    expect(refused.stdout).not.toContain('No workers.');

    const dns = cli(['status'], { ...env, OQE_BROKER_HOST: 'no-such-master.invalid' });
    expect(dns.status).toBe(1);
    expect(dns.stdout).toContain("the host name 'no-such-master.invalid' does not resolve");
    expect(dns.stdout).toContain('check OQE_BROKER_HOST');

    // The management port answers HTTP, never AMQP: the connect timeout names the port setting.
    const http = cli(['status'], { ...env, OQE_BROKER_PORT: '15672' });
    expect(http.status).toBe(1);
    expect(http.stdout).toContain('no AMQP answer from 127.0.0.1:15672');
    expect(http.stdout).toContain('check OQE_BROKER_PORT (AMQP is 5672, not the management port 15672)');
    expect(http.stdout).not.toMatch(/: no answer in \d+ ms$/m);
  });

  it('status with the management API down: names OQE_MANAGEMENT_URL and ECONNREFUSED, not "fetch failed"', async () => {
    const port = await closedPort();
    const r = cli(['status', '--json'], { ...env, OQE_MANAGEMENT_URL: `http://127.0.0.1:${port}` });
    const report = JSON.parse(r.stdout) as { errors: string[]; queue?: unknown };
    const line = report.errors.find((e) => e.startsWith('queue (management API)'));
    expect(line).toContain(`RabbitMQ management API at http://127.0.0.1:${port} (OQE_MANAGEMENT_URL)`);
    expect(line).toContain('nothing listens there (ECONNREFUSED)');
    expect(line).not.toContain('fetch failed');
    // The passive declare and the workers' replies still give the queue: the report is complete.
    expect(report.queue).toBeDefined();
    expect(r.status).toBe(0);
  });

  it('run with a wrong password: exit 78 at start-up with one clear line, not a hold forever', async () => {
    const started = Date.now();
    const r = cli(['run'], { ...env, OQE_BROKER_PASSWORD: 'not-the-password' }, 30_000);
    expect(r.status).toBe(78);
    // A correctness bound, not a speed figure: a bridge that kept retrying the refused login would hold until
    // it is killed at 30 s.
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('ACCESS_REFUSED');
    const refused = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.event === 'config-refused');
    expect(refused).toMatchObject({ exitCode: 78 });
    expect(r.stdout).not.toContain('"event":"decision"');
    expect(r.stdout + r.stderr).not.toContain('not-the-password');
  });

  it('status --watch redraws the report in place until Ctrl-C', async () => {
    const { child, output, exited } = startBridgeCli(['status', '--watch'], env);
    const deadline = Date.now() + 30_000;
    while (output().stdout.split('\x1b[H\x1b[2J').length < 3 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const frames = output().stdout.split('\x1b[H\x1b[2J').filter(Boolean);
    expect(frames.length).toBeGreaterThanOrEqual(2);
    for (const f of frames.slice(0, 2)) {
      expect(f).toMatch(/^Every 2 s: oq-elastic-bridge status/);
      expect(f).toContain('Queue celery:        3 ready');
    }
  });
});
