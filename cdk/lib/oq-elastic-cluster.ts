import { Stack, Tags, type Duration, type RemovalPolicy, type Size } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type * as efs from 'aws-cdk-lib/aws-efs';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PORTS } from '../../contract/cluster-constants.ts';
import type { PriceTable } from '../../contract/prices.ts';
import { BridgeService } from './bridge/bridge-service.ts';
import { ClusterDashboard } from './dashboard/cluster-dashboard.ts';
import { DatabaseBackup } from './master/database-backup.ts';
import { Master, type MasterWebUi } from './master/master.ts';
import { ClusterNetwork } from './network/cluster-network.ts';
import { namingConstructProp, settingsFromClusterProps } from './props/cluster-props-to-settings.ts';
import { resolveClusterProps, type ResolvedClusterProps } from './props/resolve-cluster-props.ts';
import { ClusterSecrets } from './secrets/cluster-secrets.ts';
import { ClusterSecurityGroups } from './security/cluster-security-groups.ts';
import { SharedDir } from './shared-dir/shared-dir.ts';
import { WorkerService } from './workers/worker-service.ts';

/**
 * Props of {@link OqElasticCluster}. Every one is optional: `new OqElasticCluster(this, 'OpenQuake')` builds a
 * whole cluster in a VPC of its own. They are validated once, in the constructor, before anything is built; a
 * bad value throws an error naming the prop, the value and the fix.
 */
export interface OqElasticClusterProps {
  // ----- network -----
  /**
   * The VPC to run in. Its private subnets need a route to the internet (NAT) unless `subnetType` is
   * PRIVATE_ISOLATED. The cluster adds a flow log to it, and endpoints only where `interfaceEndpoints` /
   * `s3GatewayEndpoint` say so.
   * @default - the VPC of `cluster` when given, otherwise a new VPC (public subnets for NAT only, private subnets)
   */
  readonly vpc?: ec2.IVpc;
  /**
   * The subnets, inside `vpc`, of the master, the workers, the bridge and the EFS mount targets.
   * @default - the subnets of `subnetType`
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /**
   * Subnet type of the cluster: PRIVATE_WITH_EGRESS or PRIVATE_ISOLATED (never public).
   * @default ec2.SubnetType.PRIVATE_WITH_EGRESS
   */
  readonly subnetType?: ec2.SubnetType;
  /** CIDR block of a new VPC; conflicts with `vpc`. @default '10.80.0.0/16' */
  readonly vpcCidr?: string;
  /** Availability zones of a new VPC, 1 or 2; conflicts with `vpc`. @default 2 */
  readonly maxAzs?: number;
  /** NAT gateways of a new VPC; conflicts with `vpc`. @default 1 */
  readonly natGateways?: number;
  /**
   * Interface endpoints for ECR, CloudWatch Logs and Secrets Manager (with PRIVATE_ISOLATED also SSM, ECS,
   * CloudWatch and EFS). About USD 7 a month per endpoint and AZ.
   * @default - true for a new VPC, false for a given `vpc` (it may already have them)
   */
  readonly interfaceEndpoints?: boolean;
  /**
   * The (free) S3 gateway endpoint on the route tables of the cluster's subnets; a VPC accepts only one per
   * route table, so leave it off where one exists.
   * @default - true for a new VPC, false for a given `vpc`
   */
  readonly s3GatewayEndpoint?: boolean;
  /** How long flow logs and container logs are kept. @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;

  // ----- master -----
  /** EC2 instance type of the master; Graviton types run the arm64 image. @default m7i.large */
  readonly masterInstanceType?: ec2.InstanceType;
  /**
   * An explicit AMI id (Ubuntu 24.04, of the instance type's architecture). Setting or changing it replaces the
   * master (docs/master.md, "Moving the master to a newer image").
   * @default - Canonical's current Ubuntu 24.04 image, resolved when the instance launches
   */
  readonly masterImageId?: string;
  /** Size of the master's RabbitMQ EBS volume, whole GiB. @default Size.gibibytes(20) */
  readonly rabbitmqVolumeSize?: Size;
  /** Size of the master's engine-database EBS volume, whole GiB. @default Size.gibibytes(20) */
  readonly databaseVolumeSize?: Size;
  /** What happens to the master's RabbitMQ and database volumes when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly masterVolumesRemovalPolicy?: RemovalPolicy;
  /**
   * Keep daily AWS Backup recovery points of the engine database this long (whole days); `Duration.days(0)`
   * turns the backup off.
   * @default Duration.days(35)
   */
  readonly databaseBackupRetention?: Duration;
  /**
   * Run the WebUI/API on the master (port 8800, locked down, reached by SSM port forwarding); off by default: it
   * runs, aborts and deletes calculations for whoever reaches it.
   * @default false
   */
  readonly webUi?: boolean;
  /**
   * A CIDR (your office or VPN; a /8 at the widest) admitted to the WebUI on 8800; needs `webUi`.
   * @default - no network access; the WebUI listens on the master's loopback, for the SSM tunnel only
   */
  readonly webUiAllowedCidr?: string;

