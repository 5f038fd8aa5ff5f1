import type { ClusterSubnetType, ExistingVpcProps, ClusterSettings } from './cluster-settings.ts';
import { AMI_ID } from '../master/master-machine-image.ts';
import {
  BRIDGE_ENVIRONMENT,
  NUMERIC_SETTINGS,
  parseNumericSettings,
  scalingSettingsEnvironment,
  type BridgeScalingSettings,
  type NumericVariable,
} from '../../../contract/bridge-settings.ts';
import {
  DEFAULT_PRICES,
  fargateTaskHourlyCost,
  type CpuArchitecture,
  type PriceTable,
} from '../../../contract/prices.ts';
import { describeMemoryOptions, FARGATE_TASK_SIZES, fargateMemoryOptions } from './fargate-task-sizes.ts';
import { parseIpv4Cidr } from './ipv4-cidr.ts';

/** The cluster props with every default filled in, after validation. */
export interface ResolvedClusterProps {
  readonly existingVpc?: ExistingVpcProps;
  readonly vpcCidr: string;
  readonly maxAzs: number;
  readonly natGateways: number;
  readonly subnetType: ClusterSubnetType;
  readonly interfaceEndpoints: boolean;
  readonly logRetentionDays: number;
  readonly masterInstanceType: string;
  readonly masterArchitecture: CpuArchitecture;
  readonly masterImageId?: string;
  readonly rabbitmqVolumeGiB?: number;
  readonly databaseVolumeGiB?: number;
  readonly webUi: boolean;
  readonly webUiAllowedCidr?: string;
  readonly workerArchitecture: CpuArchitecture;
  readonly workerVcpu: number;
  readonly workerMemoryGiB: number;
  readonly workerConcurrency: number;
  readonly maxMemoryPerChildKb?: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly workerSpot: boolean;
  readonly maxStepOut: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  readonly maxHourlyCost?: number;
  readonly alarmEmail?: string;
  readonly hourlyBudget?: number;
  readonly prices: PriceTable;
  readonly retainSharedDir: boolean;
  readonly retainMasterVolumes: boolean;
  /** Days to keep the engine database's daily backups; undefined when `databaseBackup` is false. */
  readonly databaseBackupRetentionDays?: number;
  /** `[distribution] num_cores` of the master: the fleet's most worker processes. */
  readonly numCores: number;
  /** What the bridge gets in its environment, already checked with the bridge's own schema. */
  readonly bridge: BridgeScalingSettings;
}

/** A prop that failed validation. The message names the prop, the value and the fix. */
export class ClusterPropsError extends Error {
  constructor(
    readonly prop: string,
    value: unknown,
    fix: string,
  ) {
    super(`oq-elastic: invalid prop ${prop}=${JSON.stringify(value)}: ${fix}`);
    this.name = 'ClusterPropsError';
  }
}

/** CloudWatch Logs accepts only these retention periods (PutRetentionPolicy, `retentionInDays`). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
const ARCHITECTURES: readonly CpuArchitecture[] = ['x86_64', 'arm64'];
const SUBNET_TYPES: readonly ClusterSubnetType[] = ['PRIVATE_WITH_EGRESS', 'PRIVATE_ISOLATED'];

function integer(prop: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const bound = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
    throw new ClusterPropsError(prop, value, `use a whole number ${bound}.`);
  }
  return value;
}

function positive(prop: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) {
    throw new ClusterPropsError(prop, value, 'use a positive number, or leave it unset.');
  }
  return value;
}

function architecture(prop: string, value: string): CpuArchitecture {
  if (!ARCHITECTURES.includes(value as CpuArchitecture)) {
    throw new ClusterPropsError(prop, value, `use one of ${ARCHITECTURES.join(', ')}.`);
  }
  return value as CpuArchitecture;
}

/**
 * The widest block that may reach a port of the master from outside the VPC. A /8 is already 16 million
 * addresses; anything wider is the internet in all but name.
 */
export const MIN_ALLOWED_PREFIX_LENGTH = 8;

function ipv4Cidr(prop: string, value: string, minPrefixLength = 0): string {
  const parsed = parseIpv4Cidr(value, minPrefixLength);
  if ('problem' in parsed) throw new ClusterPropsError(prop, value, parsed.problem);
  return parsed.canonical;
}

/** Graviton instance families carry a `g` right after the generation digit: m7g, c7gn, r8g, t4g. */
function isGravitonType(instanceType: string): boolean {
  return /^[a-z]+\d+g[a-z]*\./.test(instanceType);
}

