import { Annotations, Duration, Stack } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { AMQP_VHOST, CELERY_QUEUE, PORTS, SHARED_DIR } from '../../../contract/cluster-constants.ts';
import { acknowledgeEcrAuthorizationToken, acknowledgeNag } from '../nag/acknowledge.ts';
import { privateFargateService, type PrivateFargatePlacement } from '../ecs/private-fargate-service.ts';
import type { CpuArchitecture } from '../../../contract/prices.ts';
import { WORKER_IMAGE_DIR } from '../asset-paths.ts';
import { WORKER_AMQP_USER } from '../secrets/cluster-secrets.ts';

/**
 * The worker container's health check, as the image's HEALTHCHECK (worker-image/Dockerfile): the worker's own
 * celery ping through the broker (worker-image/entrypoint/oq_worker_healthcheck.py), unhealthy when the worker
 * lost the broker or its main loop is stuck. Busy pool processes do not delay it.
 */
export const WORKER_HEALTHCHECK_COMMAND = [
  'CMD',
  '/opt/openquake/venv/bin/python',
  '/opt/openquake/bin/oq_worker_healthcheck.py',
] as const;

/** Props of {@link WorkerService}. */
export interface WorkerServiceProps extends PrivateFargatePlacement {
  readonly architecture: CpuArchitecture;
  readonly vcpu: number;
  readonly memoryGiB: number;
  /** Celery worker processes per task. */
  readonly concurrency: number;
  /** Celery `--max-memory-per-child` (KiB). @default - unlimited */
  readonly maxMemoryPerChildKb?: number;
  /** Desired count when the service is first created; later the bridge owns it. */
  readonly initialDesiredCount: number;
  readonly spot: boolean;
  /** The master's private address. */
  readonly masterHost: string;
  readonly fileSystem: efs.IFileSystem;
  readonly accessPoint: efs.IAccessPoint;
  /** `{"username":"oq-worker","password":...}`: the workers' own RabbitMQ user (consume, never publish). */
  readonly brokerSecret: secretsmanager.ISecret;
  /** The `[dbserver] authkey` value (engine 3.11.5 ignores it; not an access control). */
  readonly dbserverAuthkeySecret: secretsmanager.ISecret;
  readonly logRetention: logs.RetentionDays;
  /** The worker image. @default - built from worker-image/ */
  readonly image?: ecs.ContainerImage;
}

/** Fargate's longest `stopTimeout` (Amazon ECS container definition parameters: "stopTimeout", max 120 s). */
export const WORKER_STOP_TIMEOUT_SECONDS = 120;
const VOLUME = 'shared-dir';
/** Task-local scratch volumes: the root file system is read-only, these are where celery and the engine write. */
const SCRATCH_VOLUMES = { 'scratch-tmp': '/tmp', 'scratch-home': '/home/openquake' } as const;
/** The image's `openquake` user and group (worker-image/Dockerfile, the same ids as on the master and EFS). */
export const WORKER_CONTAINER_USER = '1200:1200';
/** The construct id of the singleton function behind every AwsCustomResource (aws-cdk-lib custom-resources). */
const AWS_CUSTOM_RESOURCE_PROVIDER_ID = 'AWS679f53fac002430cb0da5b7982bd2287';

/**
 * The elastic celery workers: a Fargate task definition built from worker-image/, with shared_dir mounted
 * read-only, and a service whose desired count belongs to the bridge.
 *
 * Why the template carries no DesiredCount: CloudFormation sends a templated DesiredCount with every update
 * of the service, resetting whatever the bridge set, while "for existing services, if a desired count is not
 * specified, it is omitted from the operation" (AWS::ECS::Service, DesiredCount). A new service without one
 * starts at 1, so a create-only custom resource sets the configured minimum once; it has no update handler.
 */
