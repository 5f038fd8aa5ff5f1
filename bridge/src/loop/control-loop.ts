/**
 * The bridge's control loop: observe -> decide -> act -> report, once per poll interval. Everything it
 * remembers (idle streaks, the last desired count) is rebuilt from observation after a restart.
 */
import { writeFile } from 'node:fs/promises';
import { actionResult, type ActionResult } from '../act/action-result.ts';
import { describeError } from '../act/scale-actor.ts';
import { decide } from '../decide/decide.ts';
import type { Decision, DecisionHistory, ScalingPolicy } from '../decide/decision.ts';
import type { Observation } from '../observe/observation.ts';
import { attributeWorkerTime, calculationCostEmf } from '../report/calculation-cost.ts';
import { cycleMetrics, cycleMetricsEmf, type CycleMetrics } from '../report/cycle-metrics.ts';
import type { LogFn } from '../report/json-logger.ts';
import { systemClock, type Clock } from './clock.ts';

/** Anything that observes the cluster; the observe engineer's `Observer` fits. */
export interface ObservationSource {
  observe(): Promise<Observation>;
}

/** Anything that carries out decisions; `ScaleActor` fits. */
export interface Actor {
  readonly inFlight: boolean;
  act(decision: Decision, observation: Observation): Promise<ActionResult>;
}

export interface ControlLoopOptions {
  readonly observer: ObservationSource;
  /** Omit for a loop that only decides (`decide --dry-run`). */
  readonly actor?: Actor;
  readonly policy: ScalingPolicy;
  /** Seconds between cycle starts (OQE_POLL_SECONDS). */
  readonly pollSeconds: number;
  /** The `Cluster` dimension of the metrics. */
  readonly clusterName: string;
  readonly clock?: Clock;
  /** Structured logs; default none. */
  readonly log?: LogFn;
  /** Where each cycle's EMF document goes; default none. */
  readonly emitMetrics?: (document: Record<string, unknown>) => void;
  /** USD per GB-month of shared_dir storage, for the cost figure. */
  readonly storageGbMonthCost?: number;
  /** A file whose content is the time of the last completed cycle, for a container health check. */
  readonly heartbeatFile?: string;
}

/** Everything one cycle saw, decided and did. */
export interface CycleResult {
  readonly startedAt: number;
  readonly observation: Observation;
  readonly decision: Decision;
  readonly action: ActionResult;
  readonly metrics: CycleMetrics;
  readonly durationMs: number;
}

export class ControlLoop {
  private history: DecisionHistory = { idleSince: {} };
  private readonly clock: Clock;
  private readonly log: LogFn;
  /** When demand was first seen with no worker answering, for TimeToFirstWorker. */
  private demandAtZeroSince?: number;
  /** When the workers last answered, the start of the next cost-attribution interval. */
  private workersSeenAt?: number;
  private last?: CycleResult;

  constructor(private readonly options: ControlLoopOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => undefined);
  }

  /** The last completed cycle, if any. */
  get lastCycle(): CycleResult | undefined {
    return this.last;
  }

  /** The history the next decision will start from (idle streaks, last action). */
  get decisionHistory(): DecisionHistory {
    return this.history;
  }

  /** One cycle. Never throws: an observer failure becomes missing data, an action failure a failed result. */
  async runOnce(): Promise<CycleResult> {
    const { policy, actor } = this.options;
    const startedAt = this.clock.now();
    let observation: Observation;
    try {
      observation = await this.options.observer.observe();
    } catch (error) {
      observation = { errors: [`observe failed: ${describeError(error)}`] };
    }
    const now = this.clock.now();
    let decision = decide(observation, policy, this.history, now);
    let action: ActionResult;
    if (!actor) {
      action = actionResult('none', 'dry run: no action taken');
    } else if (actor.inFlight) {
      decision = {
        ...decision,
        reason: 'HoldActionInFlight',
        retire: [],
        desired: decision.current ?? decision.desired,
      };
      action = actionResult('skipped', 'previous action still in flight');
    } else {
      action = await actor.act(decision, observation);
    }
    const acted = action.kind === 'scaleOut' || action.kind === 'scaleIn';
    this.history = {
      ...decision.history,
      lastActionAt: acted ? this.clock.now() : decision.history.lastActionAt,
    };

    const durationMs = this.clock.now() - startedAt;
    const metrics = cycleMetrics({
      observation,
      decision,
      action,
      durationMs,
      workerHourlyCost: policy.workerHourlyCost,
      storageGbMonthCost: this.options.storageGbMonthCost,
      timeToFirstWorkerSeconds: this.timeToFirstWorker(observation, decision, now),
    });
    this.log('decision', {
      reason: decision.reason,
      desired: decision.desired,
      current: decision.current,
      demand: decision.demand,
      retire: decision.retire,
      detail: decision.detail,
      action: action.kind,
      actionDetail: action.detail,
      retired: action.retired,
      aborted: action.aborted,
      restored: action.restored,
      errors: observation.errors,
      durationMs,
    });
    this.options.emitMetrics?.(cycleMetricsEmf(metrics, this.options.clusterName, startedAt));
    if (observation.workers) {
      // Worker time since the workers last answered, charged to the calculations their tasks belong to; a
      // gap longer than three polls (outage, restart) is not attributed, nobody saw what ran in it.
      const attribution = attributeWorkerTime(this.workersSeenAt, observation.workers, now, {
        workerHourlyCost: policy.workerHourlyCost,
        slotsPerWorkerFallback: policy.slotsPerWorkerFallback,
        maxIntervalSeconds: this.options.pollSeconds * 3,
      });
      this.workersSeenAt = now;
      for (const document of calculationCostEmf(attribution, this.options.clusterName, startedAt)) {
        this.options.emitMetrics?.(document);
      }
    }
    if (this.options.heartbeatFile) {
      await writeFile(this.options.heartbeatFile, `${new Date(this.clock.now()).toISOString()}\n`).catch(
        (error: unknown) => this.log('heartbeat-failed', { error: describeError(error) }),
      );
    }
    this.last = { startedAt, observation, decision, action, metrics, durationMs };
    return this.last;
  }

  /** Cycles every `pollSeconds` until `signal` aborts; a cycle that overruns starts the next at once. */
  async run(signal: AbortSignal): Promise<void> {
    this.log('loop-started', { pollSeconds: this.options.pollSeconds, policy: this.options.policy });
    while (!signal.aborted) {
      const started = this.clock.now();
      try {
        await this.runOnce();
      } catch (error) {
        // runOnce handles its own failures; this is a bug guard so the loop never dies of one cycle.
        this.log('cycle-failed', { error: describeError(error) });
      }
      const wait = Math.max(0, this.options.pollSeconds * 1000 - (this.clock.now() - started));
      await this.clock.sleep(wait, signal);
    }
    this.log('loop-stopped', {});
  }

  private timeToFirstWorker(o: Observation, decision: Decision, now: number): number | undefined {
    const answering = o.workers?.length ?? 0;
    if (answering === 0 && decision.demand > 0 && o.workers !== undefined) {
      this.demandAtZeroSince ??= now;
      return undefined;
    }
    if (answering > 0 && this.demandAtZeroSince !== undefined) {
      const seconds = (now - this.demandAtZeroSince) / 1000;
      this.demandAtZeroSince = undefined;
      return seconds;
    }
    return undefined;
  }
}
