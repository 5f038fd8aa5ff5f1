import { App, Duration, RemovalPolicy, Size, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { describe, expect, it } from 'vitest';
import { OqElasticCluster, type OqElasticClusterProps } from '../../cdk/lib/oq-elastic-cluster.ts';
import { OqElasticStack } from '../../cdk/lib/oq-elastic-stack.ts';

/** A user's own stack with a VPC and an ECS cluster of its own, as the construct is meant to be used. */
function ownStack(props: (vpc: ec2.Vpc, cluster: ecs.Cluster) => OqElasticClusterProps): {
  stack: Stack;
  oq: OqElasticCluster;
  template: Template;
} {
  const stack = new Stack(new App(), 'Own');
  const vpc = new ec2.Vpc(stack, 'TeamVpc', { maxAzs: 2, natGateways: 1 });
  const cluster = new ecs.Cluster(stack, 'TeamCluster', { vpc });
  const oq = new OqElasticCluster(stack, 'OpenQuake', props(vpc, cluster));
  return { stack, oq, template: Template.fromStack(stack) };
}

function bridgeEnvironment(template: Template): Record<string, string> {
  const defs = Object.values(template.findResources('AWS::ECS::TaskDefinition')).flatMap(
    (t) =>
      t.Properties.ContainerDefinitions as {
        Name: string;
        Environment: { Name: string; Value: unknown }[];
      }[],
  );
  const bridge = defs.find((d) => d.Name === 'Bridge')!;
  return Object.fromEntries(bridge.Environment.map((e) => [e.Name, String(e.Value)]));
}

function thrownBy(build: () => unknown): string {
  try {
    build();
  } catch (error) {
    return (error as Error).message;
  }
  return '';
}

describe('OqElasticCluster in a stack of its own', () => {
  it('runs in the given VPC and ECS cluster, creating neither, with CDK-typed props mapped through', () => {
    const { stack, oq, template } = ownStack((vpc, cluster) => ({
      vpc,
      cluster,
      workerArchitecture: ecs.CpuArchitecture.ARM64,
      workerVcpu: 2,
      workerMemory: Size.gibibytes(8),
      maxMemoryPerChild: Size.mebibytes(3),
      idleGrace: Duration.minutes(3),
      pollInterval: Duration.seconds(2),
      prewarmWorkers: 3,
      calculationHold: Duration.minutes(20),
      masterInstanceType: ec2.InstanceType.of(ec2.InstanceClass.M7G, ec2.InstanceSize.LARGE),
      databaseBackupRetention: Duration.days(7),
    }));
    template.resourceCountIs('AWS::EC2::VPC', 1);
    template.resourceCountIs('AWS::ECS::Cluster', 1);
    const teamCluster = stack.getLogicalId(stack.node.findChild('TeamCluster').node.defaultChild as never);
    template.allResourcesProperties('AWS::ECS::Service', { Cluster: { Ref: teamCluster } });
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '2048',
      Memory: '8192',
      RuntimePlatform: { CpuArchitecture: 'ARM64' },
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'Worker',
          Environment: Match.arrayWith([{ Name: 'OQ_MAX_MEMORY_PER_CHILD_KB', Value: '3072' }]),
        }),
      ],
    });
    expect(bridgeEnvironment(template)).toMatchObject({
      OQE_IDLE_GRACE_SECONDS: '180',
      OQE_POLL_SECONDS: '2',
    });
    template.hasResourceProperties('AWS::EC2::Instance', { InstanceType: 'm7g.large' });
    expect(oq.settings.masterArchitecture).toBe('arm64');
    template.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: { BackupPlanRule: [Match.objectLike({ Lifecycle: { DeleteAfterDays: 7 } })] },
    });
    // A given VPC gets no endpoints unless asked: it may have its own, and S3 takes one per route table.
    template.resourceCountIs('AWS::EC2::VPCEndpoint', 0);
  });

  it('exposes the parts a user wires further, as the resources in the template', () => {
    const { stack, oq, template } = ownStack((vpc) => ({ vpc }));
    const id = (c: { node: { defaultChild?: unknown } }): string =>
      stack.getLogicalId(c.node.defaultChild as never);
    expect(template.findResources('AWS::ECS::Service')[id(oq.workerService)]).toBeDefined();
    expect(template.findResources('AWS::EC2::Instance')[id(oq.masterInstance)]).toBeDefined();
    expect(template.findResources('AWS::EFS::FileSystem')[id(oq.fileSystem)]).toBeDefined();
    expect(template.findResources('AWS::CloudWatch::Dashboard')[id(oq.dashboard)]).toBeDefined();
    expect(template.findResources('AWS::SNS::Topic')[id(oq.alarmTopic)]).toBeDefined();
    expect(oq.vpc).toBe(stack.node.findChild('TeamVpc'));
  });

  it('rejects conflicting or inexpressible props, naming the prop the user set', () => {
    expect(thrownBy(() => ownStack((vpc) => ({ vpc, vpcCidr: '10.1.0.0/16' })))).toMatch(
      /invalid prop vpcCidr="10.1.0.0\/16": it shapes a new VPC and conflicts with vpc/,
    );
    expect(
      thrownBy(() =>
        ownStack((vpc) => {
          const elsewhere = new ec2.Vpc(vpc.stack, 'OtherVpc', { maxAzs: 1 });
          return { vpc, cluster: new ecs.Cluster(vpc.stack, 'OtherCluster', { vpc: elsewhere }) };
        }),
      ),
    ).toMatch(/invalid prop cluster=.*: it is not in the given vpc/);
    expect(thrownBy(() => ownStack((vpc) => ({ vpc, idleGrace: Duration.millis(1500) })))).toMatch(
      /invalid prop idleGraceSeconds=1\.5: .*\(OqElasticCluster prop: idleGrace\)$/,
    );
    expect(
      thrownBy(() => ownStack((vpc) => ({ vpc, workerVcpu: 2, workerMemory: Size.gibibytes(32) }))),
    ).toMatch(
      /invalid prop workerMemoryGiB=32: Fargate does not offer 32 GiB with workerVcpu=2.*\(OqElasticCluster prop: workerMemory\)$/,
    );
    expect(
      thrownBy(() => ownStack((vpc) => ({ vpc, sharedDirRemovalPolicy: RemovalPolicy.SNAPSHOT }))),
    ).toMatch(/invalid prop sharedDirRemovalPolicy="snapshot": use RemovalPolicy.RETAIN/);
    expect(thrownBy(() => ownStack((vpc) => ({ vpc, subnetType: ec2.SubnetType.PUBLIC })))).toMatch(
      /invalid prop subnetType="Public"/,
    );
  });
});

