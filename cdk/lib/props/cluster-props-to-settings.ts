import { RemovalPolicy, SizeRoundingBehavior } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import type { OqElasticClusterProps } from '../oq-elastic-cluster.ts';
import type { ClusterSettings } from './cluster-settings.ts';
import { ClusterPropsError } from './cluster-props-error.ts';

/**
 * The construct prop behind each setting whose name or unit differs, so that a validation error names what the
 * user wrote (the settings carry plain numbers: seconds, GiB, KiB, days).
 */
export const CONSTRUCT_PROP_OF_SETTING: Readonly<Record<string, string>> = {
  logRetentionDays: 'logRetention',
  masterArchitecture: 'masterInstanceType',
  rabbitmqVolumeGiB: 'rabbitmqVolumeSize',
  databaseVolumeGiB: 'databaseVolumeSize',
  databaseBackupRetentionDays: 'databaseBackupRetention',
  workerMemoryGiB: 'workerMemory',
  maxMemoryPerChildKb: 'maxMemoryPerChild',
  idleGraceSeconds: 'idleGrace',
  pollSeconds: 'pollInterval',
  calculationHoldSeconds: 'calculationHold',
};

function retained(prop: string, policy: RemovalPolicy | undefined): boolean | undefined {
  if (policy === undefined) return undefined;
  if (policy === RemovalPolicy.RETAIN) return true;
  if (policy === RemovalPolicy.DESTROY) return false;
  throw new ClusterPropsError(prop, policy, 'use RemovalPolicy.RETAIN (default) or RemovalPolicy.DESTROY.');
}

function subnetTypeSetting(type: ec2.SubnetType | undefined): ClusterSettings['subnetType'] {
  if (type === undefined) return undefined;
  if (type === ec2.SubnetType.PRIVATE_WITH_EGRESS) return 'PRIVATE_WITH_EGRESS';
  if (type === ec2.SubnetType.PRIVATE_ISOLATED) return 'PRIVATE_ISOLATED';
  throw new ClusterPropsError(
    'subnetType',
    type,
    'use ec2.SubnetType.PRIVATE_WITH_EGRESS (default) or PRIVATE_ISOLATED; the master and workers never run in public subnets.',
  );
}

/** Adds, to a validation error about a setting, the construct prop the user actually set. */
export function namingConstructProp(error: unknown): unknown {
  if (!(error instanceof ClusterPropsError)) return error;
  const prop = CONSTRUCT_PROP_OF_SETTING[error.prop];
  if (prop !== undefined) error.message = `${error.message} (OqElasticCluster prop: ${prop})`;
  return error;
}

/**
 * Maps the construct's CDK-typed props to the plain settings that `resolveClusterProps` validates, after the
 * checks only the CDK types allow (conflicting network props, an ECS cluster in another VPC). Fractions are
 * passed on as they are, so that the validation names them instead of rounding them away.
 */
export function settingsFromClusterProps(props: OqElasticClusterProps): ClusterSettings {
  const givenVpc = props.vpc ?? props.cluster?.vpc;
  if (givenVpc !== undefined) {
    for (const prop of ['vpcCidr', 'maxAzs', 'natGateways'] as const) {
      if (props[prop] !== undefined) {
        throw new ClusterPropsError(
          prop,
          props[prop],
          `it shapes a new VPC and conflicts with ${props.vpc ? 'vpc' : 'cluster (whose VPC is used)'}; unset one of the two.`,
        );
      }
    }
  }
  if (props.vpc && props.cluster && props.cluster.vpc !== props.vpc) {
    throw new ClusterPropsError(
      'cluster',
      props.cluster.clusterName,
      "it is not in the given vpc; pass the cluster's own VPC as vpc, or leave vpc unset to use it.",
    );
  }
  const architecture = props.masterInstanceType?.architecture;
  const backupDays = props.databaseBackupRetention?.toDays({ integral: false });
  return {
    vpcCidr: props.vpcCidr,
    maxAzs: props.maxAzs,
    natGateways: props.natGateways,
    subnetType: subnetTypeSetting(props.subnetType),
    interfaceEndpoints: props.interfaceEndpoints ?? givenVpc === undefined,
    logRetentionDays: props.logRetention,
    masterInstanceType: props.masterInstanceType?.toString(),
    masterArchitecture:
      architecture === undefined
        ? undefined
        : architecture === ec2.InstanceArchitecture.ARM_64
          ? 'arm64'
          : 'x86_64',
    masterImageId: props.masterImageId,
    rabbitmqVolumeGiB: props.rabbitmqVolumeSize?.toGibibytes({ rounding: SizeRoundingBehavior.NONE }),
    databaseVolumeGiB: props.databaseVolumeSize?.toGibibytes({ rounding: SizeRoundingBehavior.NONE }),
    retainMasterVolumes: retained('masterVolumesRemovalPolicy', props.masterVolumesRemovalPolicy),
    databaseBackup: backupDays === undefined ? undefined : backupDays > 0,
    databaseBackupRetentionDays: backupDays === undefined || backupDays === 0 ? undefined : backupDays,
    webUi: props.webUi,
    webUiAllowedCidr: props.webUiAllowedCidr,
    workerArchitecture:
      props.workerArchitecture === undefined
        ? undefined
        : props.workerArchitecture._cpuArchitecture === ecs.CpuArchitecture.ARM64._cpuArchitecture
          ? 'arm64'
          : 'x86_64',
    workerVcpu: props.workerVcpu,
    workerMemoryGiB:
      props.workerMemory === undefined
        ? undefined
        : props.workerMemory.toMebibytes({ rounding: SizeRoundingBehavior.NONE }) / 1024,
    workerConcurrency: props.workerConcurrency,
    maxMemoryPerChildKb: props.maxMemoryPerChild?.toKibibytes({ rounding: SizeRoundingBehavior.NONE }),
    minWorkers: props.minWorkers,
    maxWorkers: props.maxWorkers,
    workerSpot: props.workerSpot,
    maxStepOut: props.maxStepOut,
    idleGraceSeconds: props.idleGrace?.toSeconds({ integral: false }),
    pollSeconds: props.pollInterval?.toSeconds({ integral: false }),
    prewarmWorkers: props.prewarmWorkers,
    calculationHoldSeconds: props.calculationHold?.toSeconds({ integral: false }),
    maxHourlyCost: props.maxHourlyCost,
    alarmEmail: props.alarmEmail,
    hourlyBudget: props.hourlyBudget,
    prices: props.prices,
    retainSharedDir: retained('sharedDirRemovalPolicy', props.sharedDirRemovalPolicy),
  };
}
