import { Aws, type CfnElement, Lazy, RemovalPolicy, Size, Stack, Tags, Validations } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { ENGINE_RELEASE } from '../../../contract/cluster-constants.ts';
import { METRIC_NAMESPACE } from '../../../contract/metric-names.ts';
import { MASTER_AGENT_NAMESPACE } from '../dashboard/master-agent-metrics.ts';
import { acknowledgeNag } from '../nag/acknowledge.ts';
import { renderMasterUserData } from './boot-script.ts';
import { calculationEventsPublisherText } from './calculation-events.ts';
import { enginePatchesParameterText } from './engine-patches.ts';
import { masterMachineImage } from './master-machine-image.ts';
import { renderMasterSettings } from './master-settings.ts';

/** The WebUI/API of the master, when it runs. */
export interface MasterWebUi {
  /**
   * Where it listens: `loopback` (127.0.0.1, reached only through an SSM port-forwarding session) or `private`
   * (the instance's private address, for a security group rule that admits a user-given CIDR). A run-time
   * setting: it travels in the settings parameter, so a new CIDR never touches the user-data.
   */
  readonly bind: 'loopback' | 'private';
  /** `{"username":"admin","password":...}`: the Django superuser created at boot (LOCKDOWN is on). */
  readonly adminSecret: secretsmanager.ISecret;
}

/**
 * The actions the SSM agent needs for Session Manager and nothing else (Systems Manager user guide, "Create a
 * custom IAM instance profile for Session Manager"; the same set as the AWS managed policy
 * AWSCloud9SSMInstanceProfile). AmazonSSMManagedInstanceCore would add ssm:GetParameter(s) on every parameter of
 * the account, documents, associations and inventory, none of which the master uses.
 */
export const SESSION_MANAGER_ACTIONS = [
  'ssm:UpdateInstanceInformation',
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
] as const;

/** Props of the {@link Master} construct (the contract fixed by the lead; the stack instantiates it). */
export interface MasterProps {
  /** The cluster's VPC. */
  readonly vpc: ec2.IVpc;
  /** Where the master lives: private subnets (the instance never gets a public IP). */
  readonly vpcSubnets: ec2.SubnetSelection;
  /** The master's security group, created by the stack, which adds the ingress rules. */
  readonly securityGroup: ec2.ISecurityGroup;
  /** Instance type; its CPU must match `architecture`. */
  readonly instanceType: ec2.InstanceType;
  /** CPU architecture of the master: `x86_64` installs from binary wheels only; `arm64` builds several. */
  readonly architecture: 'x86_64' | 'arm64';
  /** shared_dir, mounted read-write on the master at SHARED_DIR. */
  readonly fileSystem: efs.IFileSystem;
  /** The access point for the `openquake` uid/gid through which the master mounts shared_dir. */
  readonly accessPoint: efs.IAccessPoint;
  /** `{"username":"openquake","password":...}`: the engine's RabbitMQ user. */
  readonly brokerSecret: secretsmanager.ISecret;
  /** `{"username":"oq-worker","password":...}`: the workers' RabbitMQ user (consume and answer, never publish). */
  readonly workerBrokerSecret: secretsmanager.ISecret;
  /** `{"username":"oq-bridge","password":...}`: the bridge's least-privileged RabbitMQ user. */
  readonly bridgeBrokerSecret: secretsmanager.ISecret;
  /** `{"authkey":...}`: written as `[dbserver] authkey`; engine 3.11.5 never reads it (not an access control). */
  readonly dbserverAuthkeySecret: secretsmanager.ISecret;
  /**
   * `[distribution] num_cores` = maxWorkers x worker processes per worker. A run-time setting: it reaches the
   * master through its settings parameter, never through the user-data (see {@link Master}).
   */
  readonly numCores: number;
  /**
   * Run the WebUI/API on 8800 (on the private IP; the stack decides who may reach it). A run-time setting, like
   * `numCores`: turned on, the WebUI starts within a minute; turned off, it is not started again at the next boot.
   */
  readonly webUi: boolean;
  /**
   * An explicit AMI id of Ubuntu 24.04 for the master. Changing it replaces the master (a maintenance window).
   * @default - Canonical's current Ubuntu 24.04 image, resolved by EC2 when the instance launches
   */
  readonly imageId?: string;
  /** Keep the RabbitMQ and engine-database volumes when the stack is deleted. @default true */
  readonly retainDataVolumes?: boolean;
  /** How the WebUI is served when `webUi` turns it on: its bind address and its superuser's secret. */
  readonly webUiServer: MasterWebUi;
  /** Size of the encrypted EBS volume for /var/lib/rabbitmq. @default 20 */
  readonly rabbitmqVolumeGiB?: number;
  /** Size of the encrypted EBS volume for the engine database (/var/lib/openquake). @default 20 */
  readonly databaseVolumeGiB?: number;
  /**
   * The worker ECS cluster's name: the `Cluster` dimension of the CalculationsExecuting metric (namespace
   * METRIC_NAMESPACE) that the master publishes every minute for the stuck-calculation alarm.
   * @default - the master does not publish it
   */
  readonly metricsClusterName?: string;
}

