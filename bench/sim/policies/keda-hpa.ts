/**
 * KEDA's RabbitMQ scaler driving a Kubernetes HPA with default behaviour. KEDA polls every 30 s
 * (`pollingInterval`), activates 0 -> 1 on any message (`activationValue` 0) and scales to zero after
 * `cooldownPeriod` 300 s without activity; the HPA computes ceil(metric / value) with a 10 % tolerance,
 * scales up by at most max(100 %, 4 pods) per 15 s and scales down to the highest recommendation of the last
 * 300 s (`stabilizationWindowSeconds`). Two metric variants: `amqp` counts ready messages only (a passive
 * declare), `http` counts ready + unacked (management API). Sources in docs/benchmarks.md.
 */
import type { FleetView, SimAction, SimPolicy } from '../sim-policy.ts';

export interface KedaConfig {
  readonly protocol: 'amqp' | 'http';
  readonly maxReplicas: number;
  /** Messages per replica (the trigger's `value`). */
  readonly value: number;
  readonly pollingIntervalSeconds: number;
  readonly cooldownPeriodSeconds: number;
  readonly stabilizationWindowSeconds: number;
  readonly tolerance: number;
  /** HPA sync period. */
  readonly syncSeconds: number;
  /** The pod's `terminationGracePeriodSeconds`; default the platform model's stop timeout (Kubernetes: 30 s). */
  readonly terminationGraceSeconds?: number;
  /** Table id; default `keda-<protocol>`. */
  readonly name?: string;
}

export const KEDA_DEFAULTS: Omit<KedaConfig, 'protocol' | 'maxReplicas' | 'value'> = {
  pollingIntervalSeconds: 30,
  cooldownPeriodSeconds: 300,
  stabilizationWindowSeconds: 300,
  tolerance: 0.1,
  syncSeconds: 15,
};

export class KedaHpaPolicy implements SimPolicy {
  readonly name: string;
  readonly intervalSeconds: number;
  readonly victims = 'newest-first' as const;
  readonly initialWorkers = 0;
  readonly stopTimeoutSeconds?: number;
  private metric = 0;
  private lastPollAt = Number.NEGATIVE_INFINITY;
  private lastActiveAt = Number.NEGATIVE_INFINITY;
  private readonly recommendations: { t: number; r: number }[] = [];

  constructor(private readonly config: KedaConfig) {
    this.name = config.name ?? `keda-${config.protocol}`;
    this.intervalSeconds = config.syncSeconds;
    if (config.terminationGraceSeconds !== undefined)
      this.stopTimeoutSeconds = config.terminationGraceSeconds;
  }

  evaluate(view: FleetView): SimAction | undefined {
    if (view.now - this.lastPollAt >= this.config.pollingIntervalSeconds) {
      this.lastPollAt = view.now;
      this.metric = this.config.protocol === 'amqp' ? view.ready : view.ready + view.unacked;
    }
    return this.decideReplicas(view.desired, this.metric, view.now);
  }

  /** One HPA/KEDA cycle for a given metric value. */
  decideReplicas(current: number, metric: number, now: number): SimAction | undefined {
    const c = this.config;
    if (metric > 0) this.lastActiveAt = now;
    if (current === 0) return metric > 0 ? { desired: 1 } : undefined;
    // KEDA deactivates (scales to zero) once the trigger has been inactive for cooldownPeriod.
    if (now - this.lastActiveAt >= c.cooldownPeriodSeconds) {
      this.recommendations.length = 0;
      return { desired: 0 };
    }
    const ratio = metric / (c.value * current);
    let raw = Math.abs(ratio - 1) <= c.tolerance ? current : Math.ceil(metric / c.value);
    raw = Math.max(1, Math.min(c.maxReplicas, raw));
    this.recommendations.push({ t: now, r: raw });
    while (
      this.recommendations.length > 0 &&
      this.recommendations[0]!.t <= now - c.stabilizationWindowSeconds
    ) {
      this.recommendations.shift();
    }
    let desired: number;
    if (raw > current) {
      desired = Math.min(raw, Math.max(2 * current, current + 4));
    } else {
      desired = Math.min(current, Math.max(...this.recommendations.map((x) => x.r)));
    }
    return desired === current ? undefined : { desired };
  }
}
