/**
 * The production compute backend: the worker ECS service on Fargate, one celery worker a task, its celery
 * hostname `oq@<task id>` (the worker image sets it).
 *
 * Scale-in is exact and costs ECS calls in proportion to the tasks retired, not to the fleet. ECS picks tasks
 * to stop by zone balance, not idleness, so every running task must be protected when the desired count
 * drops, except the chosen ones. Rather than protect the whole fleet at each scale-in and release it after
 * (about 2 x N / 10 UpdateTaskProtection calls), the backend **holds** task scale-in protection on every
 * running task: a task is protected once when it is first seen running, renewed before it expires, and
 * released only when it is retired. `retire` then releases and stops exactly the chosen tasks: about
 * 3 + 1.1 x k calls for k tasks. While a deployment rolls (the service has more than one deployment), the
 * hold pauses and `release` is honoured at once, so that idle tasks never block it; busy ones keep the
 * protection the actor gives them.
 *
 * Each describe lists the service's tasks (ListTasks, 100 a page) but describes only tasks it has not seen
 * yet or last saw starting (DescribeTasks), so that what a cycle asks grows with change, not fleet size.
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
import { clockWith, type Clock } from '../clock.ts';
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
/**
 * Most UpdateTaskProtection calls one describe spends on holding protection (new tasks first, then renewals),
 * so that a fleet started at once is protected over a few cycles rather than in one long one.
 */
const HOLD_CALLS_PER_DESCRIBE = 10;
/** How old the last listing may be for `retire` to trust it instead of listing the tasks again. */
const LISTING_FRESH_MS = 30_000;

/** `now` and `sleep` (the release delay) default to the wall clock. */
export interface EcsBackendOptions extends Partial<Clock> {
  readonly cluster: string;
  readonly service: string;
  /** A client; default one for AWS_REGION (and AWS_ENDPOINT_URL when set), retrying as awsClientConfig says. */
  readonly client?: ECSClient;
  /** Expiry of the protection held on every running task, renewed at half. @default 60 */
  readonly holdProtectionMinutes?: number;
  /** Wait after stopping retired tasks during a deployment before releasing what retire added. @default 5000 */
  readonly releaseDelayMs?: number;
}

/** Lifecycle states of an ECS task (Amazon ECS developer guide, "Task lifecycle"). */
const PENDING_STATES = new Set(['PROVISIONING', 'PENDING', 'ACTIVATING']);

/** The task id: the last segment of its ARN. */
export function taskIdOf(taskArn: string): string {
  return taskArn.slice(taskArn.lastIndexOf('/') + 1);
}

/** What the backend knows of one task's protection. */
interface ProtectionState {
  readonly enabled: boolean;
  /** When it expires (ms since epoch), when known. */
  readonly until?: number;
}

/** The last listing of the service, for `retire`. */
interface Listing {
  readonly at: number;
  readonly tasks: readonly Task[];
  readonly deploying: boolean;
}

/** ComputeBackend over one ECS service. */
export class EcsBackend implements ComputeBackend {
  readonly name = 'ecs';
  private readonly client: ECSClient;
  private readonly holdMinutes: number;
  private readonly releaseDelayMs: number;
  private readonly clock: Clock;
  /** Protection per task id as last known (GetTaskProtection, or our own UpdateTaskProtection calls). */
  private readonly protection = new Map<string, ProtectionState>();
  private protectionFetchedAt = -Infinity;
  /** Described tasks by ARN; a task is described again only while it is starting. */
  private readonly described = new Map<string, Task>();
  private listing?: Listing;
  /** Tasks whose protection `retire` added during a deployment and has not yet given back. */
  private readonly retireProtected = new Set<string>();
  /** The background releases of that protection. */
  private readonly pendingReleases = new Set<Promise<void>>();

  constructor(private readonly options: EcsBackendOptions) {
    this.client = options.client ?? new ECSClient(awsClientConfig());
    this.holdMinutes = checkMinutes('holdProtectionMinutes', options.holdProtectionMinutes ?? 60);
    this.releaseDelayMs = options.releaseDelayMs ?? 5000;
    this.clock = clockWith(options);
  }

