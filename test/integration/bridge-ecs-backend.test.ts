/**
 * The ECS backend against the moto server, for the calls moto implements (DescribeServices, UpdateService,
 * ListTasks, DescribeTasks, RunTask, StopTask). Moto has no task protection, so UpdateTaskProtection and
 * GetTaskProtection are answered by an in-process stub: a small HTTP proxy in front of moto that records
 * those two calls, keeps their state, and forwards every other call to moto unchanged.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { EcsBackend, taskIdOf } from '../../bridge/src/compute/ecs-backend.ts';
import { AWS_ENDPOINT_URL, describeWithMoto } from '../support/services.ts';

interface ProtectionCall {
  readonly tasks: string[];
  readonly protectionEnabled: boolean;
  readonly expiresInMinutes?: number;
}

/** The in-process task-protection stub (moto lacks task protection); forwards everything else to moto. */
class TaskProtectionStubProxy {
  readonly calls: ProtectionCall[] = [];
  /** GetTaskProtection calls, with how many tasks each asked about. */
  readonly gets: number[] = [];
  readonly state = new Map<string, { enabled: boolean; expires?: number }>();
  /** Task ids for which UpdateTaskProtection reports a failure. */
  readonly failFor = new Set<string>();
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req)
        .then(({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        })
        .catch((error: unknown) => {
          res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ __type: 'ServerException', message: String(error) }));
        });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = String(req.headers['x-amz-target'] ?? '');
    const json = { 'content-type': 'application/x-amz-json-1.1' };
    if (target.endsWith('.UpdateTaskProtection')) {
      const input = JSON.parse(body) as ProtectionCall;
      this.calls.push(input);
      const protectedTasks = [];
      const failures = [];
      for (const task of input.tasks) {
        const id = taskIdOf(task);
        if (this.failFor.has(id)) {
          failures.push({ arn: task, reason: 'TASK_NOT_VALID' });
          continue;
        }
        const expires = input.protectionEnabled
          ? Date.now() / 1000 + (input.expiresInMinutes ?? 120) * 60
          : undefined;
        this.state.set(id, { enabled: input.protectionEnabled, expires });
        protectedTasks.push({
          taskArn: task,
          protectionEnabled: input.protectionEnabled,
          expirationDate: expires,
        });
      }
      return { status: 200, headers: json, body: JSON.stringify({ protectedTasks, failures }) };
    }
    if (target.endsWith('.GetTaskProtection')) {
      const input = JSON.parse(body) as { tasks: string[] };
      this.gets.push(input.tasks.length);
      const protectedTasks = input.tasks.map((task) => {
        const s = this.state.get(taskIdOf(task));
        return { taskArn: task, protectionEnabled: s?.enabled ?? false, expirationDate: s?.expires };
      });
      return { status: 200, headers: json, body: JSON.stringify({ protectedTasks, failures: [] }) };
    }
    const forwarded = await fetch(`${AWS_ENDPOINT_URL}${req.url ?? '/'}`, {
      method: req.method,
      headers: Object.fromEntries(
        Object.entries(req.headers)
          .filter(([k]) => !['host', 'content-length', 'connection'].includes(k))
          .map(([k, v]) => [k, String(v)]),
      ),
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    return {
      status: forwarded.status,
      headers: { 'content-type': forwarded.headers.get('content-type') ?? 'application/x-amz-json-1.1' },
      body: await forwarded.text(),
    };
  }
}

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