  // ----- workers -----
  /**
   * Run the workers and the bridge in this ECS cluster (in `vpc`). With `workerSpot`, it must have the
   * FARGATE_SPOT capacity provider.
   * @default - a new cluster with Container Insights
   */
  readonly cluster?: ecs.ICluster;
  /** CPU architecture of the worker tasks (ARM64 is about 20 % cheaper per hour). @default ecs.CpuArchitecture.X86_64 */
  readonly workerArchitecture?: ecs.CpuArchitecture;
  /** vCPUs of one worker task (a Fargate size: 0.25, 0.5, 1, 2, 4, 8, 16). @default 4 */
  readonly workerVcpu?: number;
  /** Memory of one worker task, a size Fargate offers for `workerVcpu`. @default - 4 GiB per vCPU */
  readonly workerMemory?: Size;
  /** Celery worker processes per task. @default - the task's vCPUs (at least 1) */
  readonly workerConcurrency?: number;
  /** Celery `--max-memory-per-child`, whole KiB. @default - unlimited */
  readonly maxMemoryPerChild?: Size;
  /** Fewest workers the bridge keeps. @default 0 */
  readonly minWorkers?: number;
  /** Most workers the bridge starts; also the master's `[distribution] num_cores`. @default 10 */
  readonly maxWorkers?: number;
  /**
   * Fargate Spot (x86 only). A reclaimed task's celery tasks are re-run and the engine may receive their partial
   * results twice: opt in only if you accept that.
   * @default false
   */
  readonly workerSpot?: boolean;
  /** Use this worker image. @default - built at deploy time from the package's worker-image/ */
  readonly workerImage?: ecs.ContainerImage;

  // ----- bridge -----
  /** Most workers added in one scaling step. @default 10 */
  readonly maxStepOut?: number;
  /** How long a worker stays idle before the bridge retires it, whole seconds. @default Duration.seconds(120) */
  readonly idleGrace?: Duration;
  /**
   * Workers launched when the master reports a calculation started (pre-processing, nothing queued yet), so that
   * they are up when its first tasks arrive; 0 turns pre-warming off.
   * @default 2
   */
  readonly prewarmWorkers?: number;
  /**
   * The longest idle workers are kept for a calculation that is starting or between two phases, whole seconds.
   * @default Duration.seconds(900)
   */
  readonly calculationHold?: Duration;
  /** Time between two observations of the bridge, whole seconds. @default Duration.seconds(5) */
  readonly pollInterval?: Duration;
  /** The bridge never scales out beyond this estimated spend per hour (USD). @default - no cap */
  readonly maxHourlyCost?: number;
  /** Use this bridge image. @default - built at deploy time from the package's bundled bridge (arm64) */
  readonly bridgeImage?: ecs.ContainerImage;

  // ----- dashboard and cost -----
  /** E-mail address subscribed to the alarm topic. @default - no subscription */
  readonly alarmEmail?: string;
  /** Alarm when the estimated spend per hour exceeds this (USD). @default - no budget alarm */
  readonly hourlyBudget?: number;
  /** Overrides of the price table (USD). @default - DEFAULT_PRICES (us-east-1, on-demand) */
  readonly prices?: Partial<PriceTable>;