export class WorkerService extends Construct {
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly service: ecs.FargateService;
  readonly logGroup: logs.LogGroup;
  /** Sets the desired count to the minimum once, at creation; whatever scales the service must come after it. */
  readonly initialDesiredCount: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: WorkerServiceProps) {
    super(scope, id);
    const cpuArchitecture =
      props.architecture === 'arm64' ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64;
    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: Math.round(props.vcpu * 1024),
      memoryLimitMiB: Math.round(props.memoryGiB * 1024),
      runtimePlatform: { cpuArchitecture, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      volumes: [
        {
          name: VOLUME,
          efsVolumeConfiguration: {
            fileSystemId: props.fileSystem.fileSystemId,
            transitEncryption: 'ENABLED',
            authorizationConfig: { accessPointId: props.accessPoint.accessPointId, iam: 'ENABLED' },
          },
        },
        // Fargate ephemeral storage, one per path (a volume with no host and no EFS configuration).
        ...Object.keys(SCRATCH_VOLUMES).map((name) => ({ name })),
      ],
    });
    // ClientMount only: the workers never write to shared_dir.
    props.fileSystem.grantRead(this.taskDefinition.taskRole);

    this.logGroup = new logs.LogGroup(this, 'Logs', { retention: props.logRetention });
    const environment: Record<string, string> = {
      OQ_MASTER_HOST: props.masterHost,
      OQ_AMQP_PORT: String(PORTS.amqp),
      OQ_AMQP_USER: WORKER_AMQP_USER,
      OQ_AMQP_VHOST: AMQP_VHOST,
      OQ_CELERY_QUEUE: CELERY_QUEUE,
      OQ_DBSERVER_PORT: String(PORTS.dbserver),
      OQ_RECEIVER_PORTS: `${PORTS.receiverFrom}-${PORTS.receiverTo}`,
      OQ_SHARED_DIR: SHARED_DIR,
      OQ_WORKER_CONCURRENCY: String(props.concurrency),
    };
    if (props.maxMemoryPerChildKb !== undefined) {
      environment.OQ_MAX_MEMORY_PER_CHILD_KB = String(props.maxMemoryPerChildKb);
    }
    // No `command`: the image's entrypoint starts celery, and never with --purge (a new worker would delete
    // the queued tasks of a running calculation).
    this.container = this.taskDefinition.addContainer('Worker', {
      image:
        props.image ??
        ecs.ContainerImage.fromAsset(WORKER_IMAGE_DIR, {
          platform: props.architecture === 'arm64' ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
        }),
      essential: true,
      // A compromised task gets no writable image, no root and no capabilities: tasks are pickles from the
      // broker, so whatever runs them is treated as untrusted once it runs.
      readonlyRootFilesystem: true,
      user: WORKER_CONTAINER_USER,
      linuxParameters: new ecs.LinuxParameters(this, 'LinuxParameters'),
      environment,
      secrets: {
        OQ_AMQP_PASSWORD: ecs.Secret.fromSecretsManager(props.brokerSecret, 'password'),
        OQ_DBSERVER_AUTHKEY: ecs.Secret.fromSecretsManager(props.dbserverAuthkeySecret, 'authkey'),
      },
      logging: ecs.LogDrivers.awsLogs({ logGroup: this.logGroup, streamPrefix: 'worker' }),
      stopTimeout: Duration.seconds(WORKER_STOP_TIMEOUT_SECONDS),
      // ECS ignores the image's HEALTHCHECK: the same check, here. A worker that lost the broker has had its
      // unacked messages requeued by RabbitMQ, so replacing it loses no task; without the check the task
      // would sit running (and billed) with no consumer until someone noticed.
      healthCheck: {
        command: [...WORKER_HEALTHCHECK_COMMAND],
        interval: Duration.seconds(30),
        timeout: Duration.seconds(15),
        startPeriod: Duration.seconds(60),
        retries: 3,
      },
    });
    this.container.linuxParameters?.dropCapabilities(ecs.Capability.ALL);
    this.container.addMountPoints(
      { sourceVolume: VOLUME, containerPath: SHARED_DIR, readOnly: true },
      ...Object.entries(SCRATCH_VOLUMES).map(([sourceVolume, containerPath]) => ({
        sourceVolume,
        containerPath,
        readOnly: false,
      })),
    );

    this.service = privateFargateService(this, props, this.taskDefinition, {
      // desiredCount deliberately unset: see the class comment.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      propagateTags: ecs.PropagatedTagSource.SERVICE,
      capacityProviderStrategies: props.spot ? [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }] : undefined,
    });
    if (props.spot) {
      Annotations.of(this).addWarningV2(
        'oq-elastic:workerSpot',
        'workerSpot=true: Fargate Spot may reclaim a busy worker with 2 minutes notice; its celery task is then ' +
          "redelivered and re-run, and the engine can receive that task's partial results twice. Use on-demand " +
          'workers for results you must trust.',
      );
    }

    this.initialDesiredCount = new cr.AwsCustomResource(this, 'InitialDesiredCount', {
      resourceType: 'Custom::OqWorkerInitialDesiredCount',
      installLatestAwsSdk: false,
      onCreate: {
        service: 'ECS',
        action: 'updateService',
        parameters: {
          cluster: props.cluster.clusterName,
          service: this.service.serviceName,
          desiredCount: props.initialDesiredCount,
        },
        physicalResourceId: cr.PhysicalResourceId.of('initial-desired-count'),
      },
      // No onUpdate and no onDelete: after the first deployment the desired count is the bridge's.
      policy: cr.AwsCustomResourcePolicy.fromSdkCalls({ resources: [this.service.serviceArn] }),
    });
    this.initialDesiredCount.node.addDependency(this.service);
    // The provider function of AwsCustomResource is a singleton at stack scope, named by this fixed UUID.
    const providerRole = Stack.of(this)
      .node.tryFindChild(AWS_CUSTOM_RESOURCE_PROVIDER_ID)
      ?.node.tryFindChild('ServiceRole');
    if (providerRole) {
      acknowledgeNag(providerRole, [
        {
          id: 'AwsSolutions-IAM4',
          reason:
            'The provider of the create-only desired-count initializer only needs to write its logs: AWSLambdaBasicExecutionRole is exactly that.',
          findings: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
        },
      ]);
    }

    acknowledgeNag(this.taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'Only non-secret settings (host, ports, vhost, queue, paths) are plain environment; the AMQP password and the [dbserver] authkey value are ECS secrets.',
      },
    ]);
    acknowledgeEcrAuthorizationToken(this.taskDefinition);
  }
}
