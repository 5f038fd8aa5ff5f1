import { describe, expect, it } from 'vitest';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { calculationCostEmf } from '../../bridge/src/report/calculation-cost.ts';
import { cycleMetricsEmf } from '../../bridge/src/report/cycle-metrics.ts';
import { METRIC_NAMES, METRIC_NAMESPACE } from '../../contract/metric-names.ts';
import { DEFAULT_EFS_BURST_CREDIT_LOW_BYTES } from '../../cdk/lib/dashboard/cluster-alarms.ts';
import { buildDashboardSampleStack } from '../../tools/dashboard-preview/dashboard-sample-stack.ts';
import { mathNumber } from '../../cdk/lib/dashboard/cluster-metrics.ts';
import { readDashboardBody, widgetSeries } from '../../tools/dashboard-preview/dashboard-body.ts';
import { WIDGET_SIZES } from '../../cdk/lib/dashboard/widget-sizes.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost } from '../../contract/prices.ts';

// One synth for the default props and one with every option: CDK synthesis takes a few seconds.
const plain = buildDashboardSampleStack();
const plainTemplate = Template.fromStack(plain.stack);
const plainBody = readDashboardBody(plainTemplate.toJSON());
const full = buildDashboardSampleStack({
  alarmEmail: 'ops@example.org',
  hourlyBudget: 4.5,
  heartbeatMissingMinutes: 5,
  demandWithoutWorkersMinutes: 7,
  stuckCalculationMinutes: 45,
  efsBurstCreditLowBytes: 10e9,
  workerCpuArchitecture: 'arm64',
  workerVcpu: 4,
  workerMemoryGiB: 16,
  dashboardName: 'oqe-sample',
});
const fullTemplate = Template.fromStack(full.stack);
const fullBody = readDashboardBody(fullTemplate.toJSON());

type Emf = { CloudWatchMetrics: { Dimensions: string[][] }[] };