  // ----- data -----
  /** What happens to the EFS shared_dir (inputs and outputs) when the stack is deleted. @default RemovalPolicy.RETAIN */
  readonly sharedDirRemovalPolicy?: RemovalPolicy;
}

/**
 * An OpenQuake Engine celery cluster with elastic Fargate workers: the master (EC2: RabbitMQ, DbServer,
 * WebUI), shared_dir on EFS, generated credentials, the workers, the bridge that scales them by the work in
 * flight without ever stopping a busy one, and a CloudWatch dashboard with alarms. Add it to any stack.
 */
export class OqElasticCluster extends Construct {
  /** The validated settings, every default filled in. */
  readonly settings: ResolvedClusterProps;
  /** The VPC the cluster runs in. */
  readonly vpc: ec2.IVpc;
  /** The ECS cluster of the workers and the bridge. */
  readonly cluster: ecs.ICluster;
  /** The Fargate service of the celery workers; its desired count belongs to the bridge. */
  readonly workerService: ecs.FargateService;
  /** The master's EC2 instance. */
  readonly masterInstance: ec2.Instance;
  /** The EFS file system of shared_dir. */
  readonly fileSystem: efs.FileSystem;
  /** The CloudWatch dashboard. */
  readonly dashboard: cloudwatch.Dashboard;
  /** The SNS topic every alarm notifies; subscribe your own endpoints to it. */
  readonly alarmTopic: sns.ITopic;

  /** The parts, for wiring further. */
  readonly network: ClusterNetwork;
  readonly sharedDir: SharedDir;
  readonly secrets: ClusterSecrets;
  readonly securityGroups: ClusterSecurityGroups;
  readonly master: Master;
  /** The engine database's daily backup; undefined when the backup is off. */
  readonly databaseBackup?: DatabaseBackup;
  readonly workers: WorkerService;
  readonly bridge: BridgeService;
  readonly monitoring: ClusterDashboard;

