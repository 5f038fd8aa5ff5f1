/**
 * Cost per calculation: attributes the worker time of one observation interval to the engine calculations
 * whose tasks the workers were running, from celery's `active` replies. Pure: no I/O, no clock.
 *
 * Why the replies carry a calculation id (engine 3.11.5, openquake/baselib/parallel.py): the master submits
 * `safely_call.delay(func, args, task_no, monitor)`; `args` are `Pickled` objects whose repr is
 * `<Pickled Cls #calc_id size>` (the id is empty for objects without `calc_id`), and the monitor's repr
 * (openquake/baselib/performance.py, `Monitor.__repr__`) is `<Monitor #calc_id operation[user]>`, with the
 * calculation id set by `Starmap.__init__` from the datastore's file name. Celery's `active` shows the
 * sender's `argsrepr`, so the observe adapter parses the id into `ActiveTask.calculationId`.
 *
 * The model: a worker costs its full hourly price while it runs, whatever its pool does. Each of its
 * `poolSize` processes is one slot; a task holds one slot, so a task running for the whole interval on a
 * worker of four slots is charged a quarter of that worker's seconds. Slots nobody used are idle time, and
 * tasks without a readable id are unknown time, so calculations + unknown + idle = the fleet's worker-seconds.
 */
import type { WorkerObservation } from '../observe/observation.ts';
import {
  CALCULATION_DIMENSION,
  CLUSTER_DIMENSION,
  METRIC_NAMESPACE,
} from '../../../contract/metric-names.ts';

/** The knobs of the attribution. */
export interface CostAttributionOptions {
  /** USD per worker-hour, from the price table for the task size (the bridge's OQE_WORKER_HOURLY_COST). */
  readonly workerHourlyCost: number;
  /** Slots per worker when `stats` did not report the pool size (the bridge's OQE_SLOTS_PER_WORKER). */
  readonly slotsPerWorkerFallback: number;
  /**
   * The longest interval one observation may stand for. After a gap (bridge restart, broker outage) the time
   * in the gap is not attributed: nobody saw which tasks ran then.
   */
  readonly maxIntervalSeconds: number;
}

/** Worker time charged to one calculation. */
export interface CalculationCostShare {
  readonly calculationId: number;
  readonly workerSeconds: number;
  /** USD. */
  readonly cost: number;
}

/** Where the fleet's worker time went in one interval (or, summed, over many). */
export interface CostAttribution {
  /** Per calculation, in ascending id order. */
  readonly calculations: readonly CalculationCostShare[];
  /** Time of tasks whose arguments carried no calculation id. */
  readonly unknownWorkerSeconds: number;
  /** Time of slots that ran no task. */
  readonly idleWorkerSeconds: number;
  /** All worker time observed: the sum of the three parts above. */
  readonly workerSeconds: number;
}

/** Nothing attributed: the start of a running total. */
export const EMPTY_ATTRIBUTION: CostAttribution = {
  calculations: [],
  unknownWorkerSeconds: 0,
  idleWorkerSeconds: 0,
  workerSeconds: 0,
};

function requirePositive(name: keyof CostAttributionOptions, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(
      `CostAttributionOptions.${name} is ${String(value)}: it must be a positive finite number.`,
    );
  }
}

/**
 * Attributes the interval (previousAt, now] of worker time to calculations.
 *
 * @param previousAt when the previous observation was made (ms since epoch); undefined on the first cycle,
 *   which attributes nothing because the interval is unknown.
 * @param workers the live workers' replies of this cycle.
 * @param now when this observation was made (ms since epoch).
 */
