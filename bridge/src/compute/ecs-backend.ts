/**
 * The production compute backend: the worker ECS service on Fargate, one celery worker a task, its celery
 * hostname `oq@<task id>` (the worker image sets it).
 *
 * Scale-in is exact: ECS picks tasks to stop by zone balance, not idleness, so `retire` first protects every
 * other task of the service with task scale-in protection, then lowers the desired count and stops exactly
 * the named tasks, then releases the protection it added. Busy tasks keep the protection the actor gives them.
 * Endpoint-agnostic: the SDK honours AWS_ENDPOINT_URL, so the same code runs against a real account or an
 * emulator.
 */
import {
  DescribeServicesCommand,
  DescribeTasksCommand,
  ECSClient,
  GetTaskProtectionCommand,
  ListTasksCommand,
  StopTaskCommand,
  UpdateServiceCommand,
  UpdateTaskProtectionCommand,
  type Task,
} from '@aws-sdk/client-ecs';
import type { ComputeObservation, ComputeUnit } from '../observe/observation.ts';
import { awsClientConfig } from './aws-client-config.ts';
import { assertDesiredCount, fleetObservation, type ComputeBackend } from './compute-backend.ts';

/** UpdateTaskProtection takes at most 10 tasks a call (Amazon ECS API reference, UpdateTaskProtection). */
export const TASK_PROTECTION_BATCH = 10;
/** `expiresInMinutes` must be from 1 to 2880 (Amazon ECS API reference, UpdateTaskProtection). */
export const TASK_PROTECTION_MAX_MINUTES = 2880;
/** DescribeTasks and GetTaskProtection take at most 100 tasks a call. */
const DESCRIBE_BATCH = 100;
/** How often describe re-reads every task's protection (others, e.g. the task itself, may change it). */
const PROTECTION_REFRESH_MS = 60_000;

export interface EcsBackendOptions {
  readonly cluster: string;
  readonly service: string;
  /** A client; default one for AWS_REGION (and AWS_ENDPOINT_URL when set), retrying as awsClientConfig says. */
  readonly client?: ECSClient;
  /** Expiry of the protection `retire` puts on the other tasks while the desired count drops. @default 5 */
  readonly retireProtectionMinutes?: number;
  /** Wait after stopping the retired tasks before releasing the others, for the scheduler to settle. @default 5000 */
  readonly releaseDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
}

/** Lifecycle states of an ECS task (Amazon ECS developer guide, "Task lifecycle"). */
const PENDING_STATES = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);

/** The task id: the last segment of its ARN. */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1);
}

/** ComputeBackend over one ECS service. */
export class EcsBackend implements ComputeBackend {
  readonly name = 'ecs';
  private readonly client: ECSClient;
  private readonly retireMinutes: number;
  private readonly releaseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  /** Protection per task id as last known (GetTaskProtection, or our own UpdateTaskProtection calls). */
  private readonly protection = new Map<string, boolean>();
  private protectionFetchedAt = -Infinity;
  /** Tasks whose protection `retire` added and has not yet given back. */
  private readonly retireProtected = new Set<string>();
  /** The background releases of that protection. */
  private readonly pendingReleases = new Set<Promise<void>>();

  constructor(private readonly options: EcsBackendOptions) {
    this.client = options.client ?? new ECSClient(awsClientConfig());
    this.retireMinutes = checkMinutes('retireProtectionMinutes', options.retireProtectionMinutes ?? 5);
    this.releaseDelayMs = options.releaseDelayMs ?? 5000;
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.now = options.now ?? Date.now;
  }

  async describe(): Promise<ComputeObservation> {
    const { cluster, service } = this.options;
    const described = await this.client.send(new DescribeServicesCommand({ cluster, services: [service] }));
    const svc = described.services?.[0];
    if (!svc || svc.status === 'INACTIVE') {
      const why = described.failures?.[0]?.reason ?? svc?.status ?? 'not found';
      throw new Error(`ECS service ${service} in cluster ${cluster}: ${why}`);
    }
    const tasks = await this.serviceTasks();
    const protectedIds = await this.cachedProtection(tasks.map((t) => taskIdOf(t.taskArn!))).catch(
      () => undefined,
    );
    const units: ComputeUnit[] = tasks.map((t) => {
      const unitId = taskIdOf(t.taskArn!);
      return {
        unitId,
        celeryHostname: `oq@${unitId}`,
        state: unitState(t),
        startedAt: (t.startedAt ?? t.createdAt)?.getTime(),
        protected: protectedIds?.has(unitId),
      };
    });
    const desired = svc.desiredCount ?? 0;
    const live = units.filter((u) => u.state !== 'stopping').length;
    // Short of the desired count: ECS says why in the service events (placement failures, the account's
    // Fargate vCPU quota); the newest one from the last ten minutes is passed on.
    const shortfall =
      live < desired
        ? (svc.events ?? [])
            .filter((e) => e.createdAt && this.now() - e.createdAt.getTime() < 600_000)
            .filter((e) => /unable|limit|quota|fail/i.test(e.message ?? ''))
            .sort((a, b) => b.createdAt!.getTime() - a.createdAt!.getTime())[0]?.message
        : undefined;
    return { ...fleetObservation(desired, units, this.now()), ...(shortfall ? { shortfall } : {}) };
  }

