// jsii compiles without Node's types; require() is Node's (it loads the ES module package on Node.js 20.19+).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
declare const require: (id: string) => any;
import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';

/** Overrides of the price table (USD, us-east-1 on-demand by default). */
export interface PriceOverrides {
  readonly fargateX86VcpuHour?: number;
  readonly fargateX86GbHour?: number;
  readonly fargateArmVcpuHour?: number;
  readonly fargateArmGbHour?: number;
  readonly fargateSpotFactor?: number;
  readonly efsStandardGbMonth?: number;
  readonly ec2Hourly?: { [instanceType: string]: number };
}

/**
 * Props of OqElasticCluster: those of the TypeScript construct (see its JSDoc and `@default`s in the
 * repository's cdk/lib/oq-elastic-cluster.ts), in types jsii translates; `prices` is a struct instead of
 * `Partial<PriceTable>`.
 */
export interface OqElasticClusterProps {
  readonly vpc?: ec2.IVpc;
  readonly vpcSubnets?: ec2.SubnetSelection;
  readonly subnetType?: ec2.SubnetType;
  readonly vpcCidr?: string;
  readonly maxAzs?: number;
  readonly natGateways?: number;
  readonly interfaceEndpoints?: boolean;
  readonly s3GatewayEndpoint?: boolean;
  readonly logRetention?: logs.RetentionDays;
  readonly masterInstanceType?: ec2.InstanceType;
  readonly masterImageId?: string;
  readonly rabbitmqVolumeSize?: Size;
  readonly databaseVolumeSize?: Size;
  readonly masterVolumesRemovalPolicy?: RemovalPolicy;
  readonly databaseBackupRetention?: Duration;
  readonly webUi?: boolean;
  readonly webUiAllowedCidr?: string;
  readonly cluster?: ecs.ICluster;
  readonly workerArchitecture?: ecs.CpuArchitecture;
  readonly workerVcpu?: number;
  readonly workerMemory?: Size;
  readonly workerConcurrency?: number;
  readonly maxMemoryPerChild?: Size;
  readonly minWorkers?: number;
  readonly maxWorkers?: number;
  readonly workerSpot?: boolean;
  readonly workerImage?: ecs.ContainerImage;
  readonly maxStepOut?: number;
  readonly idleGrace?: Duration;
  readonly pollInterval?: Duration;
  readonly prewarmWorkers?: number;
  readonly calculationHold?: Duration;
  readonly maxHourlyCost?: number;
  readonly bridgeImage?: ecs.ContainerImage;
  readonly alarmEmail?: string;
  readonly hourlyBudget?: number;
  readonly prices?: PriceOverrides;
  readonly sharedDirRemovalPolicy?: RemovalPolicy;
}

/**
 * An OpenQuake Engine celery cluster with elastic Fargate workers: the master (EC2: RabbitMQ, DbServer, WebUI),
 * shared_dir on EFS, the workers, the bridge that scales them without stopping a busy one, and a CloudWatch
 * dashboard with alarms. The construct of the bundled oq-elastic library does the work, as the child `Default`
 * (left out of logical ids).
 */
export class OqElasticCluster extends Construct {
  /** The VPC the cluster runs in. */
  public readonly vpc: ec2.IVpc;
  /** The ECS cluster of the workers and the bridge. */
  public readonly cluster: ecs.ICluster;
  /** The Fargate service of the celery workers; its desired count belongs to the bridge. */
  public readonly workerService: ecs.FargateService;
  /** The master's EC2 instance. */
  public readonly masterInstance: ec2.Instance;
  /** The EFS file system of shared_dir. */
  public readonly fileSystem: efs.FileSystem;
  /** The CloudWatch dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** The SNS topic every alarm notifies. */
  public readonly alarmTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: OqElasticClusterProps = {}) {
    super(scope, id);
    // The implementation is the ES module package; Node.js 20.19+ loads it with require().
    const lib = require('oq-elastic');
    const inner = new lib.OqElasticCluster(this, 'Default', props);
    this.vpc = inner.vpc;
    this.cluster = inner.cluster;
    this.workerService = inner.workerService;
    this.masterInstance = inner.masterInstance;
    this.fileSystem = inner.fileSystem;
    this.dashboard = inner.dashboard;
    this.alarmTopic = inner.alarmTopic;
  }
}