describe("the app's stack: a thin wrapper over OqElasticCluster", () => {
  // Regression: moving the body into the construct must not change a logical id (a changed id replaces the
  // resource on the next deploy: a new master, a new, empty shared_dir).
  it('keeps the logical ids the stack had when it held the body itself', () => {
    const ids = (cluster: ConstructorParameters<typeof OqElasticStack>[2]): string[] =>
      Object.keys(Template.fromStack(new OqElasticStack(new App(), 'T', cluster)).toJSON().Resources);
    expect(ids({})).toEqual(
      expect.arrayContaining([
        'MasterInstanceCE83416F',
        'SharedDirFileSystem907C0B8C',
        'NetworkVpc7FB7348F',
        'NetworkVpcS334FC449B',
        'WorkersService06F7B0BF',
        'ClusterEB0386A7',
      ]),
    );
    const existing = ids({
      cluster: {
        existingVpc: {
          vpcId: 'vpc-0123456789abcdef0',
          availabilityZones: ['eu-west-1a', 'eu-west-1b'],
          privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
          privateSubnetRouteTableIds: ['rtb-0123456789abcdef0', 'rtb-0123456789abcdef1'],
        },
      },
    });
    expect(existing).toEqual(expect.arrayContaining(['NetworkVpcS334FC449B', 'NetworkFlowLog0C7D188B']));
  });
});