  async scaleTo(desired: number): Promise<void> {
    assertDesiredCount('EcsBackend.scaleTo', desired);
    const { cluster, service } = this.options;
    await this.client.send(new UpdateServiceCommand({ cluster, service, desiredCount: desired }));
  }

  async retire(unitIds: readonly string[]): Promise<void> {
    if (unitIds.length === 0) return;
    const { cluster, service } = this.options;
    const chosen = new Set(unitIds);
    const tasks = await this.serviceTasks();
    const present = new Set(tasks.map((t) => taskIdOf(t.taskArn!)));
    const missing = unitIds.filter((id) => !present.has(id));
    if (missing.length > 0) {
      throw new Error(`retire: ${missing.join(', ')} not found among the tasks of service ${service}`);
    }
    // 1. Every other live task gets protection, so the desired count can only take the chosen ones.
    const others = tasks
      .filter((t) => !chosen.has(taskIdOf(t.taskArn!)) && unitState(t) !== 'stopping')
      .map((t) => taskIdOf(t.taskArn!));
    const alreadyProtected = await this.protectedTaskIds(others);
    const added = others.filter((id) => !alreadyProtected.has(id));
    await this.setProtection(added, true, this.retireMinutes, (id) => {
      // A task still starting cannot be protected yet; it has no work to lose either.
      const t = tasks.find((x) => taskIdOf(x.taskArn!) === id);
      return t !== undefined && unitState(t) === 'pending';
    });
    // 2. The chosen ones must not be protected (a stale protection would block their stop by the scheduler).
    await this.setProtection([...unitIds], false);
    // 3. Lower the desired count first (so no replacement starts), then stop exactly the chosen tasks.
    const described = await this.client.send(new DescribeServicesCommand({ cluster, services: [service] }));
    const desired = described.services?.[0]?.desiredCount ?? unitIds.length;
    await this.client.send(
      new UpdateServiceCommand({ cluster, service, desiredCount: Math.max(0, desired - unitIds.length) }),
    );
    for (const id of unitIds) {
      await this.client.send(
        new StopTaskCommand({ cluster, task: id, reason: 'oq-elastic bridge: drained idle worker retired' }),
      );
    }
    // 4. Give back what step 1 added, once the scheduler has seen running == desired; busy tasks keep the
    //    protection the actor gave them, idle ones are free again so deployments are not blocked. In the
    //    background (the next cycle must not wait for it), and only for tasks nobody protected since.
    for (const id of added) this.retireProtected.add(id);
    if (added.length > 0) {
      const release = (async () => {
        await this.sleep(this.releaseDelayMs);
        const still = added.filter((id) => this.retireProtected.delete(id));
        await this.setProtection(still, false);
      })();
      // A failed release is not retried: the protection expires by itself after retireProtectionMinutes.
      const tracked = release.catch(() => undefined).finally(() => this.pendingReleases.delete(tracked));
      this.pendingReleases.add(tracked);
    }
  }

  /** Resolves once the protection that `retire` added has been given back. */
  async retirementsSettled(): Promise<void> {
    while (this.pendingReleases.size > 0) await Promise.all([...this.pendingReleases]);
  }

  async protect(unitIds: readonly string[], minutes: number): Promise<void> {
    // The actor protects a task that became busy: a pending release of `retire`'s own protection must skip it.
    for (const id of unitIds) this.retireProtected.delete(id);
    await this.setProtection([...unitIds], true, checkMinutes('minutes', minutes));
  }

  async release(unitIds: readonly string[]): Promise<void> {
    await this.setProtection([...unitIds], false);
  }

  async close(): Promise<void> {
    await this.retirementsSettled();
    this.client.destroy();
  }

