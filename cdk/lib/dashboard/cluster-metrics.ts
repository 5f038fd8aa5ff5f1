import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import {
  CALCULATION_DIMENSION,
  CLUSTER_DIMENSION,
  METRIC_NAMESPACE,
  type MetricName,
} from '../../../contract/metric-names.ts';
import { HOURS_PER_MONTH, STORAGE_BYTES_PER_GB } from '../../../contract/prices.ts';
import type { CostRates } from './cost-rates.ts';
import { MASTER_AGENT_NAMESPACE, MASTER_DISK_METRIC, MASTER_MEMORY_METRIC } from './master-agent-metrics.ts';

/**
 * The finest period of the dashboard: EMF metrics are standard resolution (60 s), and so are EC2's status
 * checks and EFS's metrics.
 */
export const FINE_PERIOD = Duration.minutes(1);
/** The period of the cost figures: EFS reports StorageBytes only every 15 minutes (EFS metrics documentation). */
export const COST_PERIOD = Duration.minutes(5);

/** Where the metrics come from: the ids the stack resolves (tokens are fine). */
export interface ClusterMetricsSource {
  /** Value of the bridge metrics' `Cluster` dimension: the worker ECS cluster's name. */
  readonly clusterDimension: string;
  /** The worker service, for AWS/ECS's per-service CPU and memory utilisation. */
  readonly workerClusterName: string;
  readonly workerServiceName: string;
  readonly masterInstanceId: string;
  readonly fileSystemId: string;
}

/**
 * One bridge metric as the dashboard and the alarms read it: its name, the statistic, the legend's label and
 * the period (FINE_PERIOD when left out).
 */
export type BridgeSeries = readonly [
  metricName: MetricName,
  statistic: string,
  label: string,
  period?: Duration,
];

/** The bridge's series that the dashboard and the alarms read, by name ({@link ClusterMetrics.series}). */
export const BRIDGE_SERIES = {
  // Queue: the engine's `celery` queue; demand is ready + unacked (work in flight).
  queueReady: ['QueueReady', 'Maximum', 'Ready'],
  queueUnacked: ['QueueUnacked', 'Maximum', 'Unacked (running or reserved)'],
  consumers: ['Consumers', 'Minimum', 'Consumers'],
  // Workers: desired (what the bridge asked for), running (units up), busy (running at least one task).
  workersDesired: ['WorkersDesired', 'Maximum', 'Desired'],
  workersRunning: ['WorkersRunning', 'Average', 'Running'],
  workersBusy: ['WorkersBusy', 'Average', 'Busy'],
  // Utilisation: the classic celery-status figure, busy processes over pool processes.
  utilisation: ['Utilisation', 'Average', 'Utilisation (%)'],
  activeTasks: ['ActiveTasks', 'Average', 'Active tasks'],
  // The stuck-calculation condition's: one active task in the minute is enough.
  activeTasksMax: ['ActiveTasks', 'Maximum', 'Active tasks (max)'],
  workerSlots: ['WorkerSlots', 'Average', 'Worker processes'],
  // Scaling and the bridge itself.
  scaleOut: ['ScaleOut', 'Sum', 'Workers added'],
  scaleIn: ['ScaleIn', 'Sum', 'Workers retired'],
  timeToFirstWorker: ['TimeToFirstWorker', 'Maximum', 'Demand to first worker (s)'],
  cycleTimeMedian: ['CycleDuration', 'p50', 'Cycle time median (ms)'],
  cycleTimeMax: ['CycleDuration', 'Maximum', 'Cycle time max (ms)'],
  heartbeat: ['Heartbeat', 'SampleCount', 'Heartbeats'],
  brokerRefused: ['BrokerRefused', 'Maximum', 'Broker refuses the bridge'],
  bridgeEstimatedCostPerHour: [
    'EstimatedCostPerHour',
    'Average',
    "Bridge's own estimate (USD/h)",
    COST_PERIOD,
  ],
  // Published by the master (calculations-metric.ts) under the bridge's namespace and dimension.
  calculationsExecuting: ['CalculationsExecuting', 'Maximum', 'Running calcs'],
} as const satisfies Record<string, BridgeSeries>;

/** A name of {@link BRIDGE_SERIES}. */
export type BridgeSeriesName = keyof typeof BRIDGE_SERIES;

/**
 * A number for a metric math expression: plain decimal notation (no exponent), enough digits for prices
 * of a fraction of a cent.
 */
export function mathNumber(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`mathNumber: ${String(value)} is not a finite number.`);
  const fixed = value.toFixed(10).replace(/\.?0+$/, '');
  return fixed === '-0' ? '0' : fixed;
}

/** A metric of the dashboard: one statistic of one series, labelled for the legend. */
function metric(
  namespace: string,
  metricName: string,
  dimensionsMap: Record<string, string>,
  statistic: string,
  label: string,
  period: Duration,
): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace, metricName, dimensionsMap, statistic, label, period });
}

/** A metric math series of the dashboard: `expression` over the named `usingMetrics` (none for a SEARCH). */
function mathSeries(
  expression: string,
  usingMetrics: Record<string, cloudwatch.IMetric>,
  label: string,
  period: Duration,
): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({ expression, usingMetrics, label, period });
}

