/**
 * The benchmark's scenarios: the policies (the bridge and its peers, each with its documented defaults) and
 * the traces, all sized for one fleet model.
 */
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { DEFAULT_FARGATE_MODEL, type FargateModel } from './fargate-model.ts';
import { BridgePolicy } from './policies/bridge-policy.ts';
import { EcsPatternsDefaultsPolicy } from './policies/ecs-patterns-defaults.ts';
import { fixedFleet } from './policies/fixed-fleet.ts';
import { KEDA_DEFAULTS, KedaHpaPolicy } from './policies/keda-hpa.ts';
import { STEP_SCALING_DEFAULTS, StepScalingPolicy, type StepScalingConfig } from './policies/step-scaling.ts';
import { TARGET_TRACKING_DEFAULTS, TargetTrackingPolicy } from './policies/target-tracking.ts';
import type { PolicyFactory } from './sim-policy.ts';
import { RUN_SHAPES, singleRunTrace, workingDayTrace, type Trace } from './trace.ts';

/**
 * The bridge's settings in the simulation: the defaults of its config loader (BRIDGE_ENVIRONMENT in
 * bridge/src/config/bridge-config.ts: OQE_POLL_SECONDS 5, OQE_IDLE_GRACE_SECONDS 120, OQE_MAX_STEP_OUT 10,
 * OQE_STALE_AFTER_SECONDS 30, OQE_WORKER_STARTUP_SECONDS 180); min and max workers and the slots follow the
 * fleet model.
 */
export const BRIDGE_POLL_SECONDS = 5;
export const BRIDGE_IDLE_GRACE_SECONDS = 120;
export const BRIDGE_MAX_STEP_OUT = 10;

export interface NamedPolicy {
  readonly name: string;
  readonly label: string;
  readonly make: PolicyFactory;
  /** A peer at the settings an expert operator would choose (id ending in `-expert`). */
  readonly expert?: boolean;
  /** What the policy needs beyond an ECS service and the RabbitMQ `celery` queue. */
  readonly needs?: string;
}

/** A row of the tables: a simulated policy, or the oracle derived from the fixed fleet's run. */
export type PolicyColumn = Pick<NamedPolicy, 'name' | 'label' | 'expert' | 'needs'>;

/** The oracle's row (see oracle.ts). */
export const ORACLE_COLUMN: PolicyColumn = {
  name: 'oracle',
  label: "oracle: the fixed fleet's schedule, each worker launched and stopped just in time",
  needs: 'knowledge of the future (a bound, not a policy)',
};

const NEEDS_SQS =
  'SQS: QueueProcessingFargateService reads an SQS queue only; on RabbitMQ it needs a hand-written policy on a queue metric someone publishes to CloudWatch';
const NEEDS_METRIC = 'a process that publishes the queue backlog per task to CloudWatch every minute';
const NEEDS_KUBERNETES = 'Kubernetes (EKS) instead of ECS: KEDA scales Kubernetes workloads only';

/**
 * Kubernetes `terminationGracePeriodSeconds` for the expert KEDA peers: longer than the longest task of any
 * trace (6256 s), so that a scaled-in busy pod finishes its task (KEDA's docs, "Long-running executions").
 */
export const EXPERT_TERMINATION_GRACE_SECONDS = 7200;

/**
 * KEDA over HTTP as an expert sets it: `pollingInterval` 5 s and `cooldownPeriod` 120 s (ScaledObject spec),
 * the HPA's scale-down `stabilizationWindowSeconds` 120 s (ScaledObject
 * `advanced.horizontalPodAutoscalerConfig.behavior`), and the long termination grace.
 */
export const KEDA_HTTP_EXPERT = {
  ...KEDA_DEFAULTS,
  pollingIntervalSeconds: 5,
  cooldownPeriodSeconds: 120,
  stabilizationWindowSeconds: 120,
  terminationGraceSeconds: EXPERT_TERMINATION_GRACE_SECONDS,
};

/**
 * KEDA over AMQP with the long termination grace only: its metric (ready messages) is the scaler's, a shorter
 * poll cannot make it count running tasks.
 */
export const KEDA_AMQP_EXPERT = {
  ...KEDA_DEFAULTS,
  terminationGraceSeconds: EXPERT_TERMINATION_GRACE_SECONDS,
};

/**
 * Step scaling as an expert sets `QueueProcessingFargateService`: `minScalingCapacity` 0, a one-minute metric
 * period, `cooldown` 60 s, custom `scalingSteps` sized to the worker (+1 from one ready message, +4 from two
 * workers' worth, +16 from eight), a scale-in step to the minimum (safe with protection), and task scale-in
 * protection set by each worker while busy.
 */
export function stepScalingExpert(slotsPerWorker: number, maxCapacity: number): StepScalingConfig {
  return {
    minCapacity: 0,
    maxCapacity,
    periodSeconds: 60,
    cooldownSeconds: 60,
    scaleOutSteps: [
      { lower: 1, change: 1 },
      { lower: 2 * slotsPerWorker, change: 4 },
      { lower: 8 * slotsPerWorker, change: 16 },
    ],
    scaleInStep: { upper: 0, change: -maxCapacity },
    scaleInProtection: true,
    name: 'ecs-patterns-step-expert',
  };
}

/**
 * Workers the engine-aware bridge launches when a calculation starts, chosen with the simulator: a pre-warmed
 * worker is paid through the whole pre-processing (15 to 805 s in the traces, never announced) and saves at
 * most one start-up. Over the eight traces, pre-warms of 0, 2 and 16 gave worker-hours / oracle of at most
 * 1.03, 1.03 and 1.08; 2 cut the time to the first task on the 3x traces from about 30 s to 0 to 21 s.
 */
