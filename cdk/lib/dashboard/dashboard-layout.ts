import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type { ClusterAlarms } from './cluster-alarms.ts';
import type { ClusterMetrics } from './cluster-metrics.ts';
import { mathNumber } from './cluster-metrics.ts';
import { WIDGET_SIZES } from './widget-sizes.ts';

/** What the banner tells the reader about the cluster and the prices behind the cost figures. */
export interface DashboardFacts {
  readonly workerVcpu: number;
  readonly workerMemoryGiB: number;
  readonly workerCpuArchitecture: string;
  readonly workerSpot: boolean;
  readonly masterInstanceType: string;
}

const percentAxis: cloudwatch.YAxisProps = { min: 0, max: 100, label: '%', showUnits: false };
const countAxis: cloudwatch.YAxisProps = { min: 0, showUnits: false };
const usdAxis: cloudwatch.YAxisProps = { min: 0, label: 'USD', showUnits: false };

function banner(metrics: ClusterMetrics, facts: DashboardFacts): cloudwatch.TextWidget {
  const r = metrics.rates;
  const master = r.masterPriced
    ? `${facts.masterInstanceType} ${mathNumber(r.masterHourly)} USD/h`
    : `${facts.masterInstanceType} (no price in the table: counted as 0)`;
  return new cloudwatch.TextWidget({
    ...WIDGET_SIZES.banner,
    markdown: [
      '# OpenQuake cluster: queue, workers, cost',
      `Worker: ${facts.workerVcpu} vCPU, ${facts.workerMemoryGiB} GiB, ${facts.workerCpuArchitecture}` +
        `${facts.workerSpot ? ', Fargate Spot' : ''} at ${mathNumber(r.workerHourly)} USD/h · Master: ${master} · ` +
        `EFS: ${mathNumber(r.efsGbMonth)} USD/GB-month. Costs are estimates from the price table (the \`prices\` prop), not the bill.`,
    ].join('\n'),
  });
}

/** The headline row: spend now, over the last day and the last 30 days, and the fleet now. */
function headlines(m: ClusterMetrics): cloudwatch.IWidget[] {
  return [
    new cloudwatch.SingleValueWidget({
      ...WIDGET_SIZES.headline,
      title: 'Estimated cost per hour',
      metrics: [m.costPerHour()],
      sparkline: true,
      fullPrecision: false,
    }),
    // CloudWatch widgets cannot start at midnight or on the 1st: rolling windows are the honest equivalents.
    new cloudwatch.SingleValueWidget({
      ...WIDGET_SIZES.headline,
      title: 'Estimated spend, last 24 hours',
      metrics: [m.costInPeriod()],
      setPeriodToTimeRange: true,
      start: '-PT24H',
    }),
    new cloudwatch.SingleValueWidget({
      ...WIDGET_SIZES.headline,
      title: 'Estimated spend, last 30 days',
      metrics: [m.costInPeriod()],
      setPeriodToTimeRange: true,
      start: '-P30D',
    }),
    new cloudwatch.SingleValueWidget({
      ...WIDGET_SIZES.headline,
      title: 'Workers now',
      metrics: [m.series('workersRunning'), m.series('workersBusy'), m.series('calculationsExecuting')],
    }),
  ];
}

/** A graph's content: what {@link graphRow} does not set. */
type GraphContent = Omit<cloudwatch.GraphWidgetProps, 'width' | 'height'>;

/** A row of graphs of one size (two halves or three thirds), which fills the 24-column grid. */
function graphRow(size: 'half' | 'third', graphs: readonly GraphContent[]): cloudwatch.GraphWidget[] {
  if (graphs.length * WIDGET_SIZES[size].width !== 24) {
    throw new Error(`a row of ${graphs.length} ${size} graphs does not fill the 24-column grid`);
  }
  return graphs.map((graph) => new cloudwatch.GraphWidget({ ...WIDGET_SIZES[size], ...graph }));
}

/**
 * The dashboard's rows, top to bottom. Each row fills the 24-column grid; the preview renders the same rows
 * from the synthesized dashboard body.
 */