/** A cost figure (USD), on the cost figures' period. */
function costSeries(expression: string, usingMetrics: Record<string, cloudwatch.IMetric>, label: string) {
  return mathSeries(expression, usingMetrics, label, COST_PERIOD);
}

/** An alarm condition, a 0/1 series on the finest period so that an alarm counts it in minutes. */
function conditionSeries(
  expression: string,
  usingMetrics: Record<string, cloudwatch.IMetric>,
  label: string,
) {
  return mathSeries(expression, usingMetrics, label, FINE_PERIOD);
}

/** A rate in bytes per second (`bytesPerSecond`, an expression over `usingMetrics`) in MiB/s. */
function mebibytesPerSecond(
  bytesPerSecond: string,
  usingMetrics: Record<string, cloudwatch.IMetric>,
  label: string,
) {
  return mathSeries(`${bytesPerSecond} / 1048576`, usingMetrics, label, FINE_PERIOD);
}

/**
 * Metric factories of the cluster dashboard and its alarms, apart from the layout (as in
 * cdk-monitoring-constructs). Every bridge metric is built by {@link ClusterMetrics.bridge}, which only
 * accepts names of the bridge's METRIC_NAMES, so the dashboard cannot ask for a metric the bridge never emits.
 */
export class ClusterMetrics {
  constructor(
    readonly source: ClusterMetricsSource,
    readonly rates: CostRates,
  ) {}

  /** A bridge metric under the OqElastic namespace and the cluster's dimension. */
  bridge(metricName: MetricName, statistic: string, label: string, period = FINE_PERIOD): cloudwatch.Metric {
    const dimensions = { [CLUSTER_DIMENSION]: this.source.clusterDimension };
    return metric(METRIC_NAMESPACE, metricName, dimensions, statistic, label, period);
  }

  /** One of {@link BRIDGE_SERIES}: on its own period, or on `period` when given. */
  series(name: BridgeSeriesName, period?: Duration): cloudwatch.Metric {
    const [metricName, statistic, label, ownPeriod]: BridgeSeries = BRIDGE_SERIES[name];
    return this.bridge(metricName, statistic, label, period ?? ownPeriod);
  }

  /**
   * One series per calculation, summed over each period (or over the whole range, with setPeriodToTimeRange).
   */
  perCalculation(metricName: 'CalculationCost' | 'CalculationWorkerSeconds'): cloudwatch.MathExpression {
    // A dynamic label (CloudWatch "Use dynamic labels"): one legend entry per calculation.
    const label = `calc \${PROP('Dim.${CALCULATION_DIMENSION}')}`;
    const schema = `{${METRIC_NAMESPACE},${CLUSTER_DIMENSION},${CALCULATION_DIMENSION}}`;
    return mathSeries(
      `SEARCH('${schema} MetricName="${metricName}" ${CLUSTER_DIMENSION}="${this.source.clusterDimension}"', 'Sum', 300)`,
      {},
      label,
      COST_PERIOD,
    );
  }

  // Cost: running workers x the worker's hourly price, plus the master and EFS storage. USD per hour.
  workersCostPerHour(): cloudwatch.MathExpression {
    return costSeries(
      `FILL(running, 0) * ${mathNumber(this.rates.workerHourly)}`,
      { running: this.series('workersRunning', COST_PERIOD) },
      'Workers (USD/h)',
    );
  }
  masterCostPerHour(): cloudwatch.MathExpression {
    // A metric math result needs a time series: the master's constant price rides on its CPU metric's timestamps.
    return costSeries(
      `0 * masterCpu + ${mathNumber(this.rates.masterHourly)}`,
      { masterCpu: this.masterCpu(COST_PERIOD) },
      'Master (USD/h)',
    );
  }
  efsCostPerHour(): cloudwatch.MathExpression {
    // REPEAT carries the 15-minutely StorageBytes over the 5-minute periods between its datapoints; the outer
    // FILL covers the periods before the first one in the queried range (an alarm queries only its own
    // evaluation periods), which would otherwise leave the whole total missing.
    return costSeries(
      `FILL(FILL(efsBytes, REPEAT), 0) / ${STORAGE_BYTES_PER_GB} * ${mathNumber(this.rates.efsGbMonth)} / ${HOURS_PER_MONTH}`,
      { efsBytes: this.efsStorageBytes() },
      'EFS storage (USD/h)',
    );
  }
  /** Total estimated spend per hour: what the budget alarm watches. */
  costPerHour(): cloudwatch.MathExpression {
    return costSeries(
      'workers + master + efs',
      { workers: this.workersCostPerHour(), master: this.masterCostPerHour(), efs: this.efsCostPerHour() },
      'Estimated total (USD/h)',
    );
  }
  /** USD spent in each period: the hourly rate times the period's length in hours. */
  costInPeriod(): cloudwatch.MathExpression {
    return costSeries('total * PERIOD(total) / 3600', { total: this.costPerHour() }, 'Estimated spend (USD)');
  }
  /** Running total of the spend over the graph's time range. */
  cumulativeCost(): cloudwatch.MathExpression {
    return costSeries('RUNNING_SUM(spend)', { spend: this.costInPeriod() }, 'Cumulative spend (USD)');
  }

