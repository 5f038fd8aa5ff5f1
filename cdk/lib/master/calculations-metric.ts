import { CLUSTER_DIMENSION, METRIC_NAMESPACE, type MetricName } from '../../../contract/metric-names.ts';
import { METRICS_USER } from './imds-guard.ts';
import { readMasterScript } from './master-script.ts';
import { DATABASE_DIR } from './openquake-cfg.ts';
import { renderMinuteTimer } from './minute-timer.ts';

/** The metric the master publishes: the dashboard's stuck-calculation alarm reads it. */
export const CALCULATIONS_METRIC: MetricName = 'CalculationsExecuting';

/** The publisher (Python, botocore from the boot's tools venv), embedded in the boot script. */
export const CALCULATIONS_METRIC_SCRIPT = readMasterScript('publish-calculations-executing.py');

/** Where the boot script installs {@link CALCULATIONS_METRIC_SCRIPT}. */
export const CALCULATIONS_METRIC_SCRIPT_PATH = '/usr/local/sbin/oq-calculations-metric';

/** The engine database the publisher reads (openquake.cfg `[dbserver] file`). */
export const ENGINE_DATABASE = `${DATABASE_DIR}/db.sqlite3`;

/** What the publisher's units need. */
export interface CalculationsMetricOptions {
  /** Value of the `Cluster` dimension: the worker ECS cluster's name, as on the bridge's metrics. */
  readonly clusterName: string;
  /** The region to publish to. */
  readonly region: string;
  /** The Python that has botocore (the boot's tools venv). */
  readonly python: string;
}

/** The systemd units of the publisher, by file name. */
export interface CalculationsMetricUnits {
  readonly 'oq-calculations-metric.service': string;
  readonly 'oq-calculations-metric.timer': string;
}

/**
 * Renders a oneshot service that publishes {@link CALCULATIONS_METRIC} and a timer that runs it every minute
 * (the metric's standard resolution and the dashboard's finest period). It runs as `openquake`, which owns the
 * database; the instance role's PutMetricData is limited to the bridge's namespace.
 */
export function renderCalculationsMetricUnits(options: CalculationsMetricOptions): CalculationsMetricUnits {
  const environment: Record<string, string> = {
    AWS_DEFAULT_REGION: options.region,
    OQ_ENGINE_DB: ENGINE_DATABASE,
    OQ_METRIC_NAMESPACE: METRIC_NAMESPACE,
    OQ_METRIC_NAME: CALCULATIONS_METRIC,
    OQ_METRIC_DIMENSION: CLUSTER_DIMENSION,
    OQ_METRIC_DIMENSION_VALUE: options.clusterName,
  };
  const service = [
    '[Unit]',
    'Description=Publish the number of executing OpenQuake calculations to CloudWatch (oq-elastic)',
    'After=openquake-dbserver.service network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    // A user of its own: it needs the instance role (IMDS), which the guard keeps from `openquake`, and only read
    // access to the engine database (group openquake).
    `User=${METRICS_USER}`,
    `Group=${METRICS_USER}`,
    'SupplementaryGroups=openquake',
    ...Object.entries(environment).map(([name, value]) => `Environment=${name}=${value}`),
    `ExecStart=${options.python} ${CALCULATIONS_METRIC_SCRIPT_PATH}`,
    '',
  ].join('\n');
  const timer = renderMinuteTimer(
    'Every minute: executing OpenQuake calculations to CloudWatch (oq-elastic)',
  );
  return { 'oq-calculations-metric.service': service, 'oq-calculations-metric.timer': timer };
}
