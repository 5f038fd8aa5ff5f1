import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';

/** Where a cluster's Fargate service runs: the cluster, its private subnets and the service's security group. */
export interface PrivateFargatePlacement {
  readonly cluster: ecs.ICluster;
  readonly subnets: ec2.SubnetSelection;
  readonly securityGroup: ec2.ISecurityGroup;
}

/** How one service deploys and scales: what differs between the bridge and the workers. */
export type FargateServiceDeployment = Pick<
  ecs.FargateServiceProps,
  'desiredCount' | 'minHealthyPercent' | 'maxHealthyPercent' | 'propagateTags' | 'capacityProviderStrategies'
>;

/**
 * A Fargate service (construct id `Service`) as every service of the cluster runs: in private subnets with no
 * public address (they reach only the master and AWS), on platform 1.4.0 (the first with EFS volumes, which the
 * workers mount), and with the deployment circuit breaker rolling back a
 * deployment whose tasks never become healthy.
 */
export function privateFargateService(
  scope: Construct,
  placement: PrivateFargatePlacement,
  taskDefinition: ecs.FargateTaskDefinition,
  deployment: FargateServiceDeployment,
): ecs.FargateService {
  return new ecs.FargateService(scope, 'Service', {
    cluster: placement.cluster,
    taskDefinition,
    vpcSubnets: placement.subnets,
    securityGroups: [placement.securityGroup],
    assignPublicIp: false,
    platformVersion: ecs.FargatePlatformVersion.VERSION1_4,
    circuitBreaker: { enable: true, rollback: true },
    ...deployment,
  });
}
