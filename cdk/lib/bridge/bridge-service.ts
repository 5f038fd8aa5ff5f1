import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Arn, ArnFormat, CfnResource, Fn, Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { scalingSettingsEnvironment, type BridgeScalingSettings } from '../../../contract/bridge-settings.ts';
import { METRIC_NAMESPACE } from '../../../contract/metric-names.ts';
import { AMQP_VHOST, CELERY_QUEUE, ENGINE_RELEASE, PORTS } from '../../../contract/cluster-constants.ts';
import { acknowledgeEcrAuthorizationToken, acknowledgeNag } from '../nag/acknowledge.ts';
import { privateFargateService, type PrivateFargatePlacement } from '../ecs/private-fargate-service.ts';
import { BRIDGE_BUNDLE, BRIDGE_IMAGE_DIR } from '../asset-paths.ts';
import { BRIDGE_AMQP_USER } from '../secrets/cluster-secrets.ts';
import { remoteControlSerializer } from './remote-control-serializer.ts';

/** Props of {@link BridgeService}. */
export interface BridgeServiceProps extends PrivateFargatePlacement {
  /** The worker service the bridge scales. */
  readonly workerService: ecs.FargateService;
  /** The private subnets of the workers (for OQE_WORKER_SUBNET_IDS). */
  readonly workerSubnetIds: readonly string[];
  readonly fileSystem: efs.IFileSystem;
  readonly bridgeBrokerSecret: secretsmanager.ISecret;
  /** The master's private address. */
  readonly masterHost: string;
  /** Checked at synth by resolveClusterProps with the bridge's own schema. */
  readonly settings: BridgeScalingSettings;
  readonly logRetention: logs.RetentionDays;
  /** The bridge image. @default - built from bridge/image/ (its Dockerfile and the bundled bridge) */
  readonly image?: ecs.ContainerImage;
}

/**
 * The bridge image built at deploy time from the bundled bridge. Always arm64 (Graviton Fargate is about 20 %
 * cheaper): its Dockerfile has no RUN step, so an x86_64 builder only pulls the arm64 base image and copies one
 * file, with no QEMU/binfmt emulation.
 */
export function bridgeImageFromBundle(): ecs.ContainerImage {
  if (!existsSync(join(BRIDGE_IMAGE_DIR, BRIDGE_BUNDLE))) {
    throw new Error(
      `oq-elastic: the bundled bridge ${join(BRIDGE_IMAGE_DIR, BRIDGE_BUNDLE)} is missing: run \`npm run build:bridge\` ` +
        'in the repository (the installed package ships it), or pass your own bridge image.',
    );
  }
  return ecs.ContainerImage.fromAsset(BRIDGE_IMAGE_DIR, { platform: Platform.LINUX_ARM64 });
}

/**
 * The bridge: one small ARM Fargate task that scales the worker service. Never two at once (a deployment
 * stops the old task before starting the new one: two bridges would fight over the desired count), and an
 * IAM role that can touch only that cluster and that service.
 */
