import { CfnOutput, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { BridgeService } from './bridge/bridge-service.ts';
import { PORTS } from '../../contract/cluster-constants.ts';
import { ClusterDashboard } from './dashboard/cluster-dashboard.ts';
import { DatabaseBackup } from './master/database-backup.ts';
import { Master, type MasterWebUi } from './master/master.ts';
import { ClusterNetwork } from './network/cluster-network.ts';
import type { OqElasticClusterProps } from './oq-elastic-cluster-props.ts';
import { resolveClusterProps, type ResolvedClusterProps } from './props/resolve-cluster-props.ts';
import { ClusterSecrets } from './secrets/cluster-secrets.ts';
import { ClusterSecurityGroups } from './security/cluster-security-groups.ts';
import { SharedDir } from './shared-dir/shared-dir.ts';
import { WorkerService } from './workers/worker-service.ts';

/** Props of {@link OqElasticStack}. */
export interface OqElasticStackProps extends StackProps {
  /** The cluster's settings (usually from CDK context). @default - every default of OqElasticClusterProps */
  readonly cluster?: OqElasticClusterProps;
  /** Use this worker image instead of building worker-image/. @default - built from worker-image/ */
  readonly workerImage?: ecs.ContainerImage;
  /** Use this bridge image instead of building bridge/Dockerfile. @default - built from bridge/Dockerfile */
  readonly bridgeImage?: ecs.ContainerImage;
}

/**
 * The whole OpenQuake celery cluster: network, shared_dir, secrets, security groups, master, elastic
 * workers, the bridge that scales them, and the dashboard. Props are validated before anything is built.
 */
export class OqElasticStack extends Stack {
  /** The validated settings, defaults filled in. */
  readonly settings: ResolvedClusterProps;
  readonly network: ClusterNetwork;
  readonly sharedDir: SharedDir;
  readonly secrets: ClusterSecrets;
  readonly securityGroups: ClusterSecurityGroups;
  readonly master: Master;
  /** The engine database's daily backup; undefined with `databaseBackup=false`. */
  readonly databaseBackup?: DatabaseBackup;
  readonly cluster: ecs.Cluster;
  readonly workers: WorkerService;
  readonly bridge: BridgeService;
  readonly dashboard: ClusterDashboard;

  constructor(scope: Construct, id: string, props: OqElasticStackProps = {}) {
    super(scope, id, props);
    const p = resolveClusterProps(props.cluster);
    this.settings = p;
    // One tag on everything, for Cost Explorer's cost allocation by cluster.
    Tags.of(this).add('oq-elastic:cluster', this.stackName);
    const logRetention = p.logRetentionDays as logs.RetentionDays;

    this.network = new ClusterNetwork(this, 'Network', {
      existingVpc: p.existingVpc,
      vpcCidr: p.vpcCidr,
      maxAzs: p.maxAzs,
      natGateways: p.natGateways,
      subnetType: p.subnetType,
      interfaceEndpoints: p.interfaceEndpoints,
      logRetention,
    });
    const { vpc, subnets } = this.network;

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

    this.secrets = new ClusterSecrets(this, 'Secrets');

    // Before the master: its CalculationsExecuting metric carries the cluster's name, like the bridge's metrics.
    this.cluster = new ecs.Cluster(this, 'Cluster', {
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

    this.dashboard = new ClusterDashboard(this, 'Dashboard', {
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

    this.addOutputs(p);
  }

  private addOutputs(p: ResolvedClusterProps): void {
    const id = this.master.instance.instanceId;
    new CfnOutput(this, 'MasterInstanceId', { value: id, description: 'EC2 instance id of the master' });
    new CfnOutput(this, 'MasterShellCommand', {
      value: `aws ssm start-session --region ${this.region} --target ${id}`,
      description: 'Open a shell on the master (Session Manager; no SSH)',
    });
    if (p.webUi) {
      // The WebUI listens on the instance's loopback unless a CIDR is given, then on its private address: the
      // tunnel forwards to whichever of the two it binds.
      const target =
        p.webUiAllowedCidr === undefined
          ? '--document-name AWS-StartPortForwardingSession --parameters ' +
            `portNumber=${PORTS.webUi},localPortNumber=${PORTS.webUi}`
          : '--document-name AWS-StartPortForwardingSessionToRemoteHost --parameters ' +
            `host=${this.master.instance.instancePrivateIp},portNumber=${PORTS.webUi},localPortNumber=${PORTS.webUi}`;
      new CfnOutput(this, 'WebUiPortForwardCommand', {
        value: `aws ssm start-session --region ${this.region} --target ${id} ${target}`,
        description:
          `Forward the WebUI to http://localhost:${PORTS.webUi} (log in as admin; the password is in the ` +
          'WebUiAdmin secret). Anything on your machine can use the tunnel while it is open.',
      });
      new CfnOutput(this, 'WebUiAdminSecretArn', {
        value: this.secrets.webUiAdmin.secretArn,
        description: 'Secrets Manager secret with the WebUI administrator password',
      });
    }
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${this.region}.console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=${this.dashboard.dashboard.dashboardName}`,
      description: 'CloudWatch dashboard of the cluster',
    });
    new CfnOutput(this, 'WorkerServiceName', { value: this.workers.service.serviceName });
    new CfnOutput(this, 'ClusterName', { value: this.cluster.clusterName });
  }
}

/** How the master serves the WebUI: bound to loopback (SSM tunnel only) unless a CIDR may reach it. */
function webUiServer(p: ResolvedClusterProps, secrets: ClusterSecrets): MasterWebUi {
  return { bind: p.webUiAllowedCidr === undefined ? 'loopback' : 'private', adminSecret: secrets.webUiAdmin };
}