describeWithMoto('ECS backend against moto (task protection: in-process stub proxy)', () => {
  const suffix = randomBytes(4).toString('hex');
  const cluster = `oqe-bridge-${suffix}`;
  const service = `oq-workers-${suffix}`;
  const stub = new TaskProtectionStubProxy();
  let client: ECSClient;
  let direct: ECSClient;
  let backend: EcsBackend;
  let taskDefinition: string;

  async function runServiceTasks(count: number, group = `service:${service}`): Promise<string[]> {
    const ids: string[] = [];
    while (ids.length < count) {
      // RunTask starts at most 10 tasks a call.
      const out = await direct.send(
        new RunTaskCommand({
          cluster,
          taskDefinition,
          count: Math.min(10, count - ids.length),
          launchType: 'FARGATE',
          group,
          startedBy: 'ecs-svc/test',
        }),
      );
      ids.push(...(out.tasks ?? []).map((t) => taskIdOf(t.taskArn!)));
    }
    return ids;
  }

  async function desiredCount(): Promise<number> {
    const out = await direct.send(new DescribeServicesCommand({ cluster, services: [service] }));
    return out.services![0]!.desiredCount!;
  }

  async function lastStatus(ids: string[]): Promise<Map<string, string>> {
    const out = await direct.send(new DescribeTasksCommand({ cluster, tasks: ids }));
    return new Map((out.tasks ?? []).map((t) => [taskIdOf(t.taskArn!), t.lastStatus!]));
  }

  /**
   * Moto moves a task's lastStatus straight to STOPPED on first read (its "immediate" state progression);
   * real tasks stay RUNNING until stopped. Hold them at RUNNING for this file, through moto's own API.
   */
  async function motoTaskTransition(action: 'set' | 'unset'): Promise<void> {
    const body =
      action === 'set'
        ? { model_name: 'ecs::task', transition: { progression: 'manual', times: 1_000_000_000 } }
        : { model_name: 'ecs::task' };
    const res = await fetch(`${AWS_ENDPOINT_URL}/moto-api/state-manager/${action}-transition`, {
      method: 'POST',
      body: JSON.stringify(body),
    });
    expect(res.status).toBeLessThan(300);
  }

  beforeAll(async () => {
    await motoTaskTransition('set');
    const endpoint = await stub.start();
    client = new ECSClient({ endpoint, region: 'us-east-1', credentials });
    direct = new ECSClient({ endpoint: AWS_ENDPOINT_URL, region: 'us-east-1', credentials });
    await direct.send(new CreateClusterCommand({ clusterName: cluster }));
    const td = await direct.send(
      new RegisterTaskDefinitionCommand({
        family: `oq-worker-${suffix}`,
        // The stack's task definition uses awsvpc; moto would then need a VPC and subnet of its own, which
        // nothing here checks, so the emulated one keeps the default network mode.
        cpu: '1024',
        memory: '2048',
        containerDefinitions: [
          { name: 'worker', image: 'oq-worker:test', essential: true, cpu: 1024, memory: 2048 },
        ],
      }),
    );
    taskDefinition = td.taskDefinition!.taskDefinitionArn!;
    await direct.send(
      new CreateServiceCommand({
        cluster,
        serviceName: service,
        taskDefinition,
        desiredCount: 0,
        launchType: 'FARGATE',
      }),
    );
    backend = new EcsBackend({ cluster, service, client, releaseDelayMs: 0 });
  });

  afterAll(async () => {
    await motoTaskTransition('unset');
    await backend?.close();
    direct?.destroy();
    await stub.stop();
  });

  beforeEach(() => {
    stub.calls.length = 0;
  });

  it('scaleTo sets the desired count; describe maps tasks to oq@<task id> and ignores other groups', async () => {
    await backend.scaleTo(3);
    expect(await desiredCount()).toBe(3);
    const ids = await runServiceTasks(3);
    const [stranger] = await runServiceTasks(1, `family:oq-worker-${suffix}`);
    const fleet = await backend.describe();
    expect(fleet.desired).toBe(3);
    expect(fleet.units.map((u) => u.unitId).sort()).toEqual([...ids].sort());
    expect(fleet.units.map((u) => u.celeryHostname)).toContain(`oq@${ids[0]}`);
    expect(fleet.units.some((u) => u.unitId === stranger)).toBe(false);
    expect(fleet.running + fleet.pending).toBe(3);
    await expect(backend.scaleTo(-1)).rejects.toThrow(/whole number >= 0/);
  });

  it('retire protects every other task in batches of 10, stops exactly the chosen ones, then releases', async () => {
    const before = await backend.describe();
    const more = await runServiceTasks(20);
    await backend.scaleTo(before.desired + more.length);
    const all = [...before.units.map((u) => u.unitId), ...more];
    expect(all).toHaveLength(23);
    // Two busy tasks were protected by the actor earlier, with the busy expiry.
    const busy = all.slice(5, 7);
    await backend.protect(busy, 10);
    stub.calls.length = 0;
    const chosen = [all[0]!, all[22]!];

    await backend.retire(chosen);
    // The release of the protection it added waits for the scheduler in the background (issue 14 item 5).
    await backend.retirementsSettled();

    const others = all.filter((id) => !chosen.includes(id));
    const added = others.filter((id) => !busy.includes(id));
    const protects = stub.calls.filter((c) => c.protectionEnabled);
    // 23 tasks - 2 chosen - 2 already protected = 19 to protect: batches of 10 and 9.
    expect(protects.map((c) => c.tasks.length)).toEqual([10, 9]);
    for (const c of protects) expect(c.expiresInMinutes).toBe(5);
    expect(protects.flatMap((c) => c.tasks).sort()).toEqual([...added].sort());
    const releases = stub.calls.filter((c) => !c.protectionEnabled);
    expect(releases[0]!.tasks.sort()).toEqual([...chosen].sort());
    expect(
      releases
        .slice(1)
        .flatMap((c) => c.tasks)
        .sort(),
    ).toEqual([...added].sort());
    for (const c of stub.calls) expect(c.tasks.length).toBeLessThanOrEqual(10);
    // Busy tasks keep the actor's protection.
    for (const id of busy) expect(stub.state.get(id)?.enabled).toBe(true);
    expect(await desiredCount()).toBe(21);
    const status = await lastStatus(all);
    for (const id of chosen) expect(status.get(id)).toBe('STOPPED');
    for (const id of others) expect(status.get(id)).not.toBe('STOPPED');
    const after = await backend.describe();
    expect(after.units.map((u) => u.unitId).sort()).toEqual([...others].sort());
    expect(
      after.units
        .filter((u) => u.protected)
        .map((u) => u.unitId)
        .sort(),
    ).toEqual([...busy].sort());
  });

  it('retire returns before its protection is released, and the release skips a task protected meanwhile', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const gated = new EcsBackend({ cluster, service, client, sleep: () => gate });
    const fleet = await gated.describe();
    const free = fleet.units.filter((u) => !u.protected).map((u) => u.unitId);
    expect(free.length).toBeGreaterThanOrEqual(3);
    const [chosen, becameBusy, stayedIdle] = free;
    await gated.retire([chosen!]);
    // Returned with the release still waiting for the scheduler: both others are protected by retire.
    expect(stub.state.get(becameBusy!)?.enabled).toBe(true);
    expect(stub.state.get(stayedIdle!)?.enabled).toBe(true);
    // Meanwhile the actor protects a task that took work; the release must leave it protected.
    await gated.protect([becameBusy!], 10);
    openGate();
    await gated.retirementsSettled();
    expect(stub.state.get(becameBusy!)?.enabled).toBe(true);
    expect(stub.state.get(stayedIdle!)?.enabled).toBe(false);
    await gated.release([becameBusy!]);
  });

  it('describe asks ECS for protection only of tasks it has not seen, and follows its own updates', async () => {
    const first = await backend.describe();
    stub.gets.length = 0;
    const again = await backend.describe();
    expect(stub.gets).toEqual([]);
    expect(again.units.filter((u) => u.protected).map((u) => u.unitId)).toEqual(
      first.units.filter((u) => u.protected).map((u) => u.unitId),
    );
    const target = again.units.find((u) => !u.protected)!.unitId;
    await backend.protect([target], 3);
    expect((await backend.describe()).units.find((u) => u.unitId === target)?.protected).toBe(true);
    await backend.release([target]);
    expect((await backend.describe()).units.find((u) => u.unitId === target)?.protected).toBe(false);
    const [fresh] = await runServiceTasks(1);
    stub.gets.length = 0;
    expect((await backend.describe()).units.some((u) => u.unitId === fresh)).toBe(true);
    expect(stub.gets).toEqual([1]);
  });

  it('a failed protection of a running task aborts the retirement before the desired count drops', async () => {
    const fleet = await backend.describe();
    const ids = fleet.units.filter((u) => !u.protected).map((u) => u.unitId);
    const desired = await desiredCount();
    stub.failFor.add(ids[1]!);
    try {
      await expect(backend.retire([ids[0]!])).rejects.toThrow(
        /UpdateTaskProtection\(protect\) failed for .*TASK_NOT_VALID/,
      );
    } finally {
      stub.failFor.clear();
    }
    expect(await desiredCount()).toBe(desired);
    expect((await lastStatus([ids[0]!])).get(ids[0]!)).not.toBe('STOPPED');
  });

  it('rejects an expiry outside 1..2880 minutes and unknown units', async () => {
    await expect(backend.protect(['x'], 0)).rejects.toThrow(/minutes=0: .* from 1 to 2880/);
    await expect(backend.protect(['x'], 2881)).rejects.toThrow(/2880/);
    await expect(backend.retire(['not-a-task'])).rejects.toThrow(
      /not-a-task not found among the tasks of service/,
    );
  });
});