const DEFAULT_VOLUME_GIB = 20;
/** Room for the OS, the engine's Python and its environment (about 2 GB) and build trees. */
const ROOT_VOLUME_GIB = 30;
/** EBS gp3 sizes: 1 GiB to 16 TiB (EC2 user guide, "Amazon EBS volume types"). */
const MAX_VOLUME_GIB = 16_384;

function checkVolumeSize(prop: string, value: number | undefined): number {
  const size = value ?? DEFAULT_VOLUME_GIB;
  if (!Number.isInteger(size) || size < 1 || size > MAX_VOLUME_GIB) {
    throw new Error(
      `${prop}=${value} is invalid: give a whole number of GiB from 1 to ${MAX_VOLUME_GIB} ` +
        `(default ${DEFAULT_VOLUME_GIB})`,
    );
  }
  return size;
}

/**
 * The cluster's fixed master: one EC2 instance running RabbitMQ, the OpenQuake DbServer and optionally the
 * WebUI/API, configured at boot by the user-data of {@link renderBootScript}.
 *
 * Private subnets, no public IP, no SSH key (SSM Session Manager instead), IMDSv2 required, separate encrypted
 * EBS volumes for RabbitMQ and the engine database, no swap. The CreationPolicy waits for the boot script's
 * signal, so `cdk deploy` fails when the master does not come up.
 */
