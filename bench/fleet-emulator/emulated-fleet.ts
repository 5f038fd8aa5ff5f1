/**
 * An emulated large fleet on real parts: a moto ECS service whose N task records stand for the Fargate
 * workers, and the emulated celery workers `oq@<task id>` (FleetEmulator) on the real RabbitMQ, kept in step:
 * a task stopped through the ECS API (StopTask) stops its worker, and `grow` starts task records and workers
 * together. Moto creates no task records for a desired count, so the records are made with RunTask (group
 * `service:<name>`, as the service scheduler would) and held at RUNNING through moto's state manager.
 * Task protection, which moto lacks, comes from the in-process stub proxy (ecs-protection-stub.ts),
 * which also counts the ECS calls by action.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeleteClusterCommand,
  DeleteServiceCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  RunTaskCommand,
  StopTaskCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { taskIdOf } from '../../bridge/src/compute/ecs-backend.ts';
import { TaskProtectionStubProxy } from './ecs-protection-stub.ts';
import { FleetEmulator, type FleetEmulatorOptions } from './fleet-emulator.ts';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
/** RunTask starts at most 10 tasks a call (Amazon ECS API reference, RunTask `count`). */
const RUN_TASK_BATCH = 10;

export interface EmulatedFleetOptions extends Omit<FleetEmulatorOptions, 'amqpUrl'> {
  /** The moto server. */
  readonly awsEndpoint: string;
  /** amqp:// URL of the vhost the workers join. */
  readonly amqpUrl: string;
  /** Workers (task records) to start with. */
  readonly workers: number;
  readonly prefix?: string;
}

/** A running emulated fleet: the ECS service, its tasks and their workers. */
export class EmulatedFleet {
  /** Celery hostnames of the live workers, in start order. */
  readonly hostnames: string[] = [];

  private constructor(
    readonly cluster: string,
    readonly service: string,
    /** An ECS client through the stub proxy: what the bridge's EcsBackend should use. */
    readonly client: ECSClient,
    readonly proxy: TaskProtectionStubProxy,
    readonly emulator: FleetEmulator,
    private readonly direct: ECSClient,
    private readonly taskDefinition: string,
  ) {}

  static async start(o: EmulatedFleetOptions): Promise<EmulatedFleet> {
    await motoTaskTransition(o.awsEndpoint, 'set');
    const suffix = randomBytes(4).toString('hex');
    const prefix = o.prefix ?? 'oqe-fleet';
    const cluster = `${prefix}-${suffix}`;
    const service = `${prefix}-workers-${suffix}`;
    const direct = new ECSClient({ endpoint: o.awsEndpoint, region: 'us-east-1', credentials });
    const proxy = new TaskProtectionStubProxy(o.awsEndpoint);
    const client = new ECSClient({ endpoint: await proxy.start(), region: 'us-east-1', credentials });
    await direct.send(new CreateClusterCommand({ clusterName: cluster }));
    const td = await direct.send(
      new RegisterTaskDefinitionCommand({
        family: `${prefix}-worker-${suffix}`,
        cpu: '1024',
        memory: '2048',
        containerDefinitions: [{ name: 'worker', image: 'oq-worker:bench', essential: true, memory: 2048 }],
      }),
    );
    const taskDefinition = td.taskDefinition!.taskDefinitionArn!;
    await direct.send(
      new CreateServiceCommand({ cluster, serviceName: service, taskDefinition, desiredCount: 0 }),
    );
    const emulator = FleetEmulator.start({ ...o });
    const fleet = new EmulatedFleet(cluster, service, client, proxy, emulator, direct, taskDefinition);
    proxy.onStopTask = async (taskId) => {
      const hostname = `oq@${taskId}`;
      const i = fleet.hostnames.indexOf(hostname);
      if (i >= 0) fleet.hostnames.splice(i, 1);
      await emulator.remove([hostname]);
    };
    await fleet.grow(o.workers);
    return fleet;
  }

  /** Starts `count` more task records and their workers, and raises the desired count to match. */
  async grow(count: number): Promise<string[]> {
    const ids: string[] = [];
    while (ids.length < count) {
      const out = await this.direct.send(
        new RunTaskCommand({
          cluster: this.cluster,
          taskDefinition: this.taskDefinition,
          count: Math.min(RUN_TASK_BATCH, count - ids.length),
          launchType: 'FARGATE',
          group: `service:${this.service}`,
          startedBy: 'ecs-svc/emulated',
        }),
      );
      ids.push(...(out.tasks ?? []).map((t) => taskIdOf(t.taskArn!)));
    }
    const hostnames = ids.map((id) => `oq@${id}`);
    await this.emulator.add(hostnames);
    this.hostnames.push(...hostnames);
    await this.setDesired(this.hostnames.length);
    return hostnames;
  }

  /** Sets the service's desired count directly (not through the proxy: not counted, no listener). */
  async setDesired(desiredCount: number): Promise<void> {
    await this.direct.send(
      new UpdateServiceCommand({ cluster: this.cluster, service: this.service, desiredCount }),
    );
  }

  /** Workers that were stopped while holding a task. */
  busyStopped(): string[] {
    return this.emulator.removed.filter((r) => r.busy).map((r) => r.worker);
  }

  async cleanup(): Promise<void> {
    await this.emulator.stop();
    for (const h of this.hostnames) {
      await this.direct
        .send(new StopTaskCommand({ cluster: this.cluster, task: h.slice(3) }))
        .catch(() => undefined);
    }
    await this.direct
      .send(new DeleteServiceCommand({ cluster: this.cluster, service: this.service, force: true }))
      .catch(() => undefined);
    await this.direct.send(new DeleteClusterCommand({ cluster: this.cluster })).catch(() => undefined);
    this.client.destroy();
    this.direct.destroy();
    await this.proxy.stop();
  }
}

/**
 * Moto moves a task's lastStatus straight to STOPPED on first read (its "immediate" state progression); real
 * tasks stay RUNNING until stopped. Holds them at RUNNING through moto's own API. The setting is moto-wide and
 * is left set: unsetting it would break other runs against the same server.
 */
async function motoTaskTransition(endpoint: string, action: 'set'): Promise<void> {
  const body = { model_name: 'ecs::task', transition: { progression: 'manual', times: 1_000_000_000 } };
  const res = await fetch(`${endpoint}/moto-api/state-manager/${action}-transition`, {
    method: 'POST',
    body: JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`moto state manager ${action}-transition: HTTP ${res.status}`);
}