export const BRIDGE_PREWARM_WORKERS = 2;

/**
 * The bridge's scaling policy with the config loader's defaults, sized for the fleet model: from zero to the
 * model's most workers, its slots and price, and no cost cap (the tables compare fleets, not budgets).
 */
export function bridgeScalingPolicy(model: FargateModel): ScalingPolicy {
  return {
    minWorkers: 0,
    maxWorkers: model.maxWorkers,
    slotsPerWorkerFallback: model.slotsPerWorker,
    maxStepOut: BRIDGE_MAX_STEP_OUT,
    idleGraceSeconds: BRIDGE_IDLE_GRACE_SECONDS,
    staleAfterSeconds: 30,
    workerStartupSeconds: 180,
    maxHourlyCost: Number.POSITIVE_INFINITY,
    workerHourlyCost: model.workerHourlyCost,
  };
}

/** The bridge with the config loader's defaults; `engineAware` feeds it the master's calculation events. */
export function bridgePolicy(model: FargateModel, engineAware = false): BridgePolicy {
  return new BridgePolicy({
    pollSeconds: BRIDGE_POLL_SECONDS,
    engineAware,
    name: engineAware ? 'bridge-engine-aware' : 'bridge',
    policy: {
      ...bridgeScalingPolicy(model),
      ...(engineAware ? { prewarmWorkers: BRIDGE_PREWARM_WORKERS } : {}),
    },
  });
}

export function policies(model: FargateModel = DEFAULT_FARGATE_MODEL): NamedPolicy[] {
  const max = model.maxWorkers;
  const slots = model.slotsPerWorker;
  return [
    { name: 'bridge', label: 'oq-elastic bridge', make: () => bridgePolicy(model) },
    {
      name: 'bridge-engine-aware',
      label: "oq-elastic bridge + the master's calculation events",
      needs: 'calculation events from the master (not built yet: the simulator feeds them)',
      make: () => bridgePolicy(model, true),
    },
    { name: 'fixed-max', label: `fixed fleet of ${max}`, make: () => fixedFleet(max) },
    {
      needs: NEEDS_SQS,
      name: 'ecs-patterns-step',
      label: 'QueueProcessingFargateService step scaling',
      make: () => new StepScalingPolicy({ ...STEP_SCALING_DEFAULTS, maxCapacity: max }),
    },
    {
      needs: NEEDS_SQS,
      name: 'ecs-patterns-all-defaults',
      label: 'QueueProcessingFargateService, step + CPU 50 %',
      make: () => new EcsPatternsDefaultsPolicy(max),
    },
    {
      needs: NEEDS_METRIC,
      name: 'target-tracking',
      label: 'target tracking, backlog per task',
      make: () =>
        new TargetTrackingPolicy({ ...TARGET_TRACKING_DEFAULTS, maxCapacity: max, targetValue: slots }),
    },
    {
      needs: NEEDS_KUBERNETES,
      name: 'keda-amqp',
      label: 'KEDA RabbitMQ, AMQP (ready only)',
      make: () => new KedaHpaPolicy({ ...KEDA_DEFAULTS, protocol: 'amqp', maxReplicas: max, value: slots }),
    },
    {
      needs: NEEDS_KUBERNETES,
      name: 'keda-http',
      label: 'KEDA RabbitMQ, HTTP (ready + unacked)',
      make: () => new KedaHpaPolicy({ ...KEDA_DEFAULTS, protocol: 'http', maxReplicas: max, value: slots }),
    },
    {
      needs: NEEDS_SQS,
      name: 'ecs-patterns-step-expert',
      label: 'step scaling, expert (min 0, 60 s, custom steps, protection)',
      expert: true,
      make: () => new StepScalingPolicy(stepScalingExpert(slots, max)),
    },
    {
      needs: NEEDS_METRIC,
      name: 'target-tracking-expert',
      label: 'target tracking, expert (+ task scale-in protection)',
      expert: true,
      make: () =>
        new TargetTrackingPolicy({
          ...TARGET_TRACKING_DEFAULTS,
          maxCapacity: max,
          targetValue: slots,
          scaleInProtection: true,
          name: 'target-tracking-expert',
        }),
    },
    {
      needs: NEEDS_KUBERNETES,
      name: 'keda-amqp-expert',
      label: `KEDA AMQP, expert (grace ${EXPERT_TERMINATION_GRACE_SECONDS} s)`,
      expert: true,
      make: () =>
        new KedaHpaPolicy({
          ...KEDA_AMQP_EXPERT,
          protocol: 'amqp',
          maxReplicas: max,
          value: slots,
          name: 'keda-amqp-expert',
        }),
    },
    {
      needs: NEEDS_KUBERNETES,
      name: 'keda-http-expert',
      label: 'KEDA HTTP, expert (poll 5 s, 120 s windows, long grace)',
      expert: true,
      make: () =>
        new KedaHpaPolicy({
          ...KEDA_HTTP_EXPERT,
          protocol: 'http',
          maxReplicas: max,
          value: slots,
          name: 'keda-http-expert',
        }),
    },
  ];
}

/** Every trace of the benchmark, for a fleet of `numCores` worker processes. */
export function traces(model: FargateModel = DEFAULT_FARGATE_MODEL, seed = 20261124): Trace[] {
  const numCores = model.maxWorkers * model.slotsPerWorker;
  const out: Trace[] = [];
  RUN_SHAPES.forEach((shape, i) => {
    out.push(singleRunTrace(shape, 'windowed', numCores, seed + i));
    out.push(singleRunTrace(shape, 'all-at-once', numCores, seed + i));
  });
  out.push(workingDayTrace('windowed', numCores, seed + 10));
  out.push(workingDayTrace('all-at-once', numCores, seed + 10));
  return out;
}
