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
  'CalculationWorkerSeconds',
] as const;

export type MetricName = (typeof METRIC_NAMES)[number];
