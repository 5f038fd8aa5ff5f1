/**
 * Every metric the bridge publishes, in CloudWatch Embedded Metric Format, under one namespace.
 * The dashboard and alarms import this list, and a test checks the two agree.
 */
export const METRIC_NAMESPACE = 'OqElastic';

export const METRIC_NAMES = [
  'QueueReady',
  'QueueUnacked',
  'Consumers',
  'WorkersDesired',
  'WorkersRunning',
  'WorkersBusy',
  'ActiveTasks',
  'WorkerSlots',
  'Utilisation',
  'EstimatedCostPerHour',
  'ScaleOut',
  'ScaleIn',
  'CycleDuration',
  'Heartbeat',
  'TimeToFirstWorker',
  /**
   * 1 while RabbitMQ or its management API refuses the bridge's user, password or vhost (a configuration error,
   * not an outage), else 0; published only by a bridge wired to tell (bridge/src/cli/bridge-runtime.ts).
   */
  'BrokerRefused',
  'CalculationWorkerSeconds',
  /** USD of worker time attributed to one calculation in the cycle (bridge/src/report/calculation-cost.ts); Sum. */
  'CalculationCost',
  /**
   * Calculations the engine reports running (`is_running` in the WebUI/API's `/v1/calc/list`, or
   * `status = 'executing'` in the engine database); the stuck-calculation alarm watches it. Published by the
   * master, not the bridge: a timer counts the database's executing jobs every minute
   * (cdk/lib/master/calculations-metric.ts), under this namespace and the same `Cluster` dimension.
   */
  'CalculationsExecuting',
] as const;

export type MetricName = (typeof METRIC_NAMES)[number];

/**
 * Every bridge metric carries this dimension, valued with the worker ECS cluster's name (OQE_ECS_CLUSTER; the
 * local backends use their own cluster label), so that two stacks in one account and region never mix figures.
 */
export const CLUSTER_DIMENSION = 'Cluster';

/**
 * The per-calculation metrics (`CalculationWorkerSeconds`, `CalculationCost`: sums over each cycle's interval)
 * carry this dimension as well as `Cluster`, valued with the engine's calculation id (job id) as a decimal string.
 */
export const CALCULATION_DIMENSION = 'CalculationId';
