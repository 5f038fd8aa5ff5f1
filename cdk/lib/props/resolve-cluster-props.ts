import type { ClusterSettings } from './cluster-settings.ts';
import { ClusterPropsError } from './cluster-props-error.ts';
import { integer, positive } from './prop-checks.ts';
import { resolveMasterProps, type ResolvedMasterProps } from './resolve-master-props.ts';
import { resolveNetworkProps, type ResolvedNetworkProps } from './resolve-network-props.ts';
import { resolveScalingProps, type ResolvedScalingProps } from './resolve-scaling-props.ts';
import { resolveWorkerProps, type ResolvedWorkerProps } from './resolve-worker-props.ts';

/** The alarms' settings, after validation. */
interface ResolvedAlarmProps {
  readonly alarmEmail?: string;
  readonly hourlyBudget?: number;
}

/** What happens to the cluster's data: kept on stack deletion, backed up. */
interface ResolvedDataProps {
  readonly retainSharedDir: boolean;
  readonly retainMasterVolumes: boolean;
  /** Days to keep the engine database's daily backups; undefined when `databaseBackup` is false. */
  readonly databaseBackupRetentionDays?: number;
}

/** The cluster props with every default filled in, after validation. */
export interface ResolvedClusterProps
  extends
    ResolvedNetworkProps,
    ResolvedMasterProps,
    ResolvedWorkerProps,
    ResolvedScalingProps,
    ResolvedAlarmProps,
    ResolvedDataProps {
  /** `[distribution] num_cores` of the master: the fleet's most worker processes. */
  readonly numCores: number;
}

function resolveAlarmProps(props: ClusterSettings): ResolvedAlarmProps {
  const alarmEmail = props.alarmEmail;
  if (alarmEmail !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(alarmEmail)) {
    throw new ClusterPropsError('alarmEmail', alarmEmail, 'use an e-mail address, or leave it unset.');
  }
  return { alarmEmail, hourlyBudget: positive('hourlyBudget', props.hourlyBudget) };
}

function resolveDataProps(props: ClusterSettings): ResolvedDataProps {
  if (props.databaseBackup === false && props.databaseBackupRetentionDays !== undefined) {
    throw new ClusterPropsError(
      'databaseBackupRetentionDays',
      props.databaseBackupRetentionDays,
      'it conflicts with databaseBackup=false (no backups to keep); unset one of the two.',
    );
  }
  return {
    retainSharedDir: props.retainSharedDir ?? true,
    retainMasterVolumes: props.retainMasterVolumes ?? true,
    // AWS Backup's lifecycle: at least 1 day; 35 matches the longest automated-backup window of RDS.
    databaseBackupRetentionDays:
      (props.databaseBackup ?? true)
        ? integer('databaseBackupRetentionDays', props.databaseBackupRetentionDays ?? 35, 1, 36_500)
        : undefined,
  };
}

/**
 * Validates the cluster props and fills in every default. Throws a {@link ClusterPropsError} naming the prop,
 * the value and the fix on the first problem; called once, at synth, before any construct is built.
 */
export function resolveClusterProps(props: ClusterSettings = {}): ResolvedClusterProps {
  const network = resolveNetworkProps(props);
  const master = resolveMasterProps(props);
  const workers = resolveWorkerProps(props);
  const scaling = resolveScalingProps(props, workers);
  return {
    ...network,
    ...master,
    ...workers,
    ...scaling,
    ...resolveAlarmProps(props),
    ...resolveDataProps(props),
    numCores: scaling.maxWorkers * workers.workerConcurrency,
  };
}
