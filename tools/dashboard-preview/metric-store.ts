import { percentile } from '../../common/percentile.ts';
import type { Series, Values } from './metric-math.ts';

/** One metric stream: a namespace, a name and its dimensions. */
export interface MetricKey {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

interface Stream extends MetricKey {
  readonly samples: { t: number; v: number }[];
}

/** A CloudWatch statistic over the samples of one period. */
export function statistic(name: string, values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const p = /^p(\d+(?:\.\d+)?)$/.exec(name);
  if (p)
    return percentile(
      [...values].sort((a, b) => a - b),
      Number(p[1]),
    );
  switch (name) {
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Maximum':
      return Math.max(...values);
    case 'Minimum':
      return Math.min(...values);
    case 'SampleCount':
      return values.length;
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    default:
      throw new Error(`preview: statistic ${name} is not implemented`);
  }
}

/**
 * The preview's stand-in for CloudWatch: samples in, statistics per period out. Streams match on namespace,
 * name and dimension names; the preview holds one cluster, so dimension values only tell series apart
 * (one per calculation, one per disk), they are not compared with the dashboard's placeholders.
 */
export class MetricStore {
  private readonly streams = new Map<string, Stream>();

  /** Records one sample at `t` seconds. */
  put(key: MetricKey, t: number, value: number): void {
    const id = JSON.stringify([key.namespace, key.metricName, Object.entries(key.dimensions).sort()]);
    let stream = this.streams.get(id);
    if (!stream) {
      stream = { ...key, samples: [] };
      this.streams.set(id, stream);
    }
    stream.samples.push({ t, v: value });
  }

  private matching(namespace: string, metricName: string, dimensionNames: readonly string[]): Stream[] {
    const wanted = [...dimensionNames].sort().join(',');
    return [...this.streams.values()].filter(
      (s) =>
        s.namespace === namespace &&
        s.metricName === metricName &&
        Object.keys(s.dimensions).sort().join(',') === wanted,
    );
  }

  private aggregate(stream: Stream, stat: string, from: number, period: number, length: number): Values {
    const buckets: number[][] = Array.from({ length }, () => []);
    for (const { t, v } of stream.samples) {
      const i = Math.floor((t - from) / period);
      if (i >= 0 && i < length) buckets[i]!.push(v);
    }
    return buckets.map((b) => statistic(stat, b));
  }

  /** The series of one metric (one per matching stream), as statistics on the grid from `from` (seconds). */
  series(key: MetricKey, stat: string, from: number, period: number, length: number): Series[] {
    return this.matching(key.namespace, key.metricName, Object.keys(key.dimensions)).map((s) => ({
      values: this.aggregate(s, stat, from, period, length),
    }));
  }

  /**
   * A SEARCH expression: `{Namespace,Dim1,Dim2} MetricName="X" ...`. Every stream with exactly those
   * dimensions and that name, labelled with its dimension values other than the cluster's.
   */
  search(query: string, stat: string, from: number, period: number, length: number): Series[] {
    const m = /^\{([^}]*)\}\s+MetricName="([^"]+)"/.exec(query);
    if (!m) throw new Error(`preview: cannot read the SEARCH query ${query}`);
    const [namespace, ...dimensionNames] = m[1]!.split(',').map((x) => x.trim());
    const filtered = new Set([...query.matchAll(/(\w+)="/g)].map((x) => x[1]));
    return this.matching(namespace!, m[2]!, dimensionNames)
      .map((s) => ({
        label: dimensionNames
          .filter((d) => !filtered.has(d))
          .map((d) => s.dimensions[d])
          .join(' '),
        dimensions: s.dimensions,
        values: this.aggregate(s, stat, from, period, length),
      }))
      .sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }));
  }
}
