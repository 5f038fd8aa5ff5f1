/**
 * A throw-away ECS cluster and worker service on the AWS API emulator (moto), uniquely named so that parallel
 * runs never collide. Moto's services create no task records for their desired count: the benchmark reads
 * only the desired count, which is what the bridge's scale-out call changes.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  DeleteClusterCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';

export interface MotoEcsService {
  readonly client: ECSClient;
  readonly cluster: string;
  readonly service: string;
  desiredCount(): Promise<number>;
  setDesired(n: number): Promise<void>;
  cleanup(): Promise<void>;
}

export async function createMotoEcsService(endpoint: string, prefix = 'oqe-bench'): Promise<MotoEcsService> {
  const suffix = randomBytes(4).toString('hex');
  const client = new ECSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const cluster = `${prefix}-${suffix}`;
  const service = `${prefix}-workers-${suffix}`;
  await client.send(new CreateClusterCommand({ clusterName: cluster }));
  const td = await client.send(
    new RegisterTaskDefinitionCommand({
      family: `${prefix}-worker-${suffix}`,
      containerDefinitions: [{ name: 'worker', image: 'oq-worker:bench', memory: 512, essential: true }],
    }),
  );
  await client.send(
    new CreateServiceCommand({
      cluster,
      serviceName: service,
      taskDefinition: td.taskDefinition!.taskDefinitionArn!,
      desiredCount: 0,
    }),
  );
  return {
    client,
    cluster,
    service,
    desiredCount: async () => {
      const d = await client.send(new DescribeServicesCommand({ cluster, services: [service] }));
      return d.services?.[0]?.desiredCount ?? -1;
    },
    setDesired: async (n) => {
      await client.send(new UpdateServiceCommand({ cluster, service, desiredCount: n }));
    },
    cleanup: async () => {
      await client.send(new DeleteServiceCommand({ cluster, service, force: true })).catch(() => undefined);
      await client.send(new DeleteClusterCommand({ cluster })).catch(() => undefined);
      client.destroy();
    },
  };
}
