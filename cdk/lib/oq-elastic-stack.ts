import { CfnOutput, Duration, RemovalPolicy, Size, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { PORTS } from '../../contract/cluster-constants.ts';
import { OqElasticCluster, type OqElasticClusterProps } from './oq-elastic-cluster.ts';
import type { ClusterSettings } from './props/cluster-settings.ts';
import { resolveClusterProps, type ResolvedClusterProps } from './props/resolve-cluster-props.ts';

/** Props of {@link OqElasticStack}. */
export interface OqElasticStackProps extends StackProps {
  /** The cluster's settings (usually from CDK context). @default - every default of ClusterSettings */
  readonly cluster?: ClusterSettings;
  /** Use this worker image instead of building worker-image/. @default - built from worker-image/ */
  readonly workerImage?: ecs.ContainerImage;
  /** Use this bridge image instead of building bridge/image/. @default - built from the bundled bridge */
  readonly bridgeImage?: ecs.ContainerImage;
}

/**
 * The repository's app: one {@link OqElasticCluster} in a stack of its own, its props mapped from the settings
 * of CDK context, and the outputs an operator needs (SSM shell and WebUI forwarding, dashboard, names).
 */
export class OqElasticStack extends Stack {
  /** The validated settings, defaults filled in. */
  readonly settings: ResolvedClusterProps;
  readonly cluster: OqElasticCluster;

  constructor(scope: Construct, id: string, props: OqElasticStackProps = {}) {
    super(scope, id, props);
    // Validated here first, so that a bad context value is named as the user wrote it.
    const s = resolveClusterProps(props.cluster);
    this.settings = s;
    Tags.of(this).add('oq-elastic:cluster', this.stackName);
    // "Default" is left out of logical ids: every resource keeps the id it had when this stack held the body
    // itself, so updating a deployed cluster replaces nothing.
    this.cluster = new OqElasticCluster(this, 'Default', {
      ...this.clusterProps(s),
      workerImage: props.workerImage,
      bridgeImage: props.bridgeImage,
    });
    this.addOutputs(s);
  }

  /** The construct's props from the resolved settings (CDK types; an existing VPC imported from its ids). */
  private clusterProps(s: ResolvedClusterProps): OqElasticClusterProps {
    const days = (n: number | undefined): Duration | undefined =>
      n === undefined ? undefined : Duration.days(n);
    const gib = (n: number | undefined): Size | undefined =>
      n === undefined ? undefined : Size.gibibytes(n);
    return {
      ...this.networkProps(s),
      subnetType:
        s.subnetType === 'PRIVATE_ISOLATED'
          ? ec2.SubnetType.PRIVATE_ISOLATED
          : ec2.SubnetType.PRIVATE_WITH_EGRESS,
      interfaceEndpoints: s.interfaceEndpoints,
      logRetention: s.logRetentionDays as logs.RetentionDays,
      masterInstanceType: new ec2.InstanceType(s.masterInstanceType),
      masterImageId: s.masterImageId,
      rabbitmqVolumeSize: gib(s.rabbitmqVolumeGiB),
      databaseVolumeSize: gib(s.databaseVolumeGiB),
      masterVolumesRemovalPolicy: s.retainMasterVolumes ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      databaseBackupRetention: days(s.databaseBackupRetentionDays) ?? Duration.days(0),
      webUi: s.webUi,
      webUiAllowedCidr: s.webUiAllowedCidr,
      workerArchitecture:
        s.workerArchitecture === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
      workerVcpu: s.workerVcpu,
      workerMemory: Size.mebibytes(Math.round(s.workerMemoryGiB * 1024)),
      workerConcurrency: s.workerConcurrency,
      maxMemoryPerChild:
        s.maxMemoryPerChildKb === undefined ? undefined : Size.kibibytes(s.maxMemoryPerChildKb),
      minWorkers: s.minWorkers,
      maxWorkers: s.maxWorkers,
      workerSpot: s.workerSpot,
      maxStepOut: s.maxStepOut,
      idleGrace: Duration.seconds(s.idleGraceSeconds),
      pollInterval: Duration.seconds(s.pollSeconds),
      prewarmWorkers: s.bridge.prewarmWorkers,
      calculationHold:
        s.bridge.calculationHoldSeconds === undefined
          ? undefined
          : Duration.seconds(s.bridge.calculationHoldSeconds),
      maxHourlyCost: s.maxHourlyCost,
      alarmEmail: s.alarmEmail,
      hourlyBudget: s.hourlyBudget,
      prices: s.prices,
      sharedDirRemovalPolicy: s.retainSharedDir ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    };
  }

  /**
   * A new VPC's shape, or the existing VPC imported from its attributes (never `Vpc.fromLookup`: synth works
   * offline, without credentials). The import sits at `Network/Vpc`, where the cluster's network construct
   * imported it before, so the endpoints added to it keep their logical ids.
   */
  private networkProps(s: ResolvedClusterProps): Partial<OqElasticClusterProps> {
    const e = s.existingVpc;
    if (e === undefined) return { vpcCidr: s.vpcCidr, maxAzs: s.maxAzs, natGateways: s.natGateways };
    const vpc = ec2.Vpc.fromVpcAttributes(new Construct(this, 'Network'), 'Vpc', {
      vpcId: e.vpcId,
      availabilityZones: [...e.availabilityZones],
      privateSubnetIds: [...e.privateSubnetIds],
      privateSubnetRouteTableIds: e.privateSubnetRouteTableIds
        ? [...e.privateSubnetRouteTableIds]
        : undefined,
    });
    // Imported private subnets are registered as PRIVATE_WITH_EGRESS; an S3 endpoint needs their route tables.
    return {
      vpc,
      vpcSubnets: { subnets: vpc.privateSubnets },
      s3GatewayEndpoint: e.privateSubnetRouteTableIds !== undefined,
    };
  }

  private addOutputs(s: ResolvedClusterProps): void {
    const id = this.cluster.masterInstance.instanceId;
    new CfnOutput(this, 'MasterInstanceId', { value: id, description: 'EC2 instance id of the master' });
    new CfnOutput(this, 'MasterShellCommand', {
      value: `aws ssm start-session --region ${this.region} --target ${id}`,
      description: 'Open a shell on the master (Session Manager; no SSH)',
    });
    if (s.webUi) {
      // The WebUI listens on the instance's loopback unless a CIDR is given, then on its private address: the
      // tunnel forwards to whichever of the two it binds.
      const target =
        s.webUiAllowedCidr === undefined
          ? '--document-name AWS-StartPortForwardingSession --parameters ' +
            `portNumber=${PORTS.webUi},localPortNumber=${PORTS.webUi}`
          : '--document-name AWS-StartPortForwardingSessionToRemoteHost --parameters ' +
            `host=${this.cluster.masterInstance.instancePrivateIp},portNumber=${PORTS.webUi},localPortNumber=${PORTS.webUi}`;
      new CfnOutput(this, 'WebUiPortForwardCommand', {
        value: `aws ssm start-session --region ${this.region} --target ${id} ${target}`,
        description:
          `Forward the WebUI to http://localhost:${PORTS.webUi} (log in as admin; the password is in the ` +
          'WebUiAdmin secret). Anything on your machine can use the tunnel while it is open.',
      });
      new CfnOutput(this, 'WebUiAdminSecretArn', {
        value: this.cluster.secrets.webUiAdmin.secretArn,
        description: 'Secrets Manager secret with the WebUI administrator password',
      });
    }
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.cluster.dashboard.dashboardName}`,
      description: 'CloudWatch dashboard of the cluster',
    });
    new CfnOutput(this, 'WorkerServiceName', { value: this.cluster.workerService.serviceName });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.cluster.clusterName });
  }
}