function resolveExistingVpc(vpc: ExistingVpcProps | undefined): ExistingVpcProps | undefined {
  if (vpc === undefined) return undefined;
  if (!/^vpc-[0-9a-f]+$/.test(vpc.vpcId ?? '')) {
    throw new ClusterPropsError(
      'existingVpc.vpcId',
      vpc.vpcId,
      'use the id of the VPC, e.g. vpc-0123456789abcdef0.',
    );
  }
  const subnets = vpc.privateSubnetIds ?? [];
  if (subnets.length === 0) {
    throw new ClusterPropsError(
      'existingVpc.privateSubnetIds',
      subnets,
      'list at least one private subnet (with a route to a NAT gateway); the cluster never runs in public subnets.',
    );
  }
  const bad = subnets.find((s) => !/^subnet-[0-9a-f]+$/.test(s));
  if (bad !== undefined) {
    throw new ClusterPropsError(
      'existingVpc.privateSubnetIds',
      subnets,
      `"${bad}" is not a subnet id (subnet-...).`,
    );
  }
  if ((vpc.availabilityZones ?? []).length !== subnets.length) {
    throw new ClusterPropsError(
      'existingVpc.availabilityZones',
      vpc.availabilityZones,
      `list one availability zone per private subnet (${subnets.length}), in the same order.`,
    );
  }
  const tables = vpc.privateSubnetRouteTableIds;
  if (tables !== undefined && tables.length !== subnets.length) {
    throw new ClusterPropsError(
      'existingVpc.privateSubnetRouteTableIds',
      tables,
      `list one route table per private subnet (${subnets.length}), in the same order, or leave it unset.`,
    );
  }
  return vpc;
}

function resolveWorkerSize(props: ClusterSettings): { vcpu: number; memoryGiB: number } {
  const vcpu = props.workerVcpu ?? 4;
  const options = fargateMemoryOptions(vcpu);
  if (options === undefined) {
    throw new ClusterPropsError(
      'workerVcpu',
      vcpu,
      `Fargate offers ${FARGATE_TASK_SIZES.map((o) => o.vcpu).join(', ')} vCPUs; pick one of them.`,
    );
  }
  const memoryGiB = props.workerMemoryGiB ?? Math.min(4 * vcpu, options[options.length - 1]!);
  if (!options.includes(memoryGiB)) {
    throw new ClusterPropsError(
      'workerMemoryGiB',
      memoryGiB,
      `Fargate does not offer ${memoryGiB} GiB with workerVcpu=${vcpu}; use ${describeMemoryOptions(options)}.`,
    );
  }
  return { vcpu, memoryGiB };
}

function resolvePrices(overrides: Partial<PriceTable> | undefined): PriceTable {
  const prices = {
    ...DEFAULT_PRICES,
    ...overrides,
    ec2Hourly: { ...DEFAULT_PRICES.ec2Hourly, ...overrides?.ec2Hourly },
  };
  for (const [key, value] of Object.entries(prices)) {
    if (key === 'ec2Hourly') continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ClusterPropsError(`prices.${key}`, value, 'use a price in USD, zero or more.');
    }
  }
  return prices;
}

/**
 * Runs the bridge's own start-up checks (contract/bridge-settings.ts) on the environment the stack will give
 * it, so that synth fails, naming the prop, wherever the deployed bridge would refuse to start.
 */
function checkedBridgeSettings(settings: BridgeScalingSettings): BridgeScalingSettings {
  const propOf = (variable: NumericVariable): string | undefined =>
    (NUMERIC_SETTINGS[variable] as { prop?: string }).prop;
  const { problems } = parseNumericSettings(
    scalingSettingsEnvironment(settings),
    // Settings the stack derives from the price table are named by variable, with where they come from.
    (variable) => {
      const prop = propOf(variable);
      if (prop === undefined) return `the bridge's ${variable}`;
      return prop === 'prices' ? `${variable} (from prices)` : prop;
    },
  );
  const first = problems[0];
  if (first !== undefined) {
    const prop = first.variables.map(propOf).find((p) => p !== undefined) ?? first.variables[0]!;
    throw new ClusterPropsError(prop, first.value, `${first.message}.`);
  }
  return settings;
}

/**
 * Validates the cluster props and fills in every default. Throws a {@link ClusterPropsError} naming the prop,
 * the value and the fix on the first problem; called once, at synth, before any construct is built.
 */