/** Every OqElastic metric name a template's dashboard and alarms refer to, SEARCH expressions included. */
function bridgeMetricNames(template: Template): Set<string> {
  const names = new Set<string>();
  for (const widget of readDashboardBody(template.toJSON()).widgets) {
    for (const series of widgetSeries(widget)) {
      if (series.metric?.namespace === METRIC_NAMESPACE) names.add(series.metric.metricName);
      const search = series.expression?.match(/SEARCH\('\{(\w+)[^}]*\} MetricName="(\w+)"/);
      if (search?.[1] === METRIC_NAMESPACE) names.add(search[2]!);
    }
  }
  for (const alarm of Object.values(template.findResources('AWS::CloudWatch::Alarm'))) {
    const p = alarm.Properties as {
      Namespace?: string;
      MetricName?: string;
      Metrics?: { MetricStat?: { Metric: { Namespace: string; MetricName: string } } }[];
    };
    if (p.Namespace === METRIC_NAMESPACE && p.MetricName) names.add(p.MetricName);
    for (const q of p.Metrics ?? []) {
      if (q.MetricStat?.Metric.Namespace === METRIC_NAMESPACE) names.add(q.MetricStat.Metric.MetricName);
    }
  }
  return names;
}

function alarmWithId(template: Template, idPart: string): Record<string, unknown> {
  const found = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
    id.includes(idPart),
  );
  expect(found, `one alarm whose logical id contains ${idPart}`).toHaveLength(1);
  return found[0]![1].Properties as Record<string, unknown>;
}

/** The one metric an alarm watches, whether CDK wrote it flat or (to keep its label) as a Metrics array. */
function watched(p: Record<string, unknown>): Record<string, unknown> {
  const q = (
    p.Metrics as { MetricStat?: { Metric: Record<string, unknown>; Stat: string; Period: number } }[]
  )?.[0];
  if (!q?.MetricStat) return p;
  const { Metric, Stat, Period } = q.MetricStat;
  return { ...p, Namespace: Metric.Namespace, MetricName: Metric.MetricName, Statistic: Stat, Period };
}

function expressionOf(properties: Record<string, unknown>, id?: string): string {
  const metrics = properties.Metrics as { Id: string; Expression?: string; ReturnData?: boolean }[];
  const e = metrics.find((m) => (id ? m.Id === id : m.Expression !== undefined && m.ReturnData !== false));
  return e?.Expression ?? '';
}

describe('ClusterDashboard body', () => {
  it('matches the reviewed snapshot', () => {
    expect(plainBody).toMatchSnapshot();
  });

  it('uses exactly the metric names the bridge emits', () => {
    expect([...bridgeMetricNames(fullTemplate)].sort()).toEqual([...METRIC_NAMES].sort());
  });

  it('asks for the dimension sets the bridge publishes its EMF documents under', () => {
    const published = [
      ...(cycleMetricsEmf({ Heartbeat: 1 }, 'c', 0)._aws as Emf).CloudWatchMetrics[0]!.Dimensions,
      ...(
        calculationCostEmf(
          {
            calculations: [{ calculationId: 1, workerSeconds: 1, cost: 1 }],
            unknownWorkerSeconds: 0,
            idleWorkerSeconds: 0,
            workerSeconds: 1,
          },
          'c',
          0,
        )[0]!._aws as Emf
      ).CloudWatchMetrics[0]!.Dimensions,
    ].map((d) => [...d].sort().join(','));
    const asked = new Set<string>();
    for (const widget of fullBody.widgets) {
      for (const series of widgetSeries(widget)) {
        if (series.metric?.namespace === METRIC_NAMESPACE)
          asked.add(Object.keys(series.metric.dimensions).sort().join(','));
        const schema = series.expression?.match(/SEARCH\('\{OqElastic,([^}]*)\}/)?.[1];
        if (schema) asked.add(schema.split(',').sort().join(','));
      }
    }
    expect([...asked].sort()).toEqual([...new Set(published)].sort());
  });

  it('tiles the 24-column grid with the named sizes, without overlap', () => {
    const named = Object.values(WIDGET_SIZES).map((s) => `${s.width}x${s.height}`);
    const rows = new Map<number, number>();
    for (const w of plainBody.widgets) {
      expect(named).toContain(`${w.width}x${w.height}`);
      expect(w.x + w.width).toBeLessThanOrEqual(24);
      rows.set(w.y, (rows.get(w.y) ?? 0) + w.width);
    }
    for (const [y, width] of rows) expect(width, `row at y=${y}`).toBe(24);
  });

  it('prices running workers with the table entry of the chosen size, architecture and capacity', () => {
    const x86 = fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', 2, 8);
    const arm = fargateTaskHourlyCost(DEFAULT_PRICES, 'arm64', 4, 16);
    const expressions = (body: typeof plainBody) =>
      body.widgets.flatMap((w) => widgetSeries(w).flatMap((s) => (s.expression ? [s.expression] : [])));
    expect(expressions(plainBody)).toContain(`FILL(running, 0) * ${mathNumber(x86)}`);
    expect(expressions(fullBody)).toContain(`FILL(running, 0) * ${mathNumber(arm)}`);
    expect(mathNumber(x86)).toBe('0.11652');
    expect(x86).toBeCloseTo(2 * 0.04048 + 8 * 0.004445, 10);
    expect(expressions(plainBody)).toContain(`0 * masterCpu + ${DEFAULT_PRICES.ec2Hourly['m7i.large']}`);
    expect(expressions(plainBody)).toContain(
      `FILL(FILL(efsBytes, REPEAT), 0) / 1073741824 * ${DEFAULT_PRICES.efsStandardGbMonth} / 730`,
    );
  });

  it('prices Spot workers at the table spot factor, and rejects Spot on ARM naming both props', () => {
    const { stack } = buildDashboardSampleStack({ workerSpot: true });
    const body = readDashboardBody(Template.fromStack(stack).toJSON());
    const spot = fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', 2, 8) * DEFAULT_PRICES.fargateSpotFactor;
    const rate = body.widgets
      .flatMap((w) => widgetSeries(w))
      .find((s) => s.expression?.startsWith('FILL(running, 0) * '))
      ?.expression?.split('* ')[1];
    expect(Number(rate)).toBeCloseTo(spot, 9);
    expect(() => buildDashboardSampleStack({ workerSpot: true, workerCpuArchitecture: 'arm64' })).toThrow(
      /workerSpot is true with workerCpuArchitecture "arm64".*Fargate Spot is x86_64 only/,
    );
  });

  it('warns when the master instance type has no price, instead of inventing one', () => {
    const { stack } = buildDashboardSampleStack({ masterInstanceType: 'c7i.large' });
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('no ec2Hourly entry.*"c7i.large"'));
  });

  it('shows the low-credit threshold on the burst-credit graph', () => {
    const burst = fullBody.widgets.find((w) => w.properties.title?.includes('burst credits'));
    expect(burst?.properties.annotations?.horizontal?.[0]?.value).toBe(10e9);
  });
});

describe('ClusterDashboard alarms', () => {
  it('alarms on a missing heartbeat after the given minutes, counting no data as missing', () => {
    expect(watched(alarmWithId(plainTemplate, 'BridgeHeartbeatMissing'))).toMatchObject({
      MetricName: 'Heartbeat',
      Namespace: METRIC_NAMESPACE,
      Statistic: 'SampleCount',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'breaching',
    });
    expect(alarmWithId(fullTemplate, 'BridgeHeartbeatMissing')).toMatchObject({ EvaluationPeriods: 5 });
  });

  it('alarms on demand with no consuming worker for N minutes', () => {
    const p = alarmWithId(plainTemplate, 'DemandWithoutWorkers');
    expect(p).toMatchObject({ Threshold: 1, EvaluationPeriods: 10, DatapointsToAlarm: 10 });
    expect(expressionOf(p)).toBe(
      'IF((FILL(ready, 0) + FILL(unacked, 0)) > 0 AND FILL(consumers, 0) == 0, 1, 0)',
    );
    expect(alarmWithId(fullTemplate, 'DemandWithoutWorkers')).toMatchObject({ EvaluationPeriods: 7 });
  });

  it('alarms on a calculation that runs with no task active or queued', () => {
    const p = alarmWithId(fullTemplate, 'StuckCalculation');
    expect(p).toMatchObject({ EvaluationPeriods: 45, DatapointsToAlarm: 45, Threshold: 1 });
    expect(expressionOf(p)).toContain('FILL(executing, 0) > 0 AND FILL(active, 0) == 0');
    expect(alarmWithId(plainTemplate, 'StuckCalculation')).toMatchObject({ EvaluationPeriods: 30 });
  });

  it('recovers the master on a failed system check and reboots it on a failed instance check', () => {
    const system = watched(alarmWithId(plainTemplate, 'MasterSystemStatusCheck'));
    expect(system).toMatchObject({
      MetricName: 'StatusCheckFailed_System',
      Namespace: 'AWS/EC2',
      Threshold: 1,
    });
    expect(JSON.stringify(system.AlarmActions)).toContain(':ec2:recover');
    const instance = watched(alarmWithId(plainTemplate, 'MasterInstanceStatusCheck'));
    expect(instance).toMatchObject({ MetricName: 'StatusCheckFailed_Instance', EvaluationPeriods: 5 });
    expect(JSON.stringify(instance.AlarmActions)).toContain(':ec2:reboot');
  });

  it('alarms on low EFS burst credits, by default one hour of bursting at 100 MiB/s', () => {
    expect(DEFAULT_EFS_BURST_CREDIT_LOW_BYTES).toBe(377_487_360_000);
    expect(watched(alarmWithId(plainTemplate, 'EfsBurstCreditsLow'))).toMatchObject({
      MetricName: 'BurstCreditBalance',
      Statistic: 'Minimum',
      Threshold: DEFAULT_EFS_BURST_CREDIT_LOW_BYTES,
      ComparisonOperator: 'LessThanThreshold',
    });
    expect(alarmWithId(fullTemplate, 'EfsBurstCreditsLow')).toMatchObject({ Threshold: 10e9 });
  });

  it('alarms on spend above the hourly budget only when one is set', () => {
    expect(Object.keys(plainTemplate.findResources('AWS::CloudWatch::Alarm')).join()).not.toContain(
      'SpendAboveBudget',
    );
    const p = alarmWithId(fullTemplate, 'SpendAboveBudget');
    expect(p).toMatchObject({
      Threshold: 4.5,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
    });
    expect(expressionOf(p)).toBe('workers + master + efs');
    expect(expressionOf(p, 'workers')).toBe(
      `FILL(running, 0) * ${mathNumber(fargateTaskHourlyCost(DEFAULT_PRICES, 'arm64', 4, 16))}`,
    );
  });

  it('alarms when the broker refuses the bridge for 2 minutes (BrokerRefused)', () => {
    const p = watched(alarmWithId(fullTemplate, 'BridgeBrokerRefused'));
    expect(p).toMatchObject({
      MetricName: 'BrokerRefused',
      Statistic: 'Maximum',
      Period: 60,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 2,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
    });
  });

  it('notifies one encrypted topic on alarm and on OK, with the optional e-mail subscription', () => {
    plainTemplate.resourceCountIs('AWS::SNS::Subscription', 0);
    fullTemplate.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.org',
    });
    fullTemplate.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    const alarms = Object.values(fullTemplate.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms).toHaveLength(8);
    for (const alarm of alarms) {
      const text = JSON.stringify(alarm.Properties);
      expect(text).toContain('"OKActions":[{"Ref":"ClusterDashboardAlarmsTopic');
      expect(JSON.stringify(alarm.Properties.AlarmActions)).toContain('ClusterDashboardAlarmsTopic');
    }
  });

  it('rejects bad thresholds with the prop, the value and the fix', () => {
    expect(() => buildDashboardSampleStack({ hourlyBudget: 0 })).toThrow(
      'ClusterDashboard hourlyBudget is 0: give a positive USD amount per hour, or leave it out for no budget alarm.',
    );
    expect(() => buildDashboardSampleStack({ stuckCalculationMinutes: 2000 })).toThrow(
      /stuckCalculationMinutes is 2000: it must be a whole number of minutes from 1 to 1440/,
    );
    expect(() => buildDashboardSampleStack({ alarmEmail: 'ops' })).toThrow(/alarmEmail is "ops"/);
    expect(() => buildDashboardSampleStack({ workerVcpu: 0 })).toThrow(/workerVcpu is 0/);
  });
});