export class Master extends Construct {
  /** The master instance. */
  readonly instance: ec2.Instance;
  /**
   * The data volumes, separate from the instance so that they outlive it: the boot attaches them to whichever
   * instance is the master (a replacement takes them over from its predecessor).
   */
  readonly dataVolumes: { readonly rabbitmq: ec2.Volume; readonly database: ec2.Volume };
  /** The JSON of the master's run-time settings (`numCores`, `webUi`, `webUiBind`), read at boot and every minute. */
  readonly settingsParameter: ssm.StringParameter;
  /**
   * The instance role (SSM, the three secrets, EFS client mount/write, its own CloudFormation signal, metrics in
   * its two namespaces).
   */
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: MasterProps) {
    super(scope, id);
    // requireImdsv2 adds a launch template named after the construct id alone ("InstanceLaunchTemplate"), so
    // two stacks in one region would collide; this feature flag gives it a unique name (it must be set
    // before any child exists).
    this.node.setContext('@aws-cdk/aws-ec2:uniqueImdsv2TemplateName', true);
    const architecture: string = props.architecture;
    if (architecture !== 'x86_64' && architecture !== 'arm64') {
      throw new Error(`architecture='${architecture}' is invalid: use 'x86_64' or 'arm64' (Graviton)`);
    }
    const typeArchitecture =
      props.instanceType.architecture === ec2.InstanceArchitecture.ARM_64 ? 'arm64' : 'x86_64';
    if (typeArchitecture !== architecture) {
      throw new Error(
        `instanceType=${props.instanceType.toString()} is a ${typeArchitecture} type but architecture=` +
          `'${architecture}': pick an instance type of that architecture (e.g. m7g.large for arm64, ` +
          'm7i.large for x86_64) or change architecture',
      );
    }
    const rabbitmqVolumeGiB = checkVolumeSize('rabbitmqVolumeGiB', props.rabbitmqVolumeGiB);
    const databaseVolumeGiB = checkVolumeSize('databaseVolumeGiB', props.databaseVolumeGiB);

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'oq-elastic master: SSM sessions, its secrets, shared_dir, its boot signal',
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({ actions: [...SESSION_MANAGER_ACTIONS], resources: ['*'] }),
    );
    props.brokerSecret.grantRead(this.role);
    props.workerBrokerSecret.grantRead(this.role);
    props.bridgeBrokerSecret.grantRead(this.role);
    props.webUiServer.adminSecret.grantRead(this.role);
    props.dbserverAuthkeySecret.grantRead(this.role);
    props.fileSystem.grant(this.role, 'elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite');
    // The boot script maps its EBS device names to NVMe devices through the volume ids; DescribeVolumes
    // supports no resource-level permissions (Service Authorization Reference, Amazon EC2).
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeVolumes'], resources: ['*'] }));
    // The CloudWatch agent (memory, disk) and the CalculationsExecuting timer publish metrics: PutMetricData
    // has no resource-level permissions, so the namespace condition is what scopes it (CloudWatch user guide,
    // "Using condition keys to limit access to CloudWatch namespaces"). This is the part of
    // CloudWatchAgentServerPolicy the agent uses with this configuration (metrics only: no logs, no SSM config).
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'cloudwatch:namespace': [MASTER_AGENT_NAMESPACE, METRIC_NAMESPACE] },
        },
      }),
    );

    // One subnet, chosen here so that the volumes are created in the instance's zone (EBS volumes are zonal).
    const subnet = props.vpc.selectSubnets(props.vpcSubnets).subnets[0];
    if (subnet === undefined) throw new Error('vpcSubnets selects no subnet for the master');
    const removalPolicy = (props.retainDataVolumes ?? true) ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const dataVolume = (id: string, sizeGiB: number, description: string): ec2.Volume =>
      new ec2.Volume(this, id, {
        availabilityZone: subnet.availabilityZone,
        size: Size.gibibytes(sizeGiB),
        encrypted: true,
        volumeType: ec2.EbsDeviceVolumeType.GP3,
        removalPolicy,
        volumeName: description,
      });
    this.dataVolumes = {
      rabbitmq: dataVolume('RabbitmqVolume', rabbitmqVolumeGiB, 'oq-elastic master: /var/lib/rabbitmq'),
      database: dataVolume('DatabaseVolume', databaseVolumeGiB, 'oq-elastic master: engine database'),
    };
    this.grantDataVolumeTakeover();

    this.settingsParameter = new ssm.StringParameter(this, 'Settings', {
      description: 'oq-elastic master run-time settings (JSON), applied within a minute without a restart',
      stringValue: renderMasterSettings({
        numCores: props.numCores,
        webUi: props.webUi,
        webUiBind: props.webUiServer.bind,
      }),
    });
    this.settingsParameter.grantRead(this.role);
    // The calculation events publisher does not fit in the 16 KB user-data; an SSM parameter (standard tier,
    // 4 KB) carries it, and the boot installs it from there.
    const calculationEvents = new ssm.StringParameter(this, 'CalculationEventsPublisher', {
      description: 'oq-elastic master: the calculation events publisher (Python), installed at boot',
      stringValue: calculationEventsPublisherText(),
    });
    calculationEvents.grantRead(this.role);
    // The engine patches module, likewise (packed, 3.4 KB of the standard tier's 4 KB): its content changes
    // only with the patches (a code change); the boot checks it against the digest in the user-data.
    const enginePatches = new ssm.StringParameter(this, 'EnginePatches', {
      description: 'oq-elastic master: the engine patches module (deflate, base85), installed at boot',
      stringValue: enginePatchesParameterText(),
    });
    enginePatches.grantRead(this.role);

    const stack = Stack.of(this);
    const buildFromSource = architecture === 'arm64';
    const userData = ec2.UserData.custom(
      renderMasterUserData({
        region: Aws.REGION,
        stackName: Aws.STACK_NAME,
        // The instance carries the CreationPolicy: the script signals its logical id.
        logicalId: Lazy.string({
          produce: () => stack.getLogicalId(this.instance.node.defaultChild as CfnElement),
        }),
        brokerSecretArn: props.brokerSecret.secretArn,
        bridgeBrokerSecretArn: props.bridgeBrokerSecret.secretArn,
        dbserverAuthkeySecretArn: props.dbserverAuthkeySecret.secretArn,
        fileSystemId: props.fileSystem.fileSystemId,
        accessPointId: props.accessPoint.accessPointId,
        engine: ENGINE_RELEASE,
        settingsParameterName: this.settingsParameter.parameterName,
        calculationEventsParameterName: calculationEvents.parameterName,
        enginePatchesParameterName: enginePatches.parameterName,
        dataVolumeIds: {
          rabbitmq: this.dataVolumes.rabbitmq.volumeId,
          database: this.dataVolumes.database.volumeId,
        },
        buildFromSource,
        metricsClusterName: props.metricsClusterName,
      }),
    );
    this.instance = new ec2.Instance(this, 'Instance', {
      vpc: props.vpc,
      vpcSubnets: { subnets: [subnet] },
      securityGroup: props.securityGroup,
      instanceType: props.instanceType,
      machineImage: masterMachineImage(architecture, props.imageId),
      role: this.role,
      userData,
      // One-minute CPU and status metrics: the master is the cluster's single point of failure.
      detailedMonitoring: true,
      requireImdsv2: true,
      associatePublicIpAddress: false,
      blockDevices: [
        {
          deviceName: '/dev/sda1',
          volume: ec2.BlockDeviceVolume.ebs(ROOT_VOLUME_GIB, {
            encrypted: true,
            volumeType: ec2.EbsDeviceVolumeType.GP3,
          }),
        },
      ],
    });
    const cfnInstance = this.instance.node.defaultChild as ec2.CfnInstance;
    // cfn-lint's ImageId pattern (E1152) knows only ami-... ids, not EC2's launch-time `resolve:ssm:` form; the
    // CDK runs the same rule at synth. An explicit id (W9010, "hardcoded AMI") is the operator's deliberate pin.
    cfnInstance.addMetadata('cfn-lint', { config: { ignore_checks: ['E1152', 'W9010'] } });
    Validations.of(cfnInstance).acknowledge(
      { id: 'CloudFormation-Validate::E1152', reason: "EC2 resolves 'resolve:ssm:' image ids at launch" },
      { id: 'CloudFormation-Validate::W9010', reason: 'masterImageId is an explicit, per-stack pin' },
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudformation:SignalResource'],
        // This stack only (its full ARN, with the stack's unique id).
        resources: [Aws.STACK_ID],
      }),
    );
    // Compiling numpy, scipy and h5py for Python 3.8 on arm64 (no wheels) takes far longer than installing.
    cfnInstance.cfnOptions.creationPolicy = {
      resourceSignal: { count: 1, timeout: buildFromSource ? 'PT120M' : 'PT40M' },
    };
    // The boot mounts shared_dir: the mount targets must exist first.
    this.instance.node.addDependency(props.fileSystem.mountTargetsAvailable);

    const defaultPolicy = this.role.node.tryFindChild('DefaultPolicy');
    if (defaultPolicy) {
      acknowledgeNag(defaultPolicy, [
        {
          id: 'AwsSolutions-IAM5',
          findings: [
            'Resource::*',
            'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:volume/*',
            'Resource::arn:<AWS::Partition>:ec2:<AWS::Region>:<AWS::AccountId>:instance/*',
          ],
          reason:
            'The Session Manager actions (ssm:UpdateInstanceInformation, ssmmessages:*Channel), ' +
            'ec2:DescribeVolumes/DescribeInstances (the boot finds its data volumes) and cloudwatch:PutMetricData ' +
            '(scoped by a namespace condition) have no resource-level permissions; the volume takeover is scoped ' +
            "by the oq-elastic:master tag that only this stack's master and volumes carry",
        },
      ]);
    }
    acknowledgeNag(this.instance, [
      {
        id: 'AwsSolutions-EC29',
        reason:
          'The master is one fixed instance by design (its RabbitMQ and DbServer state is not replicable by an ASG); ' +
          'termination protection would make cdk destroy fail; its data lives on EFS and on retained volumes',
      },
    ]);
  }

  /**
   * Lets the master take its data volumes over: attach them to itself and, when a replacement finds them still
   * on its predecessor, stop that instance (a clean shutdown of its RabbitMQ and DbServer) and detach them.
   * Scoped by a tag that only this stack's master and volumes carry (its stack name is unique in the region).
   */
  private grantDataVolumeTakeover(): void {
    const tag = { key: 'oq-elastic:master', value: Aws.STACK_NAME };
    for (const volume of Object.values(this.dataVolumes)) Tags.of(volume).add(tag.key, tag.value);
    Tags.of(this).add(tag.key, tag.value, { includeResourceTypes: ['AWS::EC2::Instance'] });
    const arn = (type: string) => `arn:${Aws.PARTITION}:ec2:${Aws.REGION}:${Aws.ACCOUNT_ID}:${type}/*`;
    const tagged = { StringEquals: { [`ec2:ResourceTag/${tag.key}`]: tag.value } };
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:AttachVolume', 'ec2:DetachVolume'],
        resources: [arn('volume'), arn('instance')],
        conditions: tagged,
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:StopInstances'],
        resources: [arn('instance')],
        conditions: tagged,
      }),
    );
    this.role.addToPolicy(new iam.PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
  }
}