  constructor(scope: Construct, id: string, props: OqElasticClusterProps = {}) {
    super(scope, id);
    let p: ResolvedClusterProps;
    try {
      p = resolveClusterProps(settingsFromClusterProps(props));
    } catch (error) {
      throw namingConstructProp(error);
    }
    this.settings = p;
    // One tag on everything, for Cost Explorer's cost allocation by cluster.
    Tags.of(this).add('oq-elastic:cluster', Stack.of(this).stackName);
    const logRetention = p.logRetentionDays as logs.RetentionDays;

    this.network = new ClusterNetwork(this, 'Network', {
      vpc: props.vpc ?? props.cluster?.vpc,
      vpcSubnets: props.vpcSubnets,
      vpcCidr: p.vpcCidr,
      maxAzs: p.maxAzs,
      natGateways: p.natGateways,
      subnetType: p.subnetType,
      interfaceEndpoints: p.interfaceEndpoints,
      s3GatewayEndpoint: props.s3GatewayEndpoint ?? (props.vpc ?? props.cluster) === undefined,
      logRetention,
    });
    const { vpc, subnets } = this.network;
    this.vpc = vpc;

    this.securityGroups = new ClusterSecurityGroups(this, 'SecurityGroups', {
      vpc,
      webUiAllowedCidr: p.webUiAllowedCidr,
    });
    const sg = this.securityGroups;
    this.network.allowEndpointsFrom(sg.master, sg.workers, sg.bridge);

    this.sharedDir = new SharedDir(this, 'SharedDir', { vpc, subnets, retain: p.retainSharedDir });
    this.sharedDir.allowNfsFrom(sg.master, 'NFS from the master (read-write)');
    this.sharedDir.allowNfsFrom(sg.workers, 'NFS from the workers (read-only)');
    sg.workers.addEgressRule(this.sharedDir.securityGroup, ec2.Port.tcp(PORTS.nfs), 'NFS to shared_dir');
    this.fileSystem = this.sharedDir.fileSystem;

    this.secrets = new ClusterSecrets(this, 'Secrets');

    // Before the master: its CalculationsExecuting metric carries the cluster's name, like the bridge's metrics.
    this.cluster =
      props.cluster ??
      new ecs.Cluster(this, 'Cluster', {
        vpc,
        containerInsightsV2: ecs.ContainerInsights.ENABLED,
        enableFargateCapacityProviders: p.workerSpot,
      });

    this.master = new Master(this, 'Master', {
      vpc,
      vpcSubnets: subnets,
      securityGroup: sg.master,
      instanceType: new ec2.InstanceType(p.masterInstanceType),
      architecture: p.masterArchitecture,
      fileSystem: this.sharedDir.fileSystem,
      accessPoint: this.sharedDir.accessPoint,
      brokerSecret: this.secrets.broker,
      workerBrokerSecret: this.secrets.workerBroker,
      bridgeBrokerSecret: this.secrets.bridgeBroker,
      dbserverAuthkeySecret: this.secrets.dbserverAuthkey,
      numCores: p.numCores,
      webUi: p.webUi,
      webUiServer: webUiServer(p, this.secrets),
      rabbitmqVolumeGiB: p.rabbitmqVolumeGiB,
      databaseVolumeGiB: p.databaseVolumeGiB,
      metricsClusterName: this.cluster.clusterName,
      imageId: p.masterImageId,
      retainDataVolumes: p.retainMasterVolumes,
    });
    this.masterInstance = this.master.instance;
    if (p.databaseBackupRetentionDays !== undefined) {
      this.databaseBackup = new DatabaseBackup(this, 'DatabaseBackup', {
        volume: this.master.dataVolumes.database,
        retentionDays: p.databaseBackupRetentionDays,
      });
    }
    const masterHost = this.master.instance.instancePrivateIp;

    this.workers = new WorkerService(this, 'Workers', {
      cluster: this.cluster,
      subnets,
      securityGroup: sg.workers,
      architecture: p.workerArchitecture,
      vcpu: p.workerVcpu,
      memoryGiB: p.workerMemoryGiB,
      concurrency: p.workerConcurrency,
      maxMemoryPerChildKb: p.maxMemoryPerChildKb,
      initialDesiredCount: p.minWorkers,
      spot: p.workerSpot,
      masterHost,
      fileSystem: this.sharedDir.fileSystem,
      accessPoint: this.sharedDir.accessPoint,
      brokerSecret: this.secrets.workerBroker,
      dbserverAuthkeySecret: this.secrets.dbserverAuthkey,
      logRetention,
      image: props.workerImage,
    });
    this.workerService = this.workers.service;

    this.bridge = new BridgeService(this, 'Bridge', {
      cluster: this.cluster,
      subnets,
      securityGroup: sg.bridge,
      workerService: this.workers.service,
      workerSubnetIds: vpc.selectSubnets(subnets).subnetIds,
      fileSystem: this.sharedDir.fileSystem,
      bridgeBrokerSecret: this.secrets.bridgeBroker,
      masterHost,
      settings: p.bridge,
      logRetention,
      image: props.bridgeImage,
    });

    // The bridge starts scaling only after the create-time initializer has set the minimum, never before it.
    this.bridge.service.node.addDependency(this.workers.initialDesiredCount);

    this.monitoring = new ClusterDashboard(this, 'Dashboard', {
      cluster: this.cluster,
      workerService: this.workers.service,
      bridgeService: this.bridge.service,
      master: this.master.instance,
      masterInstanceType: p.masterInstanceType,
      fileSystem: this.sharedDir.fileSystem,
      workerCpuArchitecture: p.workerArchitecture,
      workerVcpu: p.workerVcpu,
      workerMemoryGiB: p.workerMemoryGiB,
      workerSpot: p.workerSpot,
      prices: p.prices,
      alarmEmail: p.alarmEmail,
      hourlyBudget: p.hourlyBudget,
    });
    this.dashboard = this.monitoring.dashboard;
    this.alarmTopic = this.monitoring.alarmTopic;
  }
}

/** How the master serves the WebUI: bound to loopback (SSM tunnel only) unless a CIDR may reach it. */
function webUiServer(p: ResolvedClusterProps, secrets: ClusterSecrets): MasterWebUi {
  return { bind: p.webUiAllowedCidr === undefined ? 'loopback' : 'private', adminSecret: secrets.webUiAdmin };
}
