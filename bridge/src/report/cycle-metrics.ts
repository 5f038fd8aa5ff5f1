/**
 * The per-cycle metrics, as one CloudWatch Embedded Metric Format document (the EMF specification:
 * `_aws.CloudWatchMetrics[].{Namespace, Dimensions, Metrics}` plus the values as top-level members).
 * Written as one JSON line to stdout, the awslogs driver ships it and CloudWatch extracts the metrics:
 * no PutMetricData calls, no extra IAM permission.
 */
import type { ActionResult } from '../act/action-result.ts';
import { isIdle } from '../decide/decide.ts';
import type { Decision } from '../decide/decision.ts';
import type { Observation } from '../observe/observation.ts';
import { HOURS_PER_MONTH, STORAGE_BYTES_PER_GB } from '../../../contract/prices.ts';
import { CLUSTER_DIMENSION, METRIC_NAMESPACE, type MetricName } from '../../../contract/metric-names.ts';

/** One cycle's figures by metric name; a metric is absent when its source was not observed. */
export type CycleMetrics = Partial<Record<MetricName, number>>;

const UNITS: Partial<Record<MetricName, string>> = {
  Utilisation: 'Percent',
  CycleDuration: 'Milliseconds',
  TimeToFirstWorker: 'Seconds',
  EstimatedCostPerHour: 'None',
};

export interface CycleMetricsInput {
  readonly observation: Observation;
  readonly decision: Decision;
  readonly action: ActionResult;
  readonly durationMs: number;
  /** USD per worker-hour (ScalingPolicy.workerHourlyCost). */
  readonly workerHourlyCost: number;
  /** USD per GB-month (GB = {@link STORAGE_BYTES_PER_GB} bytes) of shared_dir storage; 0 to leave storage out. */
  readonly storageGbMonthCost?: number;
  /** Seconds from the first demand at zero workers to the first worker answering, when one completed. */
  readonly timeToFirstWorkerSeconds?: number;
  /** Whether the broker or the management API refuses the bridge's credentials or vhost this cycle. */
  readonly configurationRefused?: boolean;
}

/** The figures of one cycle. Missing sources leave their metrics out rather than publishing zeros. */
export function cycleMetrics(input: CycleMetricsInput): CycleMetrics {
  const { observation: o, decision, action } = input;
  const m: CycleMetrics = { Heartbeat: 1, CycleDuration: input.durationMs, WorkersDesired: decision.desired };
  if (o.queue) {
    m.QueueReady = o.queue.ready;
    m.QueueUnacked = o.queue.unacked;
    m.Consumers = o.queue.consumers;
  }
  if (o.compute) {
    m.WorkersRunning = o.compute.running;
    const billed = o.compute.running + o.compute.pending;
    const storage = o.sharedDir
      ? (o.sharedDir.sizeBytes / STORAGE_BYTES_PER_GB) * ((input.storageGbMonthCost ?? 0) / HOURS_PER_MONTH)
      : 0;
    m.EstimatedCostPerHour = billed * input.workerHourlyCost + storage;
  }
  if (o.workers) {
    const slotsFallback = decision.slotsPerWorker ?? 1;
    const active = o.workers.reduce((s, w) => s + w.active.length, 0);
    const slots = o.workers.reduce((s, w) => s + (w.poolSize ?? slotsFallback), 0);
    m.WorkersBusy = o.workers.filter((w) => !isIdle(w)).length;
    m.ActiveTasks = active;
    m.WorkerSlots = slots;
    m.Utilisation = slots > 0 ? (100 * active) / slots : 0;
  }
  m.ScaleOut = action.kind === 'scaleOut' ? Math.max(0, (action.to ?? 0) - (action.from ?? 0)) : 0;
  m.ScaleIn = action.retired.length;
  if (input.configurationRefused !== undefined) m.BrokerRefused = input.configurationRefused ? 1 : 0;
  if (input.timeToFirstWorkerSeconds !== undefined) m.TimeToFirstWorker = input.timeToFirstWorkerSeconds;
  return m;
}

/** The EMF document for one cycle's metrics under the `Cluster` dimension. */
export function cycleMetricsEmf(
  metrics: CycleMetrics,
  clusterName: string,
  timestamp: number,
): Record<string, unknown> {
  const names = Object.keys(metrics) as MetricName[];
  return {
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [[CLUSTER_DIMENSION]],
          Metrics: names.map((name) => ({ Name: name, Unit: UNITS[name] ?? 'Count' })),
        },
      ],
    },
    [CLUSTER_DIMENSION]: clusterName,
    ...metrics,
  };
}
