/**
 * `npm run preview`: renders the cluster dashboard, exactly as the CDK app synthesizes it, with the data of a
 * simulated run (tools/dashboard-preview/synthetic-run.ts) into docs/dashboard-preview.svg.
 * Deterministic: the same commit gives the same file.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Template } from 'aws-cdk-lib/assertions';
import { buildDashboardSampleStack } from '../tools/dashboard-preview/dashboard-sample-stack.ts';
import { alarmState, type AlarmDefinition, type AlarmState } from '../tools/dashboard-preview/alarm-state.ts';
import { readDashboardBody } from '../tools/dashboard-preview/dashboard-body.ts';
import { evaluateWidget, type EvaluatedWidget } from '../tools/dashboard-preview/evaluate-widget.ts';
import { renderDashboardSvg } from '../tools/dashboard-preview/svg-dashboard.ts';
import { PREVIEW_WORKER, syntheticRun } from '../tools/dashboard-preview/synthetic-run.ts';

/** The budget shown in the preview: above the idle cluster, below a full fleet (16 x 0.23 USD/h + master). */
const PREVIEW_HOURLY_BUDGET = 3;
/** Widgets whose data the simulator does not produce: drawn from a model of the fleet's activity. */
const MODELLED = [
  'Bridge: cycle time and heartbeat',
  'Worker tasks: CPU and memory (ECS)',
  'Master: CPU',
  'Master: memory',
  'Master: disks used (%)',
  'shared_dir (EFS): throughput',
  'shared_dir (EFS): burst credits',
];

const { stack, dashboard } = buildDashboardSampleStack({
  workerVcpu: PREVIEW_WORKER.vcpu,
  workerMemoryGiB: PREVIEW_WORKER.memoryGiB,
  hourlyBudget: PREVIEW_HOURLY_BUDGET,
});
const template = Template.fromStack(stack).toJSON() as {
  Resources: Record<string, { Type: string; Properties: unknown }>;
};
const body = readDashboardBody(template);
const run = syntheticRun(dashboard.metrics.rates.workerHourly);

const data = new Map<number, EvaluatedWidget>();
body.widgets.forEach((w, i) => {
  if (w.type === 'metric') data.set(i, evaluateWidget(w, run.store, 0, run.seconds));
});
const alarmStates = new Map<string, AlarmState>();
for (const [id, resource] of Object.entries(template.Resources)) {
  if (resource.Type !== 'AWS::CloudWatch::Alarm') continue;
  alarmStates.set(
    `\${${id}.Arn}`,
    alarmState(resource.Properties as AlarmDefinition, run.store, run.seconds),
  );
}
const footnotes = new Map<string, string>(
  MODELLED.map((title) => [
    title,
    'modelled from the simulated fleet (no simulator produces them); the spend figures cover the 3-hour run, not 24 h or 30 days.',
  ]),
);
const r = dashboard.metrics.rates;
const svg = renderDashboardSvg({
  title: 'oq-elastic cluster dashboard (preview)',
  caption:
    `Simulated 3 hours: calculations ${run.calculations.map((c) => `#${c.id} (${c.shape})`).join(', ')}, ` +
    `scaled by the bridge's decide() on ${PREVIEW_WORKER.vcpu} vCPU / ${PREVIEW_WORKER.memoryGiB} GiB workers ` +
    `(${r.workerHourly.toFixed(4)} USD/h, at most ${PREVIEW_WORKER.maxWorkers}).\n${run.summary.workerHours.toFixed(1)} worker-hours billed, ` +
    `${run.summary.attributedWorkerHours.toFixed(1)} attributed to calculations. Made by npm run preview.`,
  widgets: body.widgets,
  data,
  alarmStates,
  seconds: run.seconds,
  footnotes,
});
// `--out <file>` writes elsewhere: the freshness test compares a fresh rendering with the committed one.
const outFlag = process.argv.indexOf('--out');
const out =
  outFlag >= 0 && process.argv[outFlag + 1]
    ? process.argv[outFlag + 1]!
    : join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'dashboard-preview.svg');
await writeFile(out, svg);
console.log(
  `wrote ${out}: ${body.widgets.length} widgets, ${alarmStates.size} alarms (${[...alarmStates.values()].join(', ')})`,
);
