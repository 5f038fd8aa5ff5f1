/**
 * aws-ecs-patterns `QueueProcessingFargateService` with its defaults, moved from SQS to the `celery` queue:
 * a step scaling policy on the queue's visible (ready) messages, statistic Maximum over a 5-minute period,
 * steps {<= 0: -1, >= 100: +1, >= 500: +5}, Application Auto Scaling's default cooldown of 300 s, minimum
 * capacity 1 (the pattern's `minScalingCapacity` default). Sources in docs/benchmarks.md.
 */
import type { FleetView, SimAction, SimPolicy, VictimRule } from '../sim-policy.ts';

export interface StepScalingConfig {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** CloudWatch period of the queue metric, seconds. */
  readonly periodSeconds: number;
  readonly cooldownSeconds: number;
  /** Lower bounds (metric >= lower) with their change, highest bound wins. */
  readonly scaleOutSteps: readonly { readonly lower: number; readonly change: number }[];
  /** Metric <= upper scales in by change (negative). */
  readonly scaleInStep: { readonly upper: number; readonly change: number };
  /** Workers set ECS task scale-in protection while busy (see target-tracking.ts); default off. */
  readonly scaleInProtection?: boolean;
  /** Table id; default `ecs-patterns-step`. */
  readonly name?: string;
}

export const STEP_SCALING_DEFAULTS: Omit<StepScalingConfig, 'maxCapacity'> = {
  minCapacity: 1,
  periodSeconds: 300,
  cooldownSeconds: 300,
  scaleOutSteps: [
    { lower: 100, change: 1 },
    { lower: 500, change: 5 },
  ],
  scaleInStep: { upper: 0, change: -1 },
};

/** The step adjustment a metric value triggers: positive, negative or 0 (no alarm). */
export function stepChange(config: StepScalingConfig, metric: number): number {
  let change = 0;
  for (const s of config.scaleOutSteps) if (metric >= s.lower && s.change > change) change = s.change;
  if (change > 0) return change;
  return metric <= config.scaleInStep.upper ? config.scaleInStep.change : 0;
}

export class StepScalingPolicy implements SimPolicy {
  readonly name: string;
  /** SQS publishes its queue metrics once a minute; the policy samples at that rate. */
  readonly intervalSeconds = 60;
  readonly victims: VictimRule;
  readonly initialWorkers: number;
  private readonly samples: { t: number; v: number }[] = [];
  private lastScaleOut?: { at: number; change: number };
  private lastScaleInAt?: number;

  constructor(private readonly config: StepScalingConfig) {
    this.initialWorkers = config.minCapacity;
    this.name = config.name ?? 'ecs-patterns-step';
    this.victims = config.scaleInProtection ? 'idle-only' : 'random';
  }

  evaluate(view: FleetView): SimAction | undefined {
    const { now } = view;
    this.samples.push({ t: now, v: view.ready });
    // The alarm sees one datapoint per period: the maximum of the samples in the period that just closed.
    if (now === 0 || now % this.config.periodSeconds !== 0) return undefined;
    const window = this.samples.filter((s) => s.t > now - this.config.periodSeconds && s.t <= now);
    const metric = Math.max(...window.map((s) => s.v));
    return this.onAlarm(view.desired, stepChange(this.config, metric), now);
  }

  /**
   * Apply one alarm evaluation. During a scale-out cooldown the capacity added by the previous scale-out
   * counts towards the next, so the same step again adds nothing and a larger one adds the difference;
   * scale-in waits for its own cooldown. (Application Auto Scaling, StepScalingPolicyConfiguration.Cooldown.)
   */
  onAlarm(current: number, change: number, now: number): SimAction | undefined {
    const { cooldownSeconds, minCapacity, maxCapacity } = this.config;
    if (change > 0) {
      let add = change;
      if (this.lastScaleOut && now < this.lastScaleOut.at + cooldownSeconds) {
        add = change - this.lastScaleOut.change;
        if (add <= 0) return undefined;
      }
      const desired = Math.min(maxCapacity, current + add);
      if (desired === current) return undefined;
      this.lastScaleOut = { at: now, change };
      return { desired };
    }
    if (change < 0) {
      if (this.lastScaleInAt !== undefined && now < this.lastScaleInAt + cooldownSeconds) return undefined;
      const desired = Math.max(minCapacity, current + change);
      if (desired === current) return undefined;
      this.lastScaleInAt = now;
      return { desired };
    }
    return undefined;
  }
}
