/**
 * The ECS backend against the moto server, for the calls moto implements (DescribeServices, UpdateService,
 * ListTasks, DescribeTasks, RunTask, StopTask). Moto has no task protection, so UpdateTaskProtection and
 * GetTaskProtection are answered by an in-process stub (bench/fleet-emulator/ecs-protection-stub.ts).
 */
import { randomBytes } from 'node:crypto';
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
import { TaskProtectionStubProxy } from '../../bench/fleet-emulator/ecs-protection-stub.ts';
import { AWS_ENDPOINT_URL, describeWithMoto } from '../support/services.ts';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

describeWithMoto('ECS backend against moto (task protection: in-process stub proxy)', () => {
  const suffix = randomBytes(4).toString('hex');
  const cluster = `oqe-bridge-${suffix}`;
  const service = `oq-workers-${suffix}`;
  const stub = new TaskProtectionStubProxy(AWS_ENDPOINT_URL);
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

  it('describe holds protection on running tasks (new ones once); retire releases and stops only the chosen', async () => {
    const before = await backend.describe();
    const more = await runServiceTasks(20);
    await backend.scaleTo(before.desired + more.length);
    const all = [...before.units.map((u) => u.unitId), ...more];
    expect(all).toHaveLength(23);
    stub.calls.length = 0;
    stub.counts.clear();

    // The 20 new tasks are protected once, in batches of 10, with the hold's expiry; the 3 older ones
    // were protected by the first describe and cost nothing now.
    const fleet = await backend.describe();
    expect(stub.calls.map((c) => [c.protectionEnabled, c.tasks.length])).toEqual([
      [true, 10],
      [true, 10],
    ]);
    for (const c of stub.calls) expect(c.expiresInMinutes).toBe(60);
    expect(stub.calls.flatMap((c) => c.tasks).sort()).toEqual([...more].sort());
    expect(fleet.units.every((u) => u.protected)).toBe(true);
    // Only the 20 unseen tasks were described; the next describe describes none.
    expect(stub.counts.get('DescribeTasks')).toBe(1);
    stub.counts.clear();
    stub.calls.length = 0;
    await backend.describe();
    expect(stub.counts.get('DescribeTasks')).toBeUndefined();
    expect(stub.calls).toEqual([]);

    // The actor's busy protection of held tasks costs nothing; its release outside a deployment neither.
    await backend.protect(all.slice(5, 7), 10);
    await backend.release(all.slice(8, 10));
    expect(stub.calls).toEqual([]);
    expect(stub.state.get(all[8]!)?.enabled).toBe(true);

    const chosen = [all[0]!, all[22]!];
    stub.counts.clear();
    await backend.retire(chosen);

    // One release call for the chosen, DescribeServices, UpdateService and one StopTask each: nothing
    // in proportion to the 21 others.
    expect(stub.calls).toEqual([{ cluster, tasks: chosen, protectionEnabled: false }]);
    expect(Object.fromEntries(stub.counts)).toEqual({
      UpdateTaskProtection: 1,
      DescribeServices: 1,
      UpdateService: 1,
      StopTask: 2,
    });
    const others = all.filter((id) => !chosen.includes(id));
    for (const id of others) expect(stub.state.get(id)?.enabled).toBe(true);
    expect(await desiredCount()).toBe(21);
    const status = await lastStatus(all);
    for (const id of chosen) expect(status.get(id)).toBe('STOPPED');
    for (const id of others) expect(status.get(id)).not.toBe('STOPPED');
    const after = await backend.describe();
    expect(after.units.map((u) => u.unitId).sort()).toEqual([...others].sort());
    expect(after.units.every((u) => u.protected)).toBe(true);
  });

  it('describe asks ECS for protection only of tasks it has not seen', async () => {
    await backend.describe();
    stub.gets.length = 0;
    await backend.describe();
    expect(stub.gets).toEqual([]);
    const [fresh] = await runServiceTasks(1);
    stub.gets.length = 0;
    const fleet = await backend.describe();
    expect(fleet.units.find((u) => u.unitId === fresh)?.protected).toBe(true);
    expect(stub.gets).toEqual([1]);
  });

  it('a task the hold could not protect is protected by retire, and a failure aborts before the count drops', async () => {
    const [lonely] = await runServiceTasks(1);
    stub.failFor.add(lonely!);
    try {
      const fleet = await backend.describe();
      expect(fleet.units.find((u) => u.unitId === lonely)?.protected).toBe(false);
      const victim = fleet.units.find((u) => u.unitId !== lonely)!.unitId;
      const desired = await desiredCount();
      await expect(backend.retire([victim])).rejects.toThrow(
        /UpdateTaskProtection\(protect\) failed for .*TASK_NOT_VALID/,
      );
      expect(await desiredCount()).toBe(desired);
      expect((await lastStatus([victim])).get(victim)).not.toBe('STOPPED');
    } finally {
      stub.failFor.clear();
    }
    stub.calls.length = 0;
    await backend.describe();
    expect(stub.calls.flatMap((c) => c.tasks)).toEqual([lonely]);
  });

  it('during a deployment (stubbed: an ACTIVE deployment beside the PRIMARY) the hold pauses and release is honoured', async () => {
    await runServiceTasks(3);
    await backend.describe();
    stub.deploying = true;
    try {
      const [fresh] = await runServiceTasks(1);
      stub.calls.length = 0;
      const fleet = await backend.describe();
      // A new task is not held during the rollout, and the actor's release of idle tasks goes through.
      expect(fleet.units.find((u) => u.unitId === fresh)?.protected).toBe(false);
      expect(stub.calls).toEqual([]);
      const idle = fleet.units
        .filter((u) => u.protected)
        .map((u) => u.unitId)
        .slice(0, 2);
      await backend.release(idle);
      expect(stub.calls).toEqual([{ cluster, tasks: idle, protectionEnabled: false }]);
      for (const id of idle) expect(stub.state.get(id)?.enabled).toBe(false);
      // Retiring protects the unprotected others for the scale-in, then gives that protection back.
      stub.calls.length = 0;
      const victim = fleet.units.find((u) => u.protected && !idle.includes(u.unitId))!.unitId;
      await backend.retire([victim]);
      await backend.retirementsSettled();
      const added = [fresh!, ...idle].sort();
      expect(stub.calls.map((c) => [c.protectionEnabled, [...c.tasks].sort()])).toEqual([
        [true, added],
        [false, [victim]],
        [false, added],
      ]);
    } finally {
      stub.deploying = false;
    }
    // Rollout over: the hold protects them again.
    stub.calls.length = 0;
    expect((await backend.describe()).units.every((u) => u.protected)).toBe(true);
  });

  it('during a deployment, retire returns before its protection is released, and the release skips a task protected meanwhile', async () => {
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const gated = new EcsBackend({ cluster, service, client, sleep: () => gate });
    stub.deploying = true;
    try {
      // Started during the rollout: the hold leaves them unprotected.
      const [chosen, becameBusy, stayedIdle] = await runServiceTasks(3);
      const fleet = await gated.describe();
      for (const id of [chosen, becameBusy, stayedIdle]) {
        expect(fleet.units.find((u) => u.unitId === id)?.protected).toBe(false);
      }
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
    } finally {
      stub.deploying = false;
      await gated.close();
    }
  });

  it('rejects an expiry outside 1..2880 minutes and unknown units', async () => {
    await expect(backend.protect(['x'], 0)).rejects.toThrow(/minutes=0: .* from 1 to 2880/);
    await expect(backend.protect(['x'], 2881)).rejects.toThrow(/2880/);
    await expect(backend.retire(['not-a-task'])).rejects.toThrow(
      /not-a-task not found among the tasks of service/,
    );
  });
});
