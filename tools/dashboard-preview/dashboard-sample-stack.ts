import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as efs from 'aws-cdk-lib/aws-efs';
import { DEFAULT_PRICES } from '../../contract/prices.ts';
import { ClusterDashboard, type ClusterDashboardProps } from '../../cdk/lib/dashboard/cluster-dashboard.ts';

/** Props of the sample stack: any dashboard prop except the resources, which the sample creates. */
export type SampleDashboardOptions = Partial<
  Omit<ClusterDashboardProps, 'cluster' | 'workerService' | 'bridgeService' | 'master' | 'fileSystem'>
>;

/**
 * A small stack with just what the dashboard watches (a VPC, an ECS cluster with two Fargate services, an EC2
 * master and an EFS file system) and the dashboard itself: the fixture of the dashboard's tests and the
 * source of the preview (scripts/preview-dashboard.ts), so both see exactly what a deployment would get.
 */
export function buildDashboardSampleStack(options: SampleDashboardOptions = {}): {
  stack: Stack;
  dashboard: ClusterDashboard;
} {
  const app = new App();
  const stack = new Stack(app, 'DashboardSample', { env: { account: '123456789012', region: 'us-east-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const cluster = new ecs.Cluster(stack, 'Cluster', { vpc, clusterName: 'oqe-sample' });
  const service = (id: string, serviceName: string) => {
    const taskDefinition = new ecs.FargateTaskDefinition(stack, `${id}Task`, {
      cpu: 2048,
      memoryLimitMiB: 8192,
    });
    taskDefinition.addContainer('main', { image: ecs.ContainerImage.fromRegistry('sample/worker:1') });
    return new ecs.FargateService(stack, id, {
      cluster,
      taskDefinition,
      serviceName,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    });
  };
  const instanceType = options.masterInstanceType ?? 'm7i.large';
  const master = new ec2.Instance(stack, 'Master', {
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
    instanceType: new ec2.InstanceType(instanceType),
    machineImage: ec2.MachineImage.latestAmazonLinux2023(),
  });
  const fileSystem = new efs.FileSystem(stack, 'SharedDir', {
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
  });
  const dashboard = new ClusterDashboard(stack, 'ClusterDashboard', {
    cluster,
    workerService: service('Workers', 'oqe-sample-workers'),
    bridgeService: service('Bridge', 'oqe-sample-bridge'),
    master,
    masterInstanceType: instanceType,
    fileSystem,
    workerCpuArchitecture: 'x86_64',
    workerVcpu: 2,
    workerMemoryGiB: 8,
    workerSpot: false,
    prices: DEFAULT_PRICES,
    ...options,
  });
  return { stack, dashboard };
}