export function attributeWorkerTime(
  previousAt: number | undefined,
  workers: readonly WorkerObservation[],
  now: number,
  options: CostAttributionOptions,
): CostAttribution {
  requirePositive('workerHourlyCost', options.workerHourlyCost);
  requirePositive('slotsPerWorkerFallback', options.slotsPerWorkerFallback);
  requirePositive('maxIntervalSeconds', options.maxIntervalSeconds);
  if (previousAt === undefined || now <= previousAt) return EMPTY_ATTRIBUTION;

  const start = Math.max(previousAt, now - options.maxIntervalSeconds * 1000);
  const intervalSeconds = (now - start) / 1000;
  const perCalculation = new Map<number, number>();
  let unknown = 0;
  let idle = 0;
  let total = 0;

  for (const worker of workers) {
    // A pool may briefly report more active tasks than its size (a reply raced a pool resize): never let a
    // slot count below the tasks seen make the shares exceed the worker's own time.
    const slots = Math.max(worker.poolSize ?? options.slotsPerWorkerFallback, worker.active.length, 1);
    let used = 0;
    for (const task of worker.active) {
      const taskStart = Math.min(now, Math.max(start, task.startedAt ?? start));
      const share = (now - taskStart) / 1000 / slots;
      used += share;
      if (task.calculationId === undefined) unknown += share;
      else perCalculation.set(task.calculationId, (perCalculation.get(task.calculationId) ?? 0) + share);
    }
    idle += intervalSeconds - used;
    total += intervalSeconds;
  }

  const perSecond = options.workerHourlyCost / 3600;
  const calculations = [...perCalculation.entries()]
    .sort(([a], [b]) => a - b)
    .map(([calculationId, workerSeconds]) => ({
      calculationId,
      workerSeconds,
      cost: workerSeconds * perSecond,
    }));
  return { calculations, unknownWorkerSeconds: unknown, idleWorkerSeconds: idle, workerSeconds: total };
}

/** Adds two attributions, for a running total per calculation (the bridge's `status` and the preview). */
export function addAttributions(a: CostAttribution, b: CostAttribution): CostAttribution {
  const merged = new Map<number, { workerSeconds: number; cost: number }>();
  for (const share of [...a.calculations, ...b.calculations]) {
    const sum = merged.get(share.calculationId) ?? { workerSeconds: 0, cost: 0 };
    merged.set(share.calculationId, {
      workerSeconds: sum.workerSeconds + share.workerSeconds,
      cost: sum.cost + share.cost,
    });
  }
  return {
    calculations: [...merged.entries()]
      .sort(([x], [y]) => x - y)
      .map(([calculationId, sum]) => ({ calculationId, ...sum })),
    unknownWorkerSeconds: a.unknownWorkerSeconds + b.unknownWorkerSeconds,
    idleWorkerSeconds: a.idleWorkerSeconds + b.idleWorkerSeconds,
    workerSeconds: a.workerSeconds + b.workerSeconds,
  };
}

/**
 * The CloudWatch Embedded Metric Format documents that publish one interval's attribution: one log line per
 * calculation with `CalculationWorkerSeconds` and `CalculationCost` under the dimensions Cluster and
 * CalculationId. The bridge writes each as one JSON line to stdout (the awslogs driver ships it).
 * Format: the EMF specification (`_aws.CloudWatchMetrics[].{Namespace, Dimensions, Metrics}`).
 */
export function calculationCostEmf(
  attribution: CostAttribution,
  clusterName: string,
  timestamp: number,
): Record<string, unknown>[] {
  return attribution.calculations.map((share) => ({
    _aws: {
      Timestamp: timestamp,
      CloudWatchMetrics: [
        {
          Namespace: METRIC_NAMESPACE,
          Dimensions: [[CLUSTER_DIMENSION, CALCULATION_DIMENSION]],
          Metrics: [
            { Name: 'CalculationWorkerSeconds', Unit: 'Seconds' },
            { Name: 'CalculationCost', Unit: 'None' },
          ],
        },
      ],
    },
    [CLUSTER_DIMENSION]: clusterName,
    [CALCULATION_DIMENSION]: String(share.calculationId),
    CalculationWorkerSeconds: share.workerSeconds,
    CalculationCost: share.cost,
  }));
}