export function clusterDashboardRows(
  m: ClusterMetrics,
  alarms: ClusterAlarms,
  facts: DashboardFacts,
): cloudwatch.IWidget[][] {
  return [
    [banner(m, facts)],
    [
      new cloudwatch.AlarmStatusWidget({
        ...WIDGET_SIZES.alarms,
        title: 'Alarms',
        alarms: [...alarms.all],
      }),
    ],
    headlines(m),
    graphRow('half', [
      {
        title: 'Queue `celery`: work in flight',
        left: [m.series('queueReady'), m.series('queueUnacked')],
        right: [m.series('consumers')],
        stacked: true,
        leftYAxis: { ...countAxis, label: 'messages' },
        rightYAxis: { ...countAxis, label: 'consumers' },
      },
      {
        title: 'Workers: desired, running, busy',
        left: [m.series('workersDesired'), m.series('workersRunning'), m.series('workersBusy')],
        leftYAxis: { ...countAxis, label: 'workers' },
      },
    ]),
    graphRow('half', [
      {
        title: 'Utilisation (busy worker processes / all)',
        left: [m.series('utilisation')],
        right: [m.series('activeTasks'), m.series('workerSlots')],
        leftYAxis: percentAxis,
        rightYAxis: { ...countAxis, label: 'processes' },
      },
      {
        title: 'Estimated cost per hour, and cumulative',
        left: [
          m.workersCostPerHour(),
          m.masterCostPerHour(),
          m.efsCostPerHour(),
          m.series('bridgeEstimatedCostPerHour'),
        ],
        right: [m.cumulativeCost()],
        leftYAxis: { ...usdAxis, label: 'USD per hour' },
        rightYAxis: usdAxis,
      },
    ]),
    graphRow('third', [
      {
        title: 'Scale events',
        left: [m.series('scaleOut'), m.series('scaleIn')],
        leftYAxis: { ...countAxis, label: 'workers' },
      },
      {
        title: 'Time to first worker',
        left: [m.series('timeToFirstWorker')],
        leftYAxis: { ...countAxis, label: 'seconds' },
      },
      {
        title: 'Bridge: cycle time and heartbeat',
        left: [m.series('cycleTimeMedian'), m.series('cycleTimeMax')],
        right: [m.series('heartbeat')],
        leftYAxis: { ...countAxis, label: 'ms' },
        rightYAxis: { ...countAxis, label: 'per minute' },
      },
    ]),
    graphRow('third', [
      {
        title: 'Cost per calculation (over the time range)',
        left: [m.perCalculation('CalculationCost')],
        view: cloudwatch.GraphWidgetView.BAR,
        setPeriodToTimeRange: true,
        leftYAxis: usdAxis,
      },
      {
        title: 'Worker-seconds per calculation',
        left: [m.perCalculation('CalculationWorkerSeconds')],
        stacked: true,
        leftYAxis: { ...countAxis, label: 'worker-seconds' },
      },
      {
        title: 'Worker tasks: CPU and memory (ECS)',
        left: [m.workerServiceUtilisation('CPUUtilization'), m.workerServiceUtilisation('MemoryUtilization')],
        leftYAxis: percentAxis,
      },
    ]),
    graphRow('third', [
      {
        title: 'Master: CPU',
        left: [m.masterCpu()],
        right: [m.masterStatusCheck('System'), m.masterStatusCheck('Instance')],
        leftYAxis: percentAxis,
        rightYAxis: { min: 0, max: 1, showUnits: false },
      },
      {
        title: 'Master: memory',
        left: [m.masterMemory()],
        leftYAxis: percentAxis,
      },
      {
        title: 'Master: disks used (%)',
        left: [m.masterDisk()],
        leftYAxis: percentAxis,
      },
    ]),
    graphRow('half', [
      {
        title: 'shared_dir (EFS): throughput',
        left: [m.efsThroughput(), m.efsPermittedThroughput()],
        leftYAxis: { ...countAxis, label: 'MiB/s' },
      },
      {
        title: 'shared_dir (EFS): burst credits',
        left: [m.efsBurstCreditBalance()],
        leftYAxis: { ...countAxis, label: 'bytes' },
        leftAnnotations: [{ value: alarms.efsBurstCreditThreshold, label: 'alarm below', color: '#d62728' }],
      },
    ]),
  ];
}