  /**
   * The work in flight (the queue's ready and unacked messages), for a condition's expression: `expression`
   * names the two series as `ready` and `unacked`, and `metrics` holds them under those names.
   */
  private workInFlight() {
    return {
      expression: '(FILL(ready, 0) + FILL(unacked, 0))',
      metrics: { ready: this.series('queueReady'), unacked: this.series('queueUnacked') },
    };
  }

  // Alarm conditions, as 0/1 series so that an alarm can require N minutes of them in a row. Sums are
  // parenthesised so that the reading does not hang on operator precedence.
  /** 1 while there is work in flight and no celery worker consumes the queue. */
  demandWithoutWorkers(): cloudwatch.MathExpression {
    const inFlight = this.workInFlight();
    return conditionSeries(
      `IF(${inFlight.expression} > 0 AND FILL(consumers, 0) == 0, 1, 0)`,
      { ...inFlight.metrics, consumers: this.series('consumers') },
      'Demand with no worker',
    );
  }
  /**
   * 1 while the engine reports a calculation running but no task runs and none waits: the engine's master
   * waits for results that will never come (a pool child died and celery acked its message anyway).
   */
  stuckCalculation(): cloudwatch.MathExpression {
    const inFlight = this.workInFlight();
    return conditionSeries(
      `IF(FILL(executing, 0) > 0 AND FILL(active, 0) == 0 AND ${inFlight.expression} == 0, 1, 0)`,
      {
        executing: this.series('calculationsExecuting'),
        active: this.series('activeTasksMax'),
        ...inFlight.metrics,
      },
      'Calculation waiting with no task',
    );
  }

  // The master: EC2's own metrics and the CloudWatch agent's (see master-agent-metrics.ts).
  private master(
    namespace: string,
    metricName: string,
    statistic: string,
    label: string,
    period = FINE_PERIOD,
  ) {
    const dimensions = { InstanceId: this.source.masterInstanceId };
    return metric(namespace, metricName, dimensions, statistic, label, period);
  }
  masterCpu(period = FINE_PERIOD): cloudwatch.Metric {
    return this.master('AWS/EC2', 'CPUUtilization', 'Average', 'CPU (%)', period);
  }
  masterStatusCheck(kind: 'System' | 'Instance'): cloudwatch.Metric {
    return this.master('AWS/EC2', `StatusCheckFailed_${kind}`, 'Maximum', `${kind} status check failed`);
  }
  masterMemory(): cloudwatch.Metric {
    return this.master(MASTER_AGENT_NAMESPACE, MASTER_MEMORY_METRIC, 'Maximum', 'Memory used (%)');
  }
  /** One series per mount point the agent watches. */
  masterDisk(): cloudwatch.MathExpression {
    return mathSeries(
      `SEARCH('{${MASTER_AGENT_NAMESPACE},InstanceId,path} MetricName="${MASTER_DISK_METRIC}" InstanceId="${this.source.masterInstanceId}"', 'Maximum', 300)`,
      {},
      // A dynamic label (CloudWatch "Use dynamic labels"): one legend entry per mount point.
      "${PROP('Dim.path')}",
      COST_PERIOD,
    );
  }

  // The worker service, from AWS/ECS (no Container Insights needed).
  workerServiceUtilisation(metricName: 'CPUUtilization' | 'MemoryUtilization'): cloudwatch.Metric {
    const dimensions = {
      ClusterName: this.source.workerClusterName,
      ServiceName: this.source.workerServiceName,
    };
    const label = metricName === 'CPUUtilization' ? 'Worker CPU (%)' : 'Worker memory (%)';
    return metric('AWS/ECS', metricName, dimensions, 'Average', label, FINE_PERIOD);
  }

  // shared_dir (EFS).
  private efs(metricName: string, statistic: string, label: string, extra: Record<string, string> = {}) {
    const dimensions = { FileSystemId: this.source.fileSystemId, ...extra };
    return metric('AWS/EFS', metricName, dimensions, statistic, label, FINE_PERIOD);
  }
  efsStorageBytes(): cloudwatch.Metric {
    return this.efs('StorageBytes', 'Average', 'Stored bytes', { StorageClass: 'Total' }).with({
      period: COST_PERIOD,
    });
  }
  efsBurstCreditBalance(): cloudwatch.Metric {
    return this.efs('BurstCreditBalance', 'Minimum', 'Burst credits (bytes)');
  }
  /** Bytes per second actually moved, and the ceiling EFS permits now. In MiB/s. */
  efsThroughput(): cloudwatch.MathExpression {
    const io = this.efs('TotalIOBytes', 'Sum', 'Total I/O');
    return mebibytesPerSecond('io / PERIOD(io)', { io }, 'Throughput (MiB/s)');
  }
  efsPermittedThroughput(): cloudwatch.MathExpression {
    const permitted = this.efs('PermittedThroughput', 'Average', 'Permitted');
    return mebibytesPerSecond('permitted', { permitted }, 'Permitted (MiB/s)');
  }
}