  async describe(): Promise<ComputeObservation> {
    const { cluster, service } = this.options;
    const described = await this.client.send(new DescribeServicesCommand({ cluster, services: [service] }));
    const svc = described.services?.[0];
    if (!svc || svc.status === 'INACTIVE') {
      const why = described.failures?.[0]?.reason ?? svc?.status ?? 'not found';
      throw new Error(`ECS service ${service} in cluster ${cluster}: ${why}`);
    }
    // A rolling deployment shows as a second (ACTIVE) deployment beside the PRIMARY one.
    const deploying = (svc.deployments ?? []).length > 1;
    const tasks = await this.serviceTasks();
    this.listing = { at: this.clock.now(), tasks, deploying };
    const ids = tasks.map((t) => taskIdOf(t.taskArn!));
    const known = await this.cachedProtection(ids).then(
      () => true,
      () => false,
    );
    if (known && !deploying) await this.holdProtection(tasks).catch(() => undefined);
    const units: ComputeUnit[] = tasks.map((t) => {
      const unitId = taskIdOf(t.taskArn!);
      return {
        unitId,
        celeryHostname: `oq@${unitId}`,
        state: unitState(t),
        startedAt: (t.startedAt ?? t.createdAt)?.getTime(),
        protected: known ? this.protection.get(unitId)?.enabled === true : undefined,
      };
    });
    const desired = svc.desiredCount ?? 0;
    const live = units.filter((u) => u.state !== 'stopping').length;
    // Short of the desired count: ECS says why in the service events (placement failures, the account's
    // Fargate vCPU quota); the newest one from the last ten minutes is passed on.
    const shortfall =
      live < desired
        ? (svc.events ?? [])
            .filter((e) => e.createdAt && this.clock.now() - e.createdAt.getTime() < 600_000)
            .filter((e) => /unable|limit|quota|fail/i.test(e.message ?? ''))
            .sort((a, b) => b.createdAt!.getTime() - a.createdAt!.getTime())[0]?.message
        : undefined;
    return { ...fleetObservation(desired, units, this.clock.now()), ...(shortfall ? { shortfall } : {}) };
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
    // The last listing serves when it is fresh and no task was starting then (a starting task could be
    // running, unprotected, by now); otherwise the tasks are listed again.
    let listing = this.listing;
    if (
      !listing ||
      this.clock.now() - listing.at > LISTING_FRESH_MS ||
      listing.tasks.some((t) => unitState(t) === 'pending')
    ) {
      await this.describe();
      listing = this.listing!;
    }
    const tasks = listing.tasks;
    const present = new Set(tasks.map((t) => taskIdOf(t.taskArn!)));
    const missing = unitIds.filter((id) => !present.has(id));
    if (missing.length > 0) {
      throw new Error(`retire: ${missing.join(', ')} not found among the tasks of service ${service}`);
    }
    // 1. Every other live task must be protected, so the desired count can only take the chosen ones. With the
    //    hold in place they all are; the ones that are not (the hold failed for them, or paused during a
    //    deployment) are protected now.
    const others = tasks.filter((t) => !chosen.has(taskIdOf(t.taskArn!)) && unitState(t) !== 'stopping');
    const added = others
      .map((t) => taskIdOf(t.taskArn!))
      .filter((id) => this.protection.get(id)?.enabled !== true);
    await this.setProtection(added, true, this.holdMinutes, (id) => {
      // A task still starting cannot be protected yet; it has no work to lose either.
      const t = tasks.find((x) => taskIdOf(x.taskArn!) === id);
      return t !== undefined && unitState(t) === 'pending';
    });
    // 2. The chosen ones must not be protected (a protection would keep the scheduler from stopping them).
    const release = unitIds.filter((id) => this.protection.get(id)?.enabled !== false);
    await this.setProtection(release, false);
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
    // 4. During a deployment, give back what step 1 added once the scheduler has seen running == desired, so
    //    that idle tasks do not block it; otherwise it stays held. In the background (the next cycle must not
    //    wait for it), and only for tasks nobody protected since.
    if (added.length > 0 && listing.deploying) {
      for (const id of added) this.retireProtected.add(id);
      const release = (async () => {
        await this.clock.sleep(this.releaseDelayMs);
        const still = added.filter((id) => this.retireProtected.delete(id));
        await this.setProtection(still, false);
      })();
      // A failed release is not retried: the protection expires by itself after the hold's expiry.
      const tracked = release.catch(() => undefined).finally(() => this.pendingReleases.delete(tracked));
      this.pendingReleases.add(tracked);
    }
  }

  /** Resolves once the protection that `retire` added during a deployment has been given back. */
  async retirementsSettled(): Promise<void> {
    while (this.pendingReleases.size > 0) await Promise.all([...this.pendingReleases]);
  }

  /**
   * Protects these units for at least `minutes`. Units whose held protection already runs that long cost no
   * call; the others get the longer of `minutes` and the hold (outside deployments).
   */
  async protect(unitIds: readonly string[], minutes: number): Promise<void> {
    checkMinutes('minutes', minutes);
    // The actor protects a task that became busy: a pending release of `retire`'s own protection must skip it.
    for (const id of unitIds) this.retireProtected.delete(id);
    const until = this.clock.now() + minutes * 60_000;
    const needed = unitIds.filter((id) => (this.protection.get(id)?.until ?? -Infinity) < until);
    const deploying = this.listing?.deploying ?? true;
    await this.setProtection(needed, true, deploying ? minutes : Math.max(minutes, this.holdMinutes));
  }

