import { widgetSeries, type DashboardWidget, type MetricRowOptions } from './dashboard-body.ts';
import { evaluateMath, type MathContext, type Series } from './metric-math.ts';
import type { MetricStore } from './metric-store.ts';

/** CloudWatch's period when a metric row names none (dashboard body reference). */
export const DEFAULT_PERIOD_SECONDS = 300;

/** One line (or bar, or figure) of a widget, ready to draw. */
export interface EvaluatedSeries extends Series {
  readonly label: string;
  readonly yAxis: 'left' | 'right';
}

export interface EvaluatedWidget {
  /** Seconds since the start of the window of each grid point. */
  readonly times: number[];
  readonly periodSeconds: number;
  readonly series: EvaluatedSeries[];
}

/**
 * Evaluates a metric widget over [from, to) seconds of the store's clock, the way CloudWatch would: metric rows
 * become statistics per period, expression rows are computed from the rows they name, hidden rows are dropped.
 */
export function evaluateWidget(
  widget: DashboardWidget,
  store: MetricStore,
  from: number,
  to: number,
): EvaluatedWidget {
  const rows = widgetSeries(widget);
  const rowPeriods = (widget.properties.metrics ?? []).map((row) => {
    const last = row[row.length - 1];
    return (
      (typeof last === 'object' ? (last as MetricRowOptions).period : undefined) ?? DEFAULT_PERIOD_SECONDS
    );
  });
  const period = widget.properties.setPeriodToTimeRange
    ? to - from
    : Math.min(...rowPeriods, DEFAULT_PERIOD_SECONDS);
  const length = Math.max(1, Math.floor((to - from) / period));
  const cache = new Map<string, Series[]>();
  const evaluating = new Set<string>();

  const rowValues = (index: number): Series[] => {
    const row = rows[index]!;
    if (row.metric) {
      return store.series(row.metric, row.metric.stat ?? 'Average', from, period, length);
    }
    const result = evaluateMath(row.expression!, ctx);
    return typeof result === 'number' ? [{ values: Array<number>(length).fill(result) }] : result;
  };
  const ctx: MathContext = {
    length,
    periodSeconds: period,
    lookup: (id) => {
      const cached = cache.get(id);
      if (cached) return cached;
      const index = rows.findIndex((r) => r.id === id);
      if (index < 0) throw new Error(`preview: "${widget.properties.title}" refers to an unknown id ${id}`);
      if (evaluating.has(id))
        throw new Error(`preview: "${widget.properties.title}" has a cycle through ${id}`);
      evaluating.add(id);
      const values = rowValues(index);
      evaluating.delete(id);
      cache.set(id, values);
      return values;
    },
    // The grid is the widget's period; the SEARCH rows of this dashboard ask for the same one.
    search: (query, stat) => store.search(query, stat, from, period, length),
  };

  const series: EvaluatedSeries[] = [];
  rows.forEach((row, index) => {
    if (!row.visible) return;
    const values = row.id ? ctx.lookup(row.id) : rowValues(index);
    for (const s of values) {
      const label = row.label?.includes('${PROP(')
        ? row.label.replace(/\$\{PROP\('Dim\.(\w+)'\)\}/g, (_, d: string) => s.dimensions?.[d] ?? '')
        : s.label
          ? row.label
            ? `${row.label} ${s.label}`
            : s.label
          : (row.label ?? '');
      series.push({ label, yAxis: row.yAxis, values: s.values });
    }
  });
  return { times: Array.from({ length }, (_, i) => i * period), periodSeconds: period, series };
}