export function resolveClusterProps(props: ClusterSettings = {}): ResolvedClusterProps {
  const existingVpc = resolveExistingVpc(props.existingVpc);
  const vpcCidr = ipv4Cidr('vpcCidr', props.vpcCidr ?? '10.80.0.0/16');
  const maxAzs = props.maxAzs ?? 2;
  if (maxAzs !== 1 && maxAzs !== 2) {
    // An environment-agnostic stack (synth without credentials or lookups) sees two AZs (Fn::GetAZs).
    throw new ClusterPropsError(
      'maxAzs',
      maxAzs,
      'use 1 or 2: the stack synthesizes without an AWS account, which gives it two availability zones; for more, pass existingVpc.',
    );
  }
  const natGateways = integer('natGateways', props.natGateways ?? 1, 0, maxAzs);

  const subnetType = props.subnetType ?? 'PRIVATE_WITH_EGRESS';
  if (!SUBNET_TYPES.includes(subnetType)) {
    throw new ClusterPropsError(
      'subnetType',
      subnetType,
      `use PRIVATE_WITH_EGRESS (default) or PRIVATE_ISOLATED; the master and workers never run in public subnets.`,
    );
  }
  if (subnetType === 'PRIVATE_WITH_EGRESS' && existingVpc === undefined && natGateways === 0) {
    throw new ClusterPropsError(
      'natGateways',
      natGateways,
      'PRIVATE_WITH_EGRESS subnets need a NAT gateway; set natGateways to 1 or more, or subnetType=PRIVATE_ISOLATED.',
    );
  }
  const interfaceEndpoints = props.interfaceEndpoints ?? existingVpc === undefined;
  if (subnetType === 'PRIVATE_ISOLATED' && !interfaceEndpoints) {
    throw new ClusterPropsError(
      'interfaceEndpoints',
      interfaceEndpoints,
      'PRIVATE_ISOLATED subnets reach ECR, logs and secrets only through interface endpoints; set it to true.',
    );
  }
  const logRetentionDays = props.logRetentionDays ?? 30;
  if (!LOG_RETENTION_DAYS.includes(logRetentionDays)) {
    throw new ClusterPropsError(
      'logRetentionDays',
      logRetentionDays,
      `use one of ${LOG_RETENTION_DAYS.join(', ')}.`,
    );
  }

  const masterInstanceType = props.masterInstanceType ?? 'm7i.large';
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(masterInstanceType)) {
    throw new ClusterPropsError(
      'masterInstanceType',
      masterInstanceType,
      'use an EC2 instance type such as m7i.large.',
    );
  }
  const masterArchitecture = architecture('masterArchitecture', props.masterArchitecture ?? 'x86_64');
  if (isGravitonType(masterInstanceType) !== (masterArchitecture === 'arm64')) {
    throw new ClusterPropsError(
      'masterArchitecture',
      masterArchitecture,
      `it does not match masterInstanceType=${masterInstanceType}; set masterArchitecture=${
        isGravitonType(masterInstanceType) ? 'arm64' : 'x86_64'
      } or pick an instance type of the other architecture.`,
    );
  }
  const masterImageId = props.masterImageId;
  if (masterImageId !== undefined && !AMI_ID.test(masterImageId)) {
    throw new ClusterPropsError(
      'masterImageId',
      masterImageId,
      'use an AMI id such as ami-0123456789abcdef0 (Ubuntu 24.04), or leave it unset for the current image at launch.',
    );
  }
  const rabbitmqVolumeGiB =
    props.rabbitmqVolumeGiB === undefined
      ? undefined
      : integer('rabbitmqVolumeGiB', props.rabbitmqVolumeGiB, 8, 16384);
  const databaseVolumeGiB =
    props.databaseVolumeGiB === undefined
      ? undefined
      : integer('databaseVolumeGiB', props.databaseVolumeGiB, 8, 16384);

  // Off unless asked for: the engine's WebUI runs, aborts and deletes calculations for whoever reaches it.
  const webUi = props.webUi ?? false;
  let webUiAllowedCidr = props.webUiAllowedCidr;
  if (webUiAllowedCidr !== undefined) {
    // Parsed as numbers: `1.2.3.4/0` and `0.0.0.0/1` are as open as `0.0.0.0/0`.
    webUiAllowedCidr = ipv4Cidr('webUiAllowedCidr', webUiAllowedCidr.trim(), MIN_ALLOWED_PREFIX_LENGTH);
    if (!webUi) {
      throw new ClusterPropsError(
        'webUiAllowedCidr',
        webUiAllowedCidr,
        'it conflicts with webUi=false (nothing listens on 8800); set webUi=true or unset webUiAllowedCidr.',
      );
    }
  }

  const workerArchitecture = architecture('workerArchitecture', props.workerArchitecture ?? 'x86_64');
  const { vcpu: workerVcpu, memoryGiB: workerMemoryGiB } = resolveWorkerSize(props);
  const workerConcurrency = integer(
    'workerConcurrency',
    props.workerConcurrency ?? Math.max(1, Math.floor(workerVcpu)),
    1,
    64,
  );
  const maxMemoryPerChildKb =
    props.maxMemoryPerChildKb === undefined
      ? undefined
      : integer('maxMemoryPerChildKb', props.maxMemoryPerChildKb, 1024);
  const workerSpot = props.workerSpot ?? false;
  if (workerSpot && workerArchitecture !== 'x86_64') {
    throw new ClusterPropsError(
      'workerSpot',
      workerSpot,
      `Fargate Spot runs x86_64 tasks only, but workerArchitecture=${workerArchitecture}; set workerArchitecture=x86_64 or workerSpot=false.`,
    );
  }

  // The bounds are the bridge's own (contract/bridge-settings.ts); the checks across settings run below, on
  // the environment the bridge will read.
  const bounded = (prop: string, value: number, variable: NumericVariable): number =>
    integer(prop, value, NUMERIC_SETTINGS[variable].min, NUMERIC_SETTINGS[variable].max);
  const minWorkers = bounded('minWorkers', props.minWorkers ?? 0, 'OQE_MIN_WORKERS');
  const maxWorkers = bounded('maxWorkers', props.maxWorkers ?? 10, 'OQE_MAX_WORKERS');
  const maxStepOut = bounded('maxStepOut', props.maxStepOut ?? 10, 'OQE_MAX_STEP_OUT');
  const idleGraceSeconds = bounded(
    'idleGraceSeconds',
    props.idleGraceSeconds ?? 120,
    'OQE_IDLE_GRACE_SECONDS',
  );
  const pollSeconds = bounded('pollSeconds', props.pollSeconds ?? 5, 'OQE_POLL_SECONDS');
  const prewarmWorkers = bounded(
    'prewarmWorkers',
    props.prewarmWorkers ?? Number(BRIDGE_ENVIRONMENT.OQE_PREWARM_WORKERS),
    'OQE_PREWARM_WORKERS',
  );
  const calculationHoldSeconds = bounded(
    'calculationHoldSeconds',
    props.calculationHoldSeconds ?? Number(BRIDGE_ENVIRONMENT.OQE_CALCULATION_HOLD_SECONDS),
    'OQE_CALCULATION_HOLD_SECONDS',
  );
  const maxHourlyCost = positive('maxHourlyCost', props.maxHourlyCost);
  const prices = resolvePrices(props.prices);
  const bridge = checkedBridgeSettings({
    minWorkers,
    maxWorkers,
    slotsPerWorker: workerConcurrency,
    maxStepOut,
    idleGraceSeconds,
    pollSeconds,
    prewarmWorkers,
    calculationHoldSeconds,
    workerHourlyCost: fargateTaskHourlyCost(
      prices,
      workerArchitecture,
      workerVcpu,
      workerMemoryGiB,
      workerSpot,
    ),
    storageGbMonthCost: prices.efsStandardGbMonth,
    maxHourlyCost,
  });

  const alarmEmail = props.alarmEmail;
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    throw new ClusterPropsError('alarmEmail', alarmEmail, 'use an e-mail address, or leave it unset.');
  }

  if (props.databaseBackup === false && props.databaseBackupRetentionDays !== undefined) {
    throw new ClusterPropsError(
      'databaseBackupRetentionDays',
      props.databaseBackupRetentionDays,
      'it conflicts with databaseBackup=false (no backups to keep); unset one of the two.',
    );
  }

  return {
    existingVpc,
    vpcCidr,
    maxAzs,
    natGateways,
    subnetType,
    interfaceEndpoints,
    logRetentionDays,
    masterInstanceType,
    masterArchitecture,
    masterImageId,
    rabbitmqVolumeGiB,
    databaseVolumeGiB,
    webUi,
    webUiAllowedCidr,
    workerArchitecture,
    workerVcpu,
    workerMemoryGiB,
    workerConcurrency,
    maxMemoryPerChildKb,
    minWorkers,
    maxWorkers,
    workerSpot,
    maxStepOut,
    idleGraceSeconds,
    pollSeconds,
    maxHourlyCost,
    alarmEmail,
    hourlyBudget: positive('hourlyBudget', props.hourlyBudget),
    prices,
    retainSharedDir: props.retainSharedDir ?? true,
    retainMasterVolumes: props.retainMasterVolumes ?? true,
    // AWS Backup's lifecycle: at least 1 day; 35 matches the longest automated-backup window of RDS.
    databaseBackupRetentionDays:
      (props.databaseBackup ?? true)
        ? integer('databaseBackupRetentionDays', props.databaseBackupRetentionDays ?? 35, 1, 36_500)
        : undefined,
    numCores: maxWorkers * workerConcurrency,
    bridge,
  };
}
