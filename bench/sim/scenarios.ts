/**
 * The benchmark's scenarios: the policies (the bridge and its peers, each with its documented defaults) and
 * the traces, all sized for one fleet model.
 */
import { DEFAULT_FARGATE_MODEL, type FargateModel } from './fargate-model.ts';
import { BridgePolicy } from './policies/bridge-policy.ts';
import { EcsPatternsDefaultsPolicy } from './policies/ecs-patterns-defaults.ts';
import { fixedFleet } from './policies/fixed-fleet.ts';
import { KEDA_DEFAULTS, KedaHpaPolicy } from './policies/keda-hpa.ts';
import { STEP_SCALING_DEFAULTS, StepScalingPolicy } from './policies/step-scaling.ts';
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
}

export function policies(model: FargateModel = DEFAULT_FARGATE_MODEL): NamedPolicy[] {
  const max = model.maxWorkers;
  const slots = model.slotsPerWorker;
  return [
    {
      name: 'bridge',
      label: 'oq-elastic bridge',
      make: () =>
        new BridgePolicy({
          pollSeconds: BRIDGE_POLL_SECONDS,
          policy: {
            minWorkers: 0,
            maxWorkers: max,
            slotsPerWorkerFallback: slots,
            maxStepOut: BRIDGE_MAX_STEP_OUT,
            idleGraceSeconds: BRIDGE_IDLE_GRACE_SECONDS,
            staleAfterSeconds: 30,
            workerStartupSeconds: 180,
            maxHourlyCost: Number.POSITIVE_INFINITY,
            workerHourlyCost: model.workerHourlyCost,
          },
        }),
    },
    { name: 'fixed-max', label: `fixed fleet of ${max}`, make: () => fixedFleet(max) },
    {
      name: 'ecs-patterns-step',
      label: 'QueueProcessingFargateService step scaling',
      make: () => new StepScalingPolicy({ ...STEP_SCALING_DEFAULTS, maxCapacity: max }),
    },
    {
      name: 'ecs-patterns-all-defaults',
      label: 'QueueProcessingFargateService, step + CPU 50 %',
      make: () => new EcsPatternsDefaultsPolicy(max),
    },
    {
      name: 'target-tracking',
      label: 'target tracking, backlog per task',
      make: () =>
        new TargetTrackingPolicy({ ...TARGET_TRACKING_DEFAULTS, maxCapacity: max, targetValue: slots }),
    },
    {
      name: 'keda-amqp',
      label: 'KEDA RabbitMQ, AMQP (ready only)',
      make: () => new KedaHpaPolicy({ ...KEDA_DEFAULTS, protocol: 'amqp', maxReplicas: max, value: slots }),
    },
    {
      name: 'keda-http',
      label: 'KEDA RabbitMQ, HTTP (ready + unacked)',
      make: () => new KedaHpaPolicy({ ...KEDA_DEFAULTS, protocol: 'http', maxReplicas: max, value: slots }),
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
