/**
 * The dashboard's metric math and alarm conditions, evaluated on known data. CloudWatch itself is not
 * available here (moto does not evaluate metric math), so the preview's evaluator stands in for it; its own
 * semantics are tested first, against the rules of the CloudWatch metric math reference.
 */
import { describe, expect, it } from 'vitest';
import { Template } from 'aws-cdk-lib/assertions';
import { buildDashboardSampleStack } from '../../tools/dashboard-preview/dashboard-sample-stack.ts';
import { alarmState, type AlarmDefinition } from '../../tools/dashboard-preview/alarm-state.ts';
import { readDashboardBody, type DashboardBody } from '../../tools/dashboard-preview/dashboard-body.ts';
import { evaluateWidget } from '../../tools/dashboard-preview/evaluate-widget.ts';
import { evaluateMath, type MathContext, type Series } from '../../tools/dashboard-preview/metric-math.ts';
import { MetricStore, type MetricKey } from '../../tools/dashboard-preview/metric-store.ts';
import { renderDashboardSvg } from '../../tools/dashboard-preview/svg-dashboard.ts';
import { syntheticRun } from '../../tools/dashboard-preview/synthetic-run.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost } from '../../contract/prices.ts';

function context(series: Record<string, Series[]>, periodSeconds = 60): MathContext {
  const length = Object.values(series)[0]?.[0]?.values.length ?? 1;
  return {
    length,
    periodSeconds,
    lookup: (id) => {
      const s = series[id];
      if (!s) throw new Error(`no ${id}`);
      return s;
    },
    search: () => [],
  };
}

const values = (result: Series[] | number) =>
  typeof result === 'number' ? result : result.map((s) => s.values);

describe('metric math evaluator (the stand-in for CloudWatch)', () => {
  const a = [{ values: [1, undefined, 3, undefined] }];
  const b = [{ values: [0, 2, 0, 5] }];

  it('propagates missing points through arithmetic, and FILL replaces them', () => {
    expect(values(evaluateMath('a + b * 2', context({ a, b })))).toEqual([[1, undefined, 3, undefined]]);
    expect(values(evaluateMath('FILL(a, 0) + b', context({ a, b })))).toEqual([[1, 2, 3, 5]]);
    expect(values(evaluateMath('FILL(a, REPEAT)', context({ a, b })))).toEqual([[1, 1, 3, 3]]);
  });

  it('gives 1/0 for comparisons and logic, and IF picks pointwise', () => {
    expect(values(evaluateMath('IF(FILL(a, 0) > 0 AND b == 0, 1, 0)', context({ a, b })))).toEqual([
      [1, 0, 1, 0],
    ]);
    expect(values(evaluateMath('IF(NOT b, 7, b)', context({ a, b })))).toEqual([[7, 2, 7, 5]]);
  });

  it('knows PERIOD in seconds and RUNNING_SUM', () => {
    expect(values(evaluateMath('b * PERIOD(b) / 60', context({ a, b }, 300)))).toEqual([[0, 10, 0, 25]]);
    expect(values(evaluateMath('RUNNING_SUM(b)', context({ a, b })))).toEqual([[0, 2, 2, 7]]);
    expect(evaluateMath('2 * (3 + 4)', context({ a }))).toBe(14);
  });

  it('refuses what it does not implement, and bad syntax', () => {
    expect(() => evaluateMath('ANOMALY_DETECTION_BAND(a)', context({ a }))).toThrow(/does not implement/);
    expect(() => evaluateMath('a +', context({ a }))).toThrow(/unexpected end/);
  });
});

// One synth for the whole file (a few seconds each): the preview's worker size and a budget to alarm on.
const sample = buildDashboardSampleStack({ workerVcpu: 4, workerMemoryGiB: 16, hourlyBudget: 1 });
const template = Template.fromStack(sample.stack);
const body: DashboardBody = readDashboardBody(template.toJSON());
const rate = sample.dashboard.metrics.rates.workerHourly;