  /** The live tasks of the service (desired RUNNING), described. */
  private async serviceTasks(): Promise<Task[]> {
    const { cluster, service } = this.options;
    const arns: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.client.send(
        new ListTasksCommand({ cluster, serviceName: service, desiredStatus: 'RUNNING', nextToken }),
      );
      arns.push(...(page.taskArns ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
    const tasks: Task[] = [];
    for (let i = 0; i < arns.length; i += DESCRIBE_BATCH) {
      const out = await this.client.send(
        new DescribeTasksCommand({ cluster, tasks: arns.slice(i, i + DESCRIBE_BATCH) }),
      );
      tasks.push(...(out.tasks ?? []));
    }
    // Service tasks carry the group `service:<name>`; the filter also keeps emulators that ignore
    // ListTasks' serviceName honest.
    return tasks.filter((t) => t.group === `service:${service}`);
  }

  /**
   * Which of these tasks are protected, asking ECS only for tasks not seen before and for all of them once a
   * minute: describe runs every cycle, and GetTaskProtection on a large fleet would cost a call per 100 tasks.
   * Between refreshes the cache follows this backend's own UpdateTaskProtection calls.
   */
  private async cachedProtection(ids: readonly string[]): Promise<Set<string>> {
    const now = this.now();
    const stale = now - this.protectionFetchedAt >= PROTECTION_REFRESH_MS;
    const unknown = stale ? ids : ids.filter((id) => !this.protection.has(id));
    if (unknown.length > 0) {
      const fetched = await this.protectedTaskIds(unknown);
      for (const id of unknown) this.protection.set(id, fetched.has(id));
      if (stale) this.protectionFetchedAt = now;
    }
    const live = new Set(ids);
    for (const id of this.protection.keys()) if (!live.has(id)) this.protection.delete(id);
    return new Set(ids.filter((id) => this.protection.get(id) === true));
  }

  private async protectedTaskIds(taskArnsOrIds: readonly string[]): Promise<Set<string>> {
    const { cluster } = this.options;
    const ids = new Set<string>();
    for (let i = 0; i < taskArnsOrIds.length; i += DESCRIBE_BATCH) {
      const out = await this.client.send(
        new GetTaskProtectionCommand({ cluster, tasks: taskArnsOrIds.slice(i, i + DESCRIBE_BATCH) }),
      );
      for (const p of out.protectedTasks ?? []) {
        if (p.protectionEnabled && p.taskArn) ids.add(taskIdOf(p.taskArn));
      }
    }
    return ids;
  }

  /**
   * UpdateTaskProtection in batches of 10. A failure is an error unless `tolerate` accepts the task:
   * when protecting before a retirement, an unprotected busy task could be the one ECS stops.
   */
  private async setProtection(
    ids: readonly string[],
    enabled: boolean,
    minutes?: number,
    tolerate: (id: string) => boolean = () => false,
  ): Promise<void> {
    const { cluster } = this.options;
    for (let i = 0; i < ids.length; i += TASK_PROTECTION_BATCH) {
      const batch = ids.slice(i, i + TASK_PROTECTION_BATCH);
      const out = await this.client.send(
        new UpdateTaskProtectionCommand({
          cluster,
          tasks: batch,
          protectionEnabled: enabled,
          ...(enabled ? { expiresInMinutes: minutes } : {}),
        }),
      );
      for (const p of out.protectedTasks ?? []) {
        if (p.taskArn) this.protection.set(taskIdOf(p.taskArn), p.protectionEnabled === true);
      }
      const failed = (out.failures ?? []).filter((f) => !tolerate(taskIdOf(f.arn ?? '')));
      if (failed.length > 0) {
        const list = failed.map((f) => `${taskIdOf(f.arn ?? '?')}: ${f.reason ?? 'unknown'}`).join('; ');
        throw new Error(`UpdateTaskProtection(${enabled ? 'protect' : 'release'}) failed for ${list}`);
      }
    }
  }
}

function unitState(t: Task): ComputeUnit['state'] {
  if (t.desiredStatus === 'STOPPED') return 'stopping';
  const last = t.lastStatus ?? 'PROVISIONING';
  if (last === 'RUNNING') return 'running';
  if (PENDING_STATES.has(last)) return 'pending';
  return 'stopping';
}

function checkMinutes(name: string, minutes: number): number {
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > TASK_PROTECTION_MAX_MINUTES) {
    throw new Error(
      `${name}=${minutes}: task protection expiry must be a whole number of minutes from 1 to ${TASK_PROTECTION_MAX_MINUTES}`,
    );
  }
  return minutes;
}
