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
 * A number for a metric math expression: plain decimal notation (no exponent), enough digits for prices
 * of a fraction of a cent.
 */
export function mathNumber(value: number): string {
  if (!Number.isFinite(value)) throw new Error(`mathNumber: ${String(value)} is not a finite number.`);
  const fixed = value.toFixed(10).replace(/\.?0+$/, '');
  return fixed === '-0' ? '0' : fixed;
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
    return new cloudwatch.Metric({
      namespace: METRIC_NAMESPACE,
      metricName,
      dimensionsMap: { [CLUSTER_DIMENSION]: this.source.clusterDimension },
      statistic,
      label,
      period,
    });
  }

  // Queue: the engine's `celery` queue; demand is ready + unacked (work in flight).
  queueReady(): cloudwatch.Metric {
    return this.bridge('QueueReady', 'Maximum', 'Ready');
  }
  queueUnacked(): cloudwatch.Metric {
    return this.bridge('QueueUnacked', 'Maximum', 'Unacked (running or reserved)');
  }
  consumers(): cloudwatch.Metric {
    return this.bridge('Consumers', 'Minimum', 'Consumers');
  }

  // Workers: desired (what the bridge asked for), running (units up), busy (running at least one task).
  workersDesired(): cloudwatch.Metric {
    return this.bridge('WorkersDesired', 'Maximum', 'Desired');
  }
  workersRunning(period = FINE_PERIOD): cloudwatch.Metric {
    return this.bridge('WorkersRunning', 'Average', 'Running', period);
  }
  workersBusy(): cloudwatch.Metric {
    return this.bridge('WorkersBusy', 'Average', 'Busy');
  }

  // Utilisation: the classic celery-status figure, busy processes over pool processes.
  utilisation(): cloudwatch.Metric {
    return this.bridge('Utilisation', 'Average', 'Utilisation (%)');
  }
  activeTasks(): cloudwatch.Metric {
    return this.bridge('ActiveTasks', 'Average', 'Active tasks');
  }
  workerSlots(): cloudwatch.Metric {
    return this.bridge('WorkerSlots', 'Average', 'Worker processes');
  }

  // Scaling and the bridge itself.
  scaleOut(): cloudwatch.Metric {
    return this.bridge('ScaleOut', 'Sum', 'Workers added');
  }
  scaleIn(): cloudwatch.Metric {
    return this.bridge('ScaleIn', 'Sum', 'Workers retired');
  }
  timeToFirstWorker(): cloudwatch.Metric {
    return this.bridge('TimeToFirstWorker', 'Maximum', 'Demand to first worker (s)');
  }
  cycleDuration(statistic: 'p50' | 'Maximum'): cloudwatch.Metric {
    return this.bridge(
      'CycleDuration',
      statistic,
      `Cycle time ${statistic === 'p50' ? 'median' : 'max'} (ms)`,
    );
  }
  heartbeat(): cloudwatch.Metric {
    return this.bridge('Heartbeat', 'SampleCount', 'Heartbeats');
  }
  brokerRefused(): cloudwatch.Metric {
    return this.bridge('BrokerRefused', 'Maximum', 'Broker refuses the bridge');
  }
  bridgeEstimatedCostPerHour(): cloudwatch.Metric {
    return this.bridge('EstimatedCostPerHour', 'Average', "Bridge's own estimate (USD/h)", COST_PERIOD);
  }
  calculationsExecuting(): cloudwatch.Metric {
    return this.bridge('CalculationsExecuting', 'Maximum', 'Running calcs');
  }

  /**
   * One series per calculation, summed over each period (or over the whole range, with setPeriodToTimeRange).
   */
  perCalculation(metricName: 'CalculationCost' | 'CalculationWorkerSeconds'): cloudwatch.MathExpression {
    // A dynamic label (CloudWatch "Use dynamic labels"): one legend entry per calculation.
    const label = `calc \${PROP('Dim.${CALCULATION_DIMENSION}')}`;
    const schema = `{${METRIC_NAMESPACE},${CLUSTER_DIMENSION},${CALCULATION_DIMENSION}}`;
    return new cloudwatch.MathExpression({
      expression: `SEARCH('${schema} MetricName="${metricName}" ${CLUSTER_DIMENSION}="${this.source.clusterDimension}"', 'Sum', 300)`,
      label,
      period: COST_PERIOD,
      usingMetrics: {},
    });
  }

  // Cost: running workers x the worker's hourly price, plus the master and EFS storage. USD per hour.
  workersCostPerHour(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `FILL(running, 0) * ${mathNumber(this.rates.workerHourly)}`,
      usingMetrics: { running: this.workersRunning(COST_PERIOD) },
      label: 'Workers (USD/h)',
      period: COST_PERIOD,
    });
  }
  masterCostPerHour(): cloudwatch.MathExpression {
    // A metric math result needs a time series: the master's constant price rides on its CPU metric's timestamps.
    return new cloudwatch.MathExpression({
      expression: `0 * masterCpu + ${mathNumber(this.rates.masterHourly)}`,
      usingMetrics: { masterCpu: this.masterCpu(COST_PERIOD) },
      label: 'Master (USD/h)',
      period: COST_PERIOD,
    });
  }
  efsCostPerHour(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      // REPEAT carries the 15-minutely StorageBytes over the 5-minute periods between its datapoints; the outer
      // FILL covers the periods before the first one in the queried range (an alarm queries only its own
      // evaluation periods), which would otherwise leave the whole total missing.
      expression: `FILL(FILL(efsBytes, REPEAT), 0) / ${STORAGE_BYTES_PER_GB} * ${mathNumber(this.rates.efsGbMonth)} / ${HOURS_PER_MONTH}`,
      usingMetrics: { efsBytes: this.efsStorageBytes() },
      label: 'EFS storage (USD/h)',
      period: COST_PERIOD,
    });
  }
  /** Total estimated spend per hour: what the budget alarm watches. */
  costPerHour(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'workers + master + efs',
      usingMetrics: {
        workers: this.workersCostPerHour(),
        master: this.masterCostPerHour(),
        efs: this.efsCostPerHour(),
      },
      label: 'Estimated total (USD/h)',
      period: COST_PERIOD,
    });
  }
  /** USD spent in each period: the hourly rate times the period's length in hours. */
  costInPeriod(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'total * PERIOD(total) / 3600',
      usingMetrics: { total: this.costPerHour() },
      label: 'Estimated spend (USD)',
      period: COST_PERIOD,
    });
  }
  /** Running total of the spend over the graph's time range. */
  cumulativeCost(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'RUNNING_SUM(spend)',
      usingMetrics: { spend: this.costInPeriod() },
      label: 'Cumulative spend (USD)',
      period: COST_PERIOD,
    });
  }

  // Alarm conditions, as 0/1 series so that an alarm can require N minutes of them in a row. Sums are
  // parenthesised so that the reading does not hang on operator precedence.
  /** 1 while there is work in flight and no celery worker consumes the queue. */
  demandWithoutWorkers(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'IF((FILL(ready, 0) + FILL(unacked, 0)) > 0 AND FILL(consumers, 0) == 0, 1, 0)',
      usingMetrics: { ready: this.queueReady(), unacked: this.queueUnacked(), consumers: this.consumers() },
      label: 'Demand with no worker',
      period: FINE_PERIOD,
    });
  }
  /**
   * 1 while the engine reports a calculation running but no task runs and none waits: the engine's master
   * waits for results that will never come (a pool child died and celery acked its message anyway).
   */
  stuckCalculation(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression:
        'IF(FILL(executing, 0) > 0 AND FILL(active, 0) == 0 AND (FILL(ready, 0) + FILL(unacked, 0)) == 0, 1, 0)',
      usingMetrics: {
        executing: this.calculationsExecuting(),
        active: this.bridge('ActiveTasks', 'Maximum', 'Active tasks (max)'),
        ready: this.queueReady(),
        unacked: this.queueUnacked(),
      },
      label: 'Calculation waiting with no task',
      period: FINE_PERIOD,
    });
  }

  // The master: EC2's own metrics and the CloudWatch agent's (see master-agent-metrics.ts).
  masterCpu(period = FINE_PERIOD): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/EC2',
      metricName: 'CPUUtilization',
      dimensionsMap: { InstanceId: this.source.masterInstanceId },
      statistic: 'Average',
      label: 'CPU (%)',
      period,
    });
  }
  masterStatusCheck(kind: 'System' | 'Instance'): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/EC2',
      metricName: `StatusCheckFailed_${kind}`,
      dimensionsMap: { InstanceId: this.source.masterInstanceId },
      statistic: 'Maximum',
      label: `${kind} status check failed`,
      period: FINE_PERIOD,
    });
  }
  masterMemory(): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: MASTER_AGENT_NAMESPACE,
      metricName: MASTER_MEMORY_METRIC,
      dimensionsMap: { InstanceId: this.source.masterInstanceId },
      statistic: 'Maximum',
      label: 'Memory used (%)',
      period: FINE_PERIOD,
    });
  }
  /** One series per mount point the agent watches. */
  masterDisk(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${MASTER_AGENT_NAMESPACE},InstanceId,path} MetricName="${MASTER_DISK_METRIC}" InstanceId="${this.source.masterInstanceId}"', 'Maximum', 300)`,
      // A dynamic label (CloudWatch "Use dynamic labels"): one legend entry per mount point.
      label: "${PROP('Dim.path')}",
      period: COST_PERIOD,
      usingMetrics: {},
    });
  }

  // The worker service, from AWS/ECS (no Container Insights needed).
  workerServiceUtilisation(metricName: 'CPUUtilization' | 'MemoryUtilization'): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/ECS',
      metricName,
      dimensionsMap: {
        ClusterName: this.source.workerClusterName,
        ServiceName: this.source.workerServiceName,
      },
      statistic: 'Average',
      label: metricName === 'CPUUtilization' ? 'Worker CPU (%)' : 'Worker memory (%)',
      period: FINE_PERIOD,
    });
  }

  // shared_dir (EFS).
  private efs(metricName: string, statistic: string, label: string, extra: Record<string, string> = {}) {
    return new cloudwatch.Metric({
      namespace: 'AWS/EFS',
      metricName,
      dimensionsMap: { FileSystemId: this.source.fileSystemId, ...extra },
      statistic,
      label,
      period: FINE_PERIOD,
    });
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
    return new cloudwatch.MathExpression({
      expression: 'io / PERIOD(io) / 1048576',
      usingMetrics: { io: this.efs('TotalIOBytes', 'Sum', 'Total I/O') },
      label: 'Throughput (MiB/s)',
      period: FINE_PERIOD,
    });
  }
  efsPermittedThroughput(): cloudwatch.MathExpression {
    return new cloudwatch.MathExpression({
      expression: 'permitted / 1048576',
      usingMetrics: { permitted: this.efs('PermittedThroughput', 'Average', 'Permitted') },
      label: 'Permitted (MiB/s)',
      period: FINE_PERIOD,
    });
  }
}