describe('the dashboard cost math, evaluated on a known hour', () => {
  it('three workers for an hour cost 3 worker-hours plus the master and the stored bytes', () => {
    const store = new MetricStore();
    const running: MetricKey = {
      namespace: 'OqElastic',
      metricName: 'WorkersRunning',
      dimensions: { Cluster: '' },
    };
    const cpu: MetricKey = {
      namespace: 'AWS/EC2',
      metricName: 'CPUUtilization',
      dimensions: { InstanceId: '' },
    };
    const bytes: MetricKey = {
      namespace: 'AWS/EFS',
      metricName: 'StorageBytes',
      dimensions: { FileSystemId: '', StorageClass: '' },
    };
    for (let t = 0; t < 3600; t += 5) store.put(running, t, 3);
    for (let t = 0; t < 3600; t += 60) store.put(cpu, t, 10);
    for (let t = 0; t < 3600; t += 900) store.put(bytes, t, 100 * 1024 ** 3);
    const spend = body.widgets.find((w) => w.properties.title === 'Estimated spend, last 24 hours')!;
    const [total] = evaluateWidget(spend, store, 0, 3600).series;
    const expected =
      3 * rate + DEFAULT_PRICES.ec2Hourly['m7i.large']! + (100 * DEFAULT_PRICES.efsStandardGbMonth) / 730;
    expect(rate).toBeCloseTo(fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', 4, 16), 12);
    expect(total?.values[0]).toBeCloseTo(expected, 9);

    // The cumulative line of the cost graph ends at the same figure, period by period.
    const graph = body.widgets.find((w) => w.properties.title === 'Estimated cost per hour, and cumulative')!;
    const cumulative = evaluateWidget(graph, store, 0, 3600).series.find((s) =>
      s.label.startsWith('Cumulative'),
    )!;
    expect(cumulative.values.at(-1)).toBeCloseTo(expected, 9);
  });
});

describe('the alarm conditions, evaluated on scenarios', () => {
  const alarms: Record<string, AlarmDefinition> = Object.fromEntries(
    Object.entries(template.findResources('AWS::CloudWatch::Alarm')).map(([id, r]) => [
      /Alarms(\w+?)[0-9A-F]{8}$/.exec(id)![1]!,
      r.Properties as AlarmDefinition,
    ]),
  );

  const bridge = (metricName: string): MetricKey => ({
    namespace: 'OqElastic',
    metricName,
    dimensions: { Cluster: '' },
  });

  /** The bridge's figures every 5 s for `minutes`, from `figures(t)`. */
  function bridgeRun(minutes: number, figures: (t: number) => Record<string, number>): MetricStore {
    const store = new MetricStore();
    for (let t = 0; t < minutes * 60; t += 5) {
      for (const [name, v] of Object.entries(figures(t))) store.put(bridge(name), t, v);
    }
    return store;
  }

  it('heartbeat: OK while the bridge reports, ALARM after 3 silent minutes', () => {
    const live = bridgeRun(10, () => ({ Heartbeat: 1 }));
    expect(alarmState(alarms.BridgeHeartbeatMissing!, live, 600)).toBe('OK');
    expect(alarmState(alarms.BridgeHeartbeatMissing!, live, 600 + 120)).toBe('OK');
    expect(alarmState(alarms.BridgeHeartbeatMissing!, live, 600 + 180)).toBe('ALARM');
  });

  it('demand without workers: ALARM only after 10 full minutes with no consumer', () => {
    const stuck = bridgeRun(20, (t) => ({ QueueReady: 40, QueueUnacked: 0, Consumers: t < 300 ? 2 : 0 }));
    expect(alarmState(alarms.DemandWithoutWorkers!, stuck, 300 + 540)).toBe('OK');
    expect(alarmState(alarms.DemandWithoutWorkers!, stuck, 300 + 600)).toBe('ALARM');
    const served = bridgeRun(20, () => ({ QueueReady: 40, QueueUnacked: 8, Consumers: 2 }));
    expect(alarmState(alarms.DemandWithoutWorkers!, served, 1200)).toBe('OK');
  });

  it('stuck calculation: a running calculation with no task and an empty queue for 30 minutes', () => {
    const figures = (active: number) => () => ({
      CalculationsExecuting: 1,
      ActiveTasks: active,
      QueueReady: 0,
      QueueUnacked: 0,
    });
    expect(alarmState(alarms.StuckCalculation!, bridgeRun(40, figures(0)), 2400)).toBe('ALARM');
    expect(alarmState(alarms.StuckCalculation!, bridgeRun(40, figures(3)), 2400)).toBe('OK');
    expect(alarmState(alarms.StuckCalculation!, bridgeRun(20, figures(0)), 1200)).toBe('OK');
  });

  it('spend above budget: ALARM when 16 workers run for 15 minutes against a 1 USD/h budget', () => {
    const store = bridgeRun(30, (t) => ({ WorkersRunning: t >= 600 ? 16 : 0 }));
    for (let t = 0; t < 1800; t += 60) {
      store.put({ namespace: 'AWS/EC2', metricName: 'CPUUtilization', dimensions: { InstanceId: '' } }, t, 5);
    }
    for (let t = 0; t < 1800; t += 900) {
      store.put(
        {
          namespace: 'AWS/EFS',
          metricName: 'StorageBytes',
          dimensions: { FileSystemId: '', StorageClass: '' },
        },
        t,
        1e9,
      );
    }
    expect(alarmState(alarms.SpendAboveBudget!, store, 600)).toBe('OK');
    expect(alarmState(alarms.SpendAboveBudget!, store, 1500)).toBe('ALARM');
  });
});

describe('the preview', () => {
  it('renders every widget of the synthesized body with the simulated run, and attributes its cost', () => {
    const run = syntheticRun(rate);
    expect(run.summary.peakWorkers).toBeGreaterThan(0);
    expect(run.summary.attributedWorkerHours).toBeGreaterThan(0);
    expect(run.summary.attributedWorkerHours).toBeLessThanOrEqual(run.summary.workerHours);

    const bars = body.widgets.find((w) => w.properties.title?.startsWith('Cost per calculation'))!;
    const perCalc = evaluateWidget(bars, run.store, 0, run.seconds).series;
    expect(perCalc.map((s) => s.label)).toEqual(run.calculations.map((c) => `calc ${c.id}`));
    const total = perCalc.reduce((sum, s) => sum + (s.values[0] ?? 0), 0);
    expect(total).toBeCloseTo(run.summary.attributedWorkerHours * rate, 6);

    const data = new Map(
      body.widgets.flatMap((w, i) =>
        w.type === 'metric' ? [[i, evaluateWidget(w, run.store, 0, run.seconds)]] : [],
      ),
    ) as Map<number, ReturnType<typeof evaluateWidget>>;
    for (const [i, d] of data) {
      const title = body.widgets[i]!.properties.title;
      expect(d.series.length, `series of "${title}"`).toBeGreaterThan(0);
      expect(
        d.series.some((s) => s.values.some((v) => v !== undefined)),
        `data in "${title}"`,
      ).toBe(true);
    }
    const svg = renderDashboardSvg({
      title: 't',
      caption: 'c',
      widgets: body.widgets,
      data,
      alarmStates: new Map(),
      seconds: run.seconds,
    });
    for (const w of body.widgets)
      if (w.properties.title) expect(svg).toContain(w.properties.title.replace(/&/g, '&amp;'));
  });
});
