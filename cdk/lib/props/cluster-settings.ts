import type { CpuArchitecture, PriceTable } from '../../../contract/prices.ts';

/** An existing VPC to deploy into, described by attributes so that synth needs no context lookup. */
export interface ExistingVpcProps {
  /** The VPC id, e.g. `vpc-0123456789abcdef0`. */
  readonly vpcId: string;
  /** The availability zones of the private subnets, in the same order as `privateSubnetIds`. */
  readonly availabilityZones: readonly string[];
  /** Private subnets (with a route to a NAT gateway) for the master, the workers, the bridge and EFS. */
  readonly privateSubnetIds: readonly string[];
  /**
   * Route tables of the private subnets, in the same order; needed only for the S3 gateway endpoint.
   * @default - no S3 gateway endpoint is added
   */
  readonly privateSubnetRouteTableIds?: readonly string[];
}

/** Where the master, the workers and the bridge run inside the VPC. Public subnets are not an option. */
export type ClusterSubnetType = 'PRIVATE_WITH_EGRESS' | 'PRIVATE_ISOLATED';

/**
 * Every setting of the cluster in plain JSON types: what the repository's app reads from CDK context
 * (`cdk.json` or `-c name=value`). The app's stack maps them to `OqElasticClusterProps` (CDK types);
 * `OqElasticCluster` maps its props back to these and validates them once, at synth, with `resolveClusterProps`.
 */
export interface ClusterSettings {
  // ----- network -----
  /**
   * Deploy into this existing VPC instead of creating one.
   * @default - a new VPC with public subnets (NAT only) and private subnets
   */
  readonly existingVpc?: ExistingVpcProps;
  /** CIDR block of the new VPC. Ignored with `existingVpc`. @default '10.80.0.0/16' */
  readonly vpcCidr?: string;
  /** Availability zones of the new VPC: 1 or 2 (the stack is environment-agnostic). @default 2 */
  readonly maxAzs?: number;
  /** NAT gateways of the new VPC (1 is cheapest; one per AZ survives an AZ outage). @default 1 */
  readonly natGateways?: number;
  /** Subnet type of the master, workers, bridge and EFS mount targets. @default 'PRIVATE_WITH_EGRESS' */
  readonly subnetType?: ClusterSubnetType;
  /**
   * Interface endpoints for ECR, CloudWatch Logs and Secrets Manager, which keep image pulls, logs and secret
   * reads off the NAT gateway (with PRIVATE_ISOLATED also SSM, ECS, CloudWatch and EFS, which then have no
   * other way out). About USD 7 a month per endpoint and AZ.
   * @default true for a new VPC, false for an existing VPC (it may already have them)
   */
  readonly interfaceEndpoints?: boolean;
  /** Days to keep VPC flow logs and container logs. @default 30 */
  readonly logRetentionDays?: number;

  // ----- master -----
  /** EC2 instance type of the master. @default 'm7i.large' */
  readonly masterInstanceType?: string;
  /** CPU architecture of the master; must match `masterInstanceType`. @default 'x86_64' */
  readonly masterArchitecture?: CpuArchitecture;
  /**
   * An explicit AMI id (Ubuntu 24.04, of `masterArchitecture`) for the master. Setting or changing it replaces the
   * master: a maintenance window (docs/master.md, "Moving the master to a newer image"); its data volumes move over.
   * @default - Canonical's current Ubuntu 24.04 image, resolved when the instance launches (a new public image
   *   never replaces a running master)
   */
  readonly masterImageId?: string;
  /** Size of the master's RabbitMQ EBS volume. @default - the master construct's default */
  readonly rabbitmqVolumeGiB?: number;
  /** Size of the master's engine database EBS volume. @default - the master construct's default */
  readonly databaseVolumeGiB?: number;
  /** Run the WebUI/API on the master (port 8800, reachable by SSM port forwarding). @default false */
  readonly webUi?: boolean;
  /**
   * A CIDR (e.g. your office or VPN range) admitted to the WebUI on 8800. Never `0.0.0.0/0`.
   * @default - no network access; use the SSM port-forward command from the outputs
   */
  readonly webUiAllowedCidr?: string;

  // ----- workers -----
  /** CPU architecture of the worker tasks. @default 'x86_64' */
  readonly workerArchitecture?: CpuArchitecture;
  /** vCPUs of one worker task (a Fargate size: 0.25, 0.5, 1, 2, 4, 8, 16). @default 4 */
  readonly workerVcpu?: number;
  /** Memory of one worker task in GiB, allowed by Fargate for `workerVcpu`. @default 16 */
  readonly workerMemoryGiB?: number;
  /** Celery worker processes per task. @default - the task's vCPUs (at least 1) */
  readonly workerConcurrency?: number;
  /** Celery `--max-memory-per-child` in KiB. @default - unlimited */
  readonly maxMemoryPerChildKb?: number;
  /** Fewest workers the bridge keeps. @default 0 */
  readonly minWorkers?: number;
  /** Most workers the bridge starts. Also sets the master's `[distribution] num_cores`. @default 10 */
  readonly maxWorkers?: number;
  /**
   * Run workers on Fargate Spot (x86 only). A reclaimed task's tasks are re-run, and the engine may then
   * receive their partial results twice; opt in only if you accept that.
   * @default false
   */
  readonly workerSpot?: boolean;

  // ----- bridge -----
  /** Most workers added in one scaling step. @default 10 */
  readonly maxStepOut?: number;
  /** Seconds a worker must stay idle before the bridge retires it. @default 120 */
  readonly idleGraceSeconds?: number;
  /**
   * Workers launched when the master reports a calculation started (pre-processing, nothing queued yet), so
   * that they are up when its first tasks arrive. 0 turns pre-warming off. Needs the master's calculation events
   * (docs/bridge.md); without them nothing changes.
   * @default 2
   */
  readonly prewarmWorkers?: number;
  /**
   * The longest idle workers are kept for a calculation that is starting or between two phases; past it the
   * calculation's status counts as unknown and the idle grace applies again.
   * @default 900
   */
  readonly calculationHoldSeconds?: number;
  /** Seconds between two observations of the bridge. @default 5 */
  readonly pollSeconds?: number;
  /** The bridge never scales out beyond this estimated spend per hour (USD). @default - no cap */
  readonly maxHourlyCost?: number;

  // ----- dashboard and cost -----
  /** E-mail address subscribed to the alarms. @default - no subscription */
  readonly alarmEmail?: string;
  /** Alarm when the estimated spend per hour exceeds this (USD). @default - no budget alarm */
  readonly hourlyBudget?: number;
  /** Overrides of the price table (USD). @default - DEFAULT_PRICES in contract/prices.ts */
  readonly prices?: Partial<PriceTable>;

  // ----- data -----
  /** Keep the EFS shared_dir (calculation inputs and outputs) when the stack is deleted. @default true */
  readonly retainSharedDir?: boolean;
  /** Keep the master's RabbitMQ and engine-database volumes when the stack is deleted. @default true */
  readonly retainMasterVolumes?: boolean;
  /** Back up the engine-database volume daily with AWS Backup. @default true */
  readonly databaseBackup?: boolean;
  /** Days AWS Backup keeps each daily recovery point of the engine database. @default 35 */
  readonly databaseBackupRetentionDays?: number;
}
