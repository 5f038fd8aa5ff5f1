/**
 * The data behind the dashboard preview: three engine calculations run through the fleet simulator
 * (bench/sim: Fargate start-up, billing and the engine's windowed submission), scaled by the bridge's own
 * `decide()`, with every cycle's metrics made by the bridge's own `cycleMetrics()` and cost per calculation
 * by `attributeWorkerTime()`, fed to the preview's metric store through their EMF documents. What no part of
 * the project produces here (the master's CPU, memory and disks, EFS, ECS utilisation, the bridge's cycle
 * time) is modelled from the fleet's activity and marked as such in the preview.
 */
import { actionResult } from '../../bridge/src/act/action-result.ts';
import { decide } from '../../bridge/src/decide/decide.ts';
import type { DecisionHistory } from '../../bridge/src/decide/decision.ts';
import { attributeWorkerTime, calculationCostEmf } from '../../bridge/src/report/calculation-cost.ts';
import { cycleMetrics, cycleMetricsEmf } from '../../bridge/src/report/cycle-metrics.ts';
import { DEFAULT_FARGATE_MODEL } from '../../bench/sim/fargate-model.ts';
import { simulate } from '../../bench/sim/fleet-simulator.ts';
import { observationOf } from '../../bench/sim/policies/bridge-policy.ts';
import { Prng } from '../../common/prng.ts';
import { BRIDGE_POLL_SECONDS, bridgeScalingPolicy } from '../../bench/sim/scenarios.ts';
import type { FleetView, SimAction, SimPolicy } from '../../bench/sim/sim-policy.ts';
import { RUN_SHAPES, taskDurations, type CalculationSpec } from '../../bench/sim/trace.ts';
import {
  MASTER_AGENT_NAMESPACE,
  MASTER_DISK_METRIC,
  MASTER_MEMORY_METRIC,
} from '../../cdk/lib/dashboard/master-agent-metrics.ts';
import { MetricStore } from './metric-store.ts';

/** Three hours: the dashboard's default time range. */
export const PREVIEW_SECONDS = 3 * 3600;
const CLUSTER = 'preview';

/** The worker of the simulator's fleet model: the preview's dashboard is built for the same size. */
export const PREVIEW_WORKER = {
  vcpu: DEFAULT_FARGATE_MODEL.vcpu,
  memoryGiB: DEFAULT_FARGATE_MODEL.memoryGiB,
  maxWorkers: DEFAULT_FARGATE_MODEL.maxWorkers,
  slots: DEFAULT_FARGATE_MODEL.slotsPerWorker,
};

export interface SyntheticRun {
  readonly store: MetricStore;
  readonly seconds: number;
  readonly calculations: readonly { id: number; shape: string; submitAt: number }[];
  /** What the run did, in numbers, for the preview's caption and the report. */
  readonly summary: { peakWorkers: number; workerHours: number; attributedWorkerHours: number };
}

/** Puts one EMF document's metrics into the store, as CloudWatch Logs would extract them. */
export function ingestEmf(store: MetricStore, doc: Record<string, unknown>, t: number): void {
  const meta = (
    doc._aws as {
      CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
    }
  ).CloudWatchMetrics;
  for (const directive of meta) {
    for (const dimensionSet of directive.Dimensions) {
      const dimensions = Object.fromEntries(dimensionSet.map((d) => [d, String(doc[d])]));
      for (const { Name } of directive.Metrics) {
        const value = doc[Name];
        if (typeof value === 'number')
          store.put({ namespace: directive.Namespace, metricName: Name, dimensions }, t, value);
      }
    }
  }
}

/**
 * Runs the three calculations and returns the metric store. Deterministic for a seed.
 * @param workerHourlyCost USD per worker-hour of the preview's worker size.
 */
