import { evaluateMath, type MathContext, type Series } from './metric-math.ts';
import type { MetricStore } from './metric-store.ts';

/** The properties of a synthesized `AWS::CloudWatch::Alarm` that decide its state. */
export interface AlarmDefinition {
  readonly Namespace?: string;
  readonly MetricName?: string;
  readonly Dimensions?: { Name: string; Value: unknown }[];
  readonly Statistic?: string;
  readonly ExtendedStatistic?: string;
  readonly Period?: number;
  readonly Metrics?: {
    Id: string;
    Expression?: string;
    ReturnData?: boolean;
    Period?: number;
    MetricStat?: {
      Metric: { Namespace: string; MetricName: string; Dimensions?: { Name: string }[] };
      Stat: string;
      Period: number;
    };
  }[];
  readonly Threshold: number;
  readonly ComparisonOperator: string;
  readonly EvaluationPeriods: number;
  readonly DatapointsToAlarm?: number;
  readonly TreatMissingData?: string;
}

export type AlarmState = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

const COMPARE: Record<string, (v: number, t: number) => boolean> = {
  GreaterThanThreshold: (v, t) => v > t,
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

/**
 * The state of an alarm at `at` seconds, from the store: the last EvaluationPeriods periods, M of N
 * breaching (DatapointsToAlarm), missing points treated as the alarm says (CloudWatch "Configuring how
 * CloudWatch alarms treat missing data"; `missing` and `ignore` keep the evaluation to the points present).
 */
export function alarmState(alarm: AlarmDefinition, store: MetricStore, at: number): AlarmState {
  const period =
    alarm.Period ??
    alarm.Metrics?.find((m) => m.MetricStat)?.MetricStat?.Period ??
    alarm.Metrics?.[0]?.Period ??
    60;
  const n = alarm.EvaluationPeriods;
  const from = at - n * period;
  const key = (namespace: string, metricName: string, dims: { Name: string }[] = []) => ({
    namespace,
    metricName,
    dimensions: Object.fromEntries(dims.map((d) => [d.Name, ''])),
  });
  let values: (number | undefined)[];
  if (alarm.Metrics) {
    const queries = alarm.Metrics;
    const cache = new Map<string, Series[]>();
    const ctx: MathContext = {
      length: n,
      periodSeconds: period,
      lookup: (id) => {
        const cached = cache.get(id);
        if (cached) return cached;
        const q = queries.find((m) => m.Id === id);
        if (!q) throw new Error(`alarm: unknown id ${id}`);
        const out = q.MetricStat
          ? store.series(
              key(
                q.MetricStat.Metric.Namespace,
                q.MetricStat.Metric.MetricName,
                q.MetricStat.Metric.Dimensions,
              ),
              q.MetricStat.Stat,
              from,
              period,
              n,
            )
          : toSeries(evaluateMath(q.Expression!, ctx), n);
        cache.set(id, out);
        return out;
      },
      search: (query, stat) => store.search(query, stat, from, period, n),
    };
    const returned = queries.find((m) => m.ReturnData !== false) ?? queries[0]!;
    values = ctx.lookup(returned.Id)[0]?.values ?? Array<undefined>(n).fill(undefined);
  } else {
    const stat = alarm.Statistic ?? alarm.ExtendedStatistic ?? 'Average';
    values =
      store.series(key(alarm.Namespace!, alarm.MetricName!, alarm.Dimensions), stat, from, period, n)[0]
        ?.values ?? Array<undefined>(n).fill(undefined);
  }
  const compare = COMPARE[alarm.ComparisonOperator];
  if (!compare) throw new Error(`alarm: comparison ${alarm.ComparisonOperator} is not implemented`);
  const m = alarm.DatapointsToAlarm ?? n;
  const missing = alarm.TreatMissingData ?? 'missing';
  let breaching = 0;
  let present = 0;
  for (const v of values) {
    if (v === undefined) {
      if (missing === 'breaching') breaching++;
      continue;
    }
    present++;
    if (compare(v, alarm.Threshold)) breaching++;
  }
  if (breaching >= m) return 'ALARM';
  if (present === 0 && (missing === 'missing' || missing === 'ignore')) return 'INSUFFICIENT_DATA';
  return 'OK';
}

function toSeries(result: Series[] | number, n: number): Series[] {
  return typeof result === 'number' ? [{ values: Array<number>(n).fill(result) }] : result;
}
