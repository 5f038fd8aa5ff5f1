/**
 * Application Auto Scaling target tracking on backlog per task, the pattern AWS documents for queue workers:
 * a custom metric (ready + unacked) / tasks published every minute, a target of one message per worker
 * process, and the managed alarms: scale out after 3 datapoints above the target in 3 minutes, scale in after
 * 15 datapoints in 15 minutes below 90 % of it; cooldowns 300 s each (the ECS defaults).
 */
import type { FleetView, SimAction, SimPolicy, VictimRule } from '../sim-policy.ts';

export interface TargetTrackingConfig {
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Backlog per task to hold (messages). */
  readonly targetValue: number;
  readonly highDatapoints: number;
  readonly lowDatapoints: number;
  /** Scale in only below targetValue times this. */
  readonly scaleInThreshold: number;
  readonly scaleOutCooldownSeconds: number;
  readonly scaleInCooldownSeconds: number;
  /** The tracked metric; default backlog per task, (ready + unacked) / desired. */
  readonly metric?: (view: FleetView) => number;
  /** Table name; default `target-tracking`. */
  readonly name?: string;
  /**
   * Each worker sets ECS task scale-in protection while it runs a task and clears it when idle (AWS's
   * documented pattern for queue workers), so scale-in stops idle tasks only; default off.
   */
  readonly scaleInProtection?: boolean;
}

export const TARGET_TRACKING_DEFAULTS: Omit<TargetTrackingConfig, 'maxCapacity' | 'targetValue'> = {
  minCapacity: 1,
  highDatapoints: 3,
  lowDatapoints: 15,
  scaleInThreshold: 0.9,
  scaleOutCooldownSeconds: 300,
  scaleInCooldownSeconds: 300,
};

export class TargetTrackingPolicy implements SimPolicy {
  readonly name: string;
  readonly intervalSeconds = 60;
  readonly victims: VictimRule;
  readonly initialWorkers: number;
  private readonly datapoints: number[] = [];
  private lastScaleOutAt?: number;
  private lastScaleInAt?: number;

  constructor(private readonly config: TargetTrackingConfig) {
    this.initialWorkers = config.minCapacity;
    this.name = config.name ?? 'target-tracking';
    this.victims = config.scaleInProtection ? 'idle-only' : 'random';
  }

  evaluate(view: FleetView): SimAction | undefined {
    // The capacity in the denominator is the desired count, which is kind to the peer: a metric over running
    // tasks only would overshoot while new tasks start.
    const metric = this.config.metric
      ? this.config.metric(view)
      : (view.ready + view.unacked) / Math.max(1, view.desired);
    this.datapoints.push(metric);
    return this.onDatapoint(view.desired, view.now);
  }

  /** Evaluate both managed alarms on the datapoints so far. */
  onDatapoint(current: number, now: number): SimAction | undefined {
    const c = this.config;
    const last = (n: number): number[] | undefined =>
      this.datapoints.length >= n ? this.datapoints.slice(-n) : undefined;
    const high = last(c.highDatapoints);
    if (high && high.every((m) => m > c.targetValue)) {
      if (this.lastScaleOutAt !== undefined && now < this.lastScaleOutAt + c.scaleOutCooldownSeconds) {
        return undefined;
      }
      const m = high[high.length - 1]!;
      const desired = Math.min(c.maxCapacity, Math.ceil((current * m) / c.targetValue));
      if (desired <= current) return undefined;
      this.lastScaleOutAt = now;
      return { desired };
    }
    const low = last(c.lowDatapoints);
    if (low && low.every((m) => m < c.targetValue * c.scaleInThreshold)) {
      if (this.lastScaleInAt !== undefined && now < this.lastScaleInAt + c.scaleInCooldownSeconds) {
        return undefined;
      }
      const m = low[low.length - 1]!;
      const desired = Math.max(c.minCapacity, Math.ceil((current * m) / c.targetValue));
      if (desired >= current) return undefined;
      this.lastScaleInAt = now;
      return { desired };
    }
    return undefined;
  }
}