export class BridgeService extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly service: ecs.FargateService;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BridgeServiceProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.grantScaling(props);

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    const environment: Record<string, string> = {
      OQE_BACKEND: 'ecs',
      OQE_BROKER_HOST: props.masterHost,
      OQE_BROKER_PORT: String(PORTS.amqp),
      OQE_BROKER_VHOST: AMQP_VHOST,
      OQE_BROKER_USER: BRIDGE_AMQP_USER,
      OQE_MANAGEMENT_URL: `http://${props.masterHost}:${PORTS.rabbitManagement}`,
      OQE_QUEUE: CELERY_QUEUE,
      OQE_ECS_CLUSTER: props.cluster.clusterName,
      OQE_ECS_SERVICE: props.workerService.serviceName,
      OQE_EFS_FILE_SYSTEM_ID: props.fileSystem.fileSystemId,
      OQE_WORKER_SUBNET_IDS: Fn.join(',', [...props.workerSubnetIds]),
      ...scalingSettingsEnvironment(props.settings),
      // The engine's workers run ENGINE_RELEASE.celery: JSON remote control for 4.4.7. Set explicitly rather
      // than left to the bridge's default, so that a release change moves both together.
      OQE_REMOTE_CONTROL_SERIALIZER: remoteControlSerializer(ENGINE_RELEASE.celery),
      // The `Cluster` dimension of every bridge metric: the value the dashboard and alarms read (and the
      // master's CalculationsExecuting carries).
      OQE_CLUSTER_NAME: props.cluster.clusterName,
      AWS_REGION: stack.region,
    };

    this.taskDefinition.addContainer('Bridge', {
      image: props.image ?? bridgeImageFromBundle(),
      essential: true,
      environment,
      secrets: { OQE_BROKER_PASSWORD: ecs.Secret.fromSecretsManager(props.bridgeBrokerSecret, 'password') },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'bridge' }),
    });

    this.service = privateFargateService(this, props, this.taskDefinition, {
      desiredCount: 1,
      // Stop the old bridge before the new one starts: never two controllers of one desired count.
      minHealthyPercent: 0,
      maxHealthyPercent: 100,
    });

    acknowledgeNag(this.taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'Only non-secret settings (addresses, names, limits) are plain environment; the AMQP password is an ECS secret.',
      },
    ]);
    acknowledgeEcrAuthorizationToken(this.taskDefinition);
  }

  /** The bridge's permissions: that service, the tasks of that cluster, its metric namespace, EFS describe. */
  private grantScaling(props: BridgeServiceProps): void {
    const stack = Stack.of(this);
    const role = this.taskDefinition.taskRole;
    const clusterCondition = { ArnEquals: { 'ecs:cluster': props.cluster.clusterArn } };
    const tasksOfCluster = Arn.format(
      {
        service: 'ecs',
        resource: 'task',
        resourceName: `${props.cluster.clusterName}/*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      },
      stack,
    );
    // UpdateService can also switch the service to another task definition or turn on ECS Exec. The bridge
    // sends only desiredCount: a task definition, when a request names one, must be of the worker family
    // (`ecs:task-definition`, present only when the request sets it, hence IfExists), and a request that enables
    // execute-command is denied outright (Service Authorization Reference, Amazon ECS: UpdateService condition
    // keys ecs:task-definition and ecs:enable-execute-command).
    const workerFamily = Arn.format(
      {
        service: 'ecs',
        resource: 'task-definition',
        resourceName: `${props.workerService.taskDefinition.family}:*`,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      },
      stack,
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ScaleTheWorkerService',
        actions: ['ecs:UpdateService'],
        resources: [props.workerService.serviceArn],
        conditions: { ArnLikeIfExists: { 'ecs:task-definition': workerFamily } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeTheWorkerService',
        actions: ['ecs:DescribeServices'],
        resources: [props.workerService.serviceArn],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverEnableExecuteCommand',
        effect: iam.Effect.DENY,
        actions: ['ecs:UpdateService'],
        resources: ['*'],
        conditions: { Bool: { 'ecs:enable-execute-command': 'true' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'NeverExecuteCommand',
        effect: iam.Effect.DENY,
        actions: ['ecs:ExecuteCommand'],
        resources: ['*'],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'WorkerTasksOfTheCluster',
        actions: ['ecs:DescribeTasks', 'ecs:StopTask', 'ecs:UpdateTaskProtection', 'ecs:GetTaskProtection'],
        resources: [tasksOfCluster],
        conditions: clusterCondition,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ListTasksOfTheCluster',
        actions: ['ecs:ListTasks'],
        resources: ['*'],
        conditions: clusterCondition,
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'PublishBridgeMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': METRIC_NAMESPACE } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'DescribeSharedDir',
        actions: ['elasticfilesystem:DescribeFileSystems', 'elasticfilesystem:DescribeMountTargets'],
        resources: [props.fileSystem.fileSystemArn],
      }),
    );
    const policy = role.node.tryFindChild('DefaultPolicy');
    const clusterResource = props.cluster.node.defaultChild;
    const clusterId = clusterResource instanceof CfnResource ? stack.getLogicalId(clusterResource) : '';
    if (policy) {
      acknowledgeNag(policy, [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Task ARNs are random, so tasks are matched by cluster (task/<cluster>/* plus an ecs:cluster condition); ListTasks and PutMetricData have no resource-level permissions and are limited by the ecs:cluster and cloudwatch:namespace conditions.',
          findings: [
            'Resource::*',
            `Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${clusterId}>/*`,
          ],
        },
      ]);
    }
  }
}