export function syntheticRun(workerHourlyCost: number, seed = 20261124): SyntheticRun {
  const model = { ...DEFAULT_FARGATE_MODEL, workerHourlyCost };
  const numCores = model.maxWorkers * model.slotsPerWorker;
  const prng = new Prng(seed);
  // Engine job ids are sequential; a medium run between two small ones, the way a modeller iterates.
  const plan = [
    { id: 57, shape: RUN_SHAPES[0]!, submitAt: 600 },
    { id: 58, shape: RUN_SHAPES[1]!, submitAt: 3000 },
    { id: 59, shape: RUN_SHAPES[0]!, submitAt: 8400 },
  ];
  const calculations: CalculationSpec[] = plan.map((p) => ({
    id: p.id,
    submitAt: p.submitAt,
    durations: taskDurations(p.shape, prng),
    submission: 'windowed',
    numCores,
  }));
  // The simulator does not say which calculation a task belongs to; with runs that never overlap, a task
  // belongs to the last calculation submitted before it started. Checked below, not assumed.
  const calculationAt = (startSeconds: number): number =>
    [...plan].reverse().find((p) => p.submitAt <= startSeconds)?.id ?? plan[0]!.id;

  const policy = bridgeScalingPolicy(model);
  const store = new MetricStore();
  let history: DecisionHistory = { idleSince: {} };
  let previousAt: number | undefined;
  let waitingSince: number | undefined;
  let attributed = 0;
  let efsCredits = 2.1e12;
  let lastMinute = -1;

  const recorder: SimPolicy = {
    name: 'bridge',
    intervalSeconds: BRIDGE_POLL_SECONDS,
    victims: 'none',
    initialWorkers: 0,
    evaluate(view: FleetView): SimAction | undefined {
      const t = view.now;
      const base = observationOf(view);
      const workers = (base.workers ?? []).map((w) => ({
        ...w,
        active: w.active.map((a) => ({ ...a, calculationId: calculationAt((a.startedAt ?? 0) / 1000) })),
      }));
      for (const p of plan) {
        if (t >= p.submitAt && t < p.submitAt + BRIDGE_POLL_SECONDS) {
          const busy = workers.some((w) => w.active.some((a) => a.calculationId !== p.id));
          if (busy)
            throw new Error(`preview: calculation ${p.id} overlaps the previous one; space the plan out.`);
        }
      }
      const observation = { ...base, workers };
      const decision = decide(observation, policy, history, t * 1000);
      history = decision.history;
      const running = observation.compute?.running ?? 0;
      const demand = view.ready + view.unacked;
      let timeToFirstWorker: number | undefined;
      if (demand > 0 && running === 0 && waitingSince === undefined) waitingSince = t;
      if (waitingSince !== undefined && (observation.queue?.consumers ?? 0) > 0) {
        timeToFirstWorker = t - waitingSince;
        waitingSince = undefined;
      }
      const action =
        decision.desired > view.desired
          ? actionResult('scaleOut', 'preview', { from: view.desired, to: decision.desired })
          : decision.retire.length > 0
            ? actionResult('scaleIn', 'preview', {
                from: view.desired,
                to: decision.desired,
                retired: decision.retire,
              })
            : actionResult('none', 'preview');
      const active = workers.reduce((n, w) => n + w.active.length, 0);
      // Modelled: a cycle is a management API call plus a remote-control broadcast whose replies grow with the fleet.
      const durationMs = 140 + 12 * running + (prng.next() - 0.5) * 40;
      const metrics = cycleMetrics({
        observation,
        decision,
        action,
        durationMs,
        workerHourlyCost,
        timeToFirstWorkerSeconds: timeToFirstWorker,
      });
      ingestEmf(store, cycleMetricsEmf(metrics, CLUSTER, t * 1000), t);
      const share = attributeWorkerTime(previousAt, workers, t * 1000, {
        workerHourlyCost,
        slotsPerWorkerFallback: model.slotsPerWorker,
        maxIntervalSeconds: 60,
      });
      previousAt = t * 1000;
      attributed += share.workerSeconds - share.idleWorkerSeconds - share.unknownWorkerSeconds;
      for (const doc of calculationCostEmf(share, CLUSTER, t * 1000)) ingestEmf(store, doc, t);
      // The engine reports a calculation executing while its tasks are in flight (runs never overlap here).
      const executing = demand > 0 ? 1 : 0;
      store.put(
        { namespace: 'OqElastic', metricName: 'CalculationsExecuting', dimensions: { Cluster: CLUSTER } },
        t,
        executing,
      );

      // Modelled neighbours, once a minute like their real sources.
      const minute = Math.floor(t / 60);
      if (minute !== lastMinute) {
        lastMinute = minute;
        const ec2 = (metricName: string, v: number) =>
          store.put({ namespace: 'AWS/EC2', metricName, dimensions: { InstanceId: 'i-preview' } }, t, v);
        ec2('CPUUtilization', Math.min(95, 4 + 0.35 * active + prng.next() * 3));
        ec2('StatusCheckFailed_System', 0);
        ec2('StatusCheckFailed_Instance', 0);
        const agent = (metricName: string, dimensions: Record<string, string>, v: number) =>
          store.put(
            {
              namespace: MASTER_AGENT_NAMESPACE,
              metricName,
              dimensions: { InstanceId: 'i-preview', ...dimensions },
            },
            t,
            v,
          );
        agent(MASTER_MEMORY_METRIC, {}, 31 + 0.25 * active + prng.next() * 2);
        agent(MASTER_DISK_METRIC, { path: '/' }, 22 + t / 3600);
        agent(MASTER_DISK_METRIC, { path: '/var/lib/rabbitmq' }, 3 + demand / 400);
        agent(MASTER_DISK_METRIC, { path: '/var/lib/openquake' }, 12 + t / 1800);
        const fs = (metricName: string, v: number, extra: Record<string, string> = {}) =>
          store.put(
            { namespace: 'AWS/EFS', metricName, dimensions: { FileSystemId: 'fs-preview', ...extra } },
            t,
            v,
          );
        // Workers read the calculation's inputs from shared_dir as they start tasks; the master writes results.
        const bytesPerSecond = (0.4 * active + 2 * (observation.compute?.pending ?? 0)) * 1024 * 1024;
        fs('TotalIOBytes', bytesPerSecond * 60);
        fs('PermittedThroughput', 100 * 1024 * 1024);
        efsCredits = Math.max(
          0,
          efsCredits - Math.max(0, bytesPerSecond - 5 * 1024 * 1024) * 60 + 2.5e6 * 60,
        );
        fs('BurstCreditBalance', efsCredits);
        if (minute % 15 === 0) fs('StorageBytes', 60e9 + t * 2e6, { StorageClass: 'Total' });
        const ecs = (metricName: string, v: number) =>
          store.put(
            {
              namespace: 'AWS/ECS',
              metricName,
              dimensions: { ClusterName: CLUSTER, ServiceName: 'workers' },
            },
            t,
            v,
          );
        const utilisation = metrics.Utilisation ?? 0;
        if (running > 0) {
          ecs('CPUUtilization', Math.min(100, utilisation * 0.93 + prng.next() * 4));
          ecs('MemoryUtilization', 18 + utilisation * 0.35);
        }
      }

      if (decision.desired === view.desired && decision.retire.length === 0) return undefined;
      return { desired: decision.desired, retire: decision.retire };
    },
  };

  const result = simulate(
    { name: 'preview', description: 'three calculations', calculations },
    () => recorder,
    model,
    { seed, limitSeconds: PREVIEW_SECONDS, tailSeconds: PREVIEW_SECONDS, timelineEverySeconds: 60 },
  );
  return {
    store,
    seconds: PREVIEW_SECONDS,
    calculations: plan.map((p) => ({ id: p.id, shape: p.shape.name, submitAt: p.submitAt })),
    summary: {
      peakWorkers: result.peakWorkers,
      workerHours: result.workerHours,
      attributedWorkerHours: attributed / 3600,
    },
  };
}