  /**
   * Releases these units' protection during a deployment, so that it is not blocked. Outside deployments the
   * backend keeps holding it (a scale-in then needs no call for them) and this costs nothing.
   */
  async release(unitIds: readonly string[]): Promise<void> {
    if (this.listing && !this.listing.deploying) return;
    await this.setProtection([...unitIds], false);
  }

  async close(): Promise<void> {
    await this.retirementsSettled();
    this.client.destroy();
  }

  /**
   * Protects running tasks that are not protected (new ones) and renews protection that has less than half
   * its hold left, at most {@link HOLD_CALLS_PER_DESCRIBE} calls a time; starting tasks wait until they run.
   */
  private async holdProtection(tasks: readonly Task[]): Promise<void> {
    const now = this.clock.now();
    const renewBefore = now + (this.holdMinutes * 60_000) / 2;
    const running = tasks.filter((t) => unitState(t) === 'running').map((t) => taskIdOf(t.taskArn!));
    const unprotected = running.filter((id) => this.protection.get(id)?.enabled !== true);
    const expiring = running.filter((id) => {
      const p = this.protection.get(id);
      return p?.enabled === true && (p.until ?? Infinity) < renewBefore;
    });
    const due = [...unprotected, ...expiring].slice(0, HOLD_CALLS_PER_DESCRIBE * TASK_PROTECTION_BATCH);
    // A task that stopped meanwhile fails; it is listed no more next time, so nothing is lost.
    await this.setProtection(due, true, this.holdMinutes, () => true);
  }

  /** The live tasks of the service (desired RUNNING), describing only the ones not seen or still starting. */
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
    const listed = new Set(arns);
    for (const arn of this.described.keys()) if (!listed.has(arn)) this.described.delete(arn);
    const toDescribe = arns.filter((arn) => {
      const t = this.described.get(arn);
      return t === undefined || unitState(t) !== 'running';
    });
    for (let i = 0; i < toDescribe.length; i += DESCRIBE_BATCH) {
      const out = await this.client.send(
        new DescribeTasksCommand({ cluster, tasks: toDescribe.slice(i, i + DESCRIBE_BATCH) }),
      );
      for (const t of out.tasks ?? []) if (t.taskArn) this.described.set(t.taskArn, t);
    }
    // Service tasks carry the group `service:<name>`; the filter also keeps emulators that ignore
    // ListTasks' serviceName honest.
    return arns
      .map((arn) => this.described.get(arn))
      .filter((t): t is Task => t !== undefined && t.group === `service:${service}`);
  }

  /**
   * Which of these tasks are protected, asking ECS only for tasks not seen before and for all of them once a
   * minute: describe runs every cycle, and GetTaskProtection on a large fleet would cost a call per 100 tasks.
   * Between refreshes the cache follows this backend's own UpdateTaskProtection calls.
   */
  private async cachedProtection(ids: readonly string[]): Promise<void> {
    const now = this.clock.now();
    const stale = now - this.protectionFetchedAt >= PROTECTION_REFRESH_MS;
    const unknown = stale ? ids : ids.filter((id) => !this.protection.has(id));
    if (unknown.length > 0) {
      await this.fetchProtection(unknown);
      if (stale) this.protectionFetchedAt = now;
    }
    const live = new Set(ids);
    for (const id of this.protection.keys()) if (!live.has(id)) this.protection.delete(id);
  }

  private async fetchProtection(ids: readonly string[]): Promise<void> {
    const { cluster } = this.options;
    for (let i = 0; i < ids.length; i += DESCRIBE_BATCH) {
      const batch = ids.slice(i, i + DESCRIBE_BATCH);
      const out = await this.client.send(new GetTaskProtectionCommand({ cluster, tasks: batch }));
      const seen = new Set<string>();
      for (const p of out.protectedTasks ?? []) {
        if (!p.taskArn) continue;
        const id = taskIdOf(p.taskArn);
        seen.add(id);
        this.protection.set(id, {
          enabled: p.protectionEnabled === true,
          ...(p.expirationDate ? { until: p.expirationDate.getTime() } : {}),
        });
      }
      for (const id of batch) if (!seen.has(id)) this.protection.set(id, { enabled: false });
    }
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
        if (!p.taskArn) continue;
        this.protection.set(taskIdOf(p.taskArn), {
          enabled: p.protectionEnabled === true,
          ...(p.expirationDate ? { until: p.expirationDate.getTime() } : {}),
        });
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
