/**
 * The bridge's control loop: observe -> decide -> act -> report, once per poll interval, or sooner when the
 * activation path sees unserved demand between cycles. Everything it remembers (idle streaks, the last
 * desired count) is rebuilt from observation after a restart.
 */
import { writeFile } from 'node:fs/promises';
import { actionResult, type ActionResult } from '../act/action-result.ts';
import { describeError } from '../act/scale-actor.ts';
import { unservedDemand } from '../decide/activation.ts';
import { decide } from '../decide/decide.ts';
import type { Decision, DecisionHistory, ScalingPolicy } from '../decide/decision.ts';
import type { Observation } from '../observe/observation.ts';
import { attributeWorkerTime, calculationCostEmf } from '../report/calculation-cost.ts';
import { cycleMetrics, cycleMetricsEmf, type CycleMetrics } from '../report/cycle-metrics.ts';
import type { LogFn } from '../report/json-logger.ts';
import { systemClock, type Clock } from './clock.ts';

/** Anything that observes the cluster; `CeleryObserver` fits. */
export interface ObservationSource {
  observe(): Promise<Observation>;
}

/** Anything that carries out decisions; `ScaleActor` fits. */
export interface Actor {
  readonly inFlight: boolean;
  act(decision: Decision, observation: Observation): Promise<ActionResult>;
}

/** A cheap, live look at the queue's ready messages between cycles; `QueueProbe` (passive declare) fits. */
export interface ActivationProbe {
  passive(): Promise<{ readonly ready: number }>;
}

/** The fast activation path: what to look at between cycles, and how often. */
export interface ActivationOptions {
  readonly probe: ActivationProbe;
  /**
   * Milliseconds between two looks. A passive declare is one AMQP round trip answered by the queue process,
   * so two a second cost the broker next to nothing (docs/observe.md). @default 500
   */
  readonly intervalMs?: number;
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
  /**
   * Why the broker or the management API refused the bridge's credentials or vhost, when they do now: a
   * configuration error no retry fixes. Each cycle then publishes `BrokerRefused` = 1 (alarm-able), and the
   * decision line carries the refusal once instead of repeating the same long detail every cycle.
   */
  readonly configurationRefusal?: () => string | undefined;
  /** A file rewritten after every cycle with the last decisions and their outcomes, read by `status`. */
  readonly decisionsFile?: string;
  /**
   * Between cycles, look at the queue every `intervalMs` and start the next cycle at once when there is
   * demand the fleet cannot serve. Decisions stay with `decide()`: this changes only when a cycle runs.
   * Absent: cycles run every `pollSeconds` only.
   */
  readonly activation?: ActivationOptions;
}

/** One decision as `status` shows it: what was decided, why, and what came of it. */
export interface DecisionRecord {
  /** `<cycle start, ms>-<sequence>`: the same id on the `decision` line (before acting) and the `action` line. */
  readonly id: string;
  readonly time: string;
  readonly reason: string;
  readonly desired: number;
  readonly current?: number;
  readonly detail: string;
  /** The action's kind and sentence, once it finished (absent while it runs). */
  readonly action?: string;
  readonly actionDetail?: string;
}

/** How many decisions the loop keeps for `status`. */
export const RECENT_DECISIONS = 10;

/** Everything one cycle saw, decided and did. */
export interface CycleResult {
  /** The decision's id in the logs. */
  readonly id: string;
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
  private activationCount = 0;
  private sequence = 0;
  private readonly recent: DecisionRecord[] = [];
  /** The refusal already logged in full, so that later cycles name it without repeating it. */
  private refusalLogged?: string;

  constructor(private readonly options: ControlLoopOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? (() => undefined);
  }

  /** The last completed cycle, if any. */
  get lastCycle(): CycleResult | undefined {
    return this.last;
  }

  /** The last {@link RECENT_DECISIONS} decisions, newest last. */
  get recentDecisions(): readonly DecisionRecord[] {
    return this.recent;
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
    const id = `${startedAt}-${++this.sequence}`;
    let decision = decide(observation, policy, this.history, now);
    if (actor?.inFlight) {
      decision = {
        ...decision,
        reason: 'HoldActionInFlight',
        retire: [],
        desired: decision.current ?? decision.desired,
      };
    }
    const refusal = this.options.configurationRefusal?.();
    // The decision is on record before anything acts on it, so that a bridge killed mid-action (mid-drain)
    // leaves the decision that started it in the logs; the `action` line with the same id follows.
    this.logDecision(id, decision, observation, refusal);
    const record: DecisionRecord = {
      id,
      time: new Date(now).toISOString(),
      reason: decision.reason,
      desired: decision.desired,
      ...(decision.current !== undefined ? { current: decision.current } : {}),
      detail: decision.detail,
    };
    let action: ActionResult;
    if (!actor) {
      action = actionResult('none', 'dry run: no action taken');
    } else if (decision.reason === 'HoldActionInFlight') {
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
      ...(this.options.configurationRefusal ? { configurationRefused: refusal !== undefined } : {}),
    });
    if (actor) {
      this.log('action', {
        id,
        reason: decision.reason,
        action: action.kind,
        actionDetail: action.detail,
        retired: action.retired,
        aborted: action.aborted,
        restored: action.restored,
        durationMs,
      });
    }
    this.remember({ ...record, action: action.kind, actionDetail: action.detail });
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
    if (this.options.decisionsFile) {
      await writeFile(this.options.decisionsFile, `${JSON.stringify(this.recent)}\n`).catch(
        (error: unknown) => this.log('decisions-file-failed', { error: describeError(error) }),
      );
    }
    this.last = { id, startedAt, observation, decision, action, metrics, durationMs };
    return this.last;
  }

  private remember(record: DecisionRecord): void {
    this.recent.push(record);
    if (this.recent.length > RECENT_DECISIONS) this.recent.splice(0, this.recent.length - RECENT_DECISIONS);
  }

  /**
   * The `decision` line. While the broker refuses the configuration, the refusal is logged in full once and
   * later lines only name it: the same 2 KB line every poll buries everything else (issue 14).
   */
  private logDecision(id: string, decision: Decision, observation: Observation, refusal?: string): void {
    const base = {
      id,
      reason: decision.reason,
      desired: decision.desired,
      current: decision.current,
      demand: decision.demand,
      retire: decision.retire,
    };
    if (refusal !== undefined && refusal === this.refusalLogged) {
      this.log('decision', {
        ...base,
        refused: 'configuration refused, as logged before (BrokerRefused = 1)',
      });
      return;
    }
    this.refusalLogged = refusal;
    this.log('decision', {
      ...base,
      detail: decision.detail,
      ...(observation.queue ? { queueSource: observation.queue.source } : {}),
      errors: observation.errors,
      ...(refusal !== undefined ? { refused: refusal } : {}),
    });
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
      await this.untilNextCycle(started + this.options.pollSeconds * 1000, signal);
    }
    this.log('loop-stopped', {});
  }

  /** Cycles started early by the activation path since the loop was made. */
  get activations(): number {
    return this.activationCount;
  }

  /**
   * Waits until `deadline`, or less when the activation probe sees demand the last cycle left unserved. A
   * probe that fails only means no early start: the poll period still bounds the wait.
   */
  private async untilNextCycle(deadline: number, signal: AbortSignal): Promise<void> {
    const activation = this.options.activation;
    const interval = activation?.intervalMs ?? 500;
    for (;;) {
      const left = deadline - this.clock.now();
      if (left <= 0 || signal.aborted) return;
      if (!activation) return this.clock.sleep(left, signal);
      await this.clock.sleep(Math.min(interval, left), signal);
      if (signal.aborted || deadline - this.clock.now() <= 0) return;
      let ready: number;
      try {
        ready = (await activation.probe.passive()).ready;
      } catch {
        continue;
      }
      const why = this.unservedDemand(ready);
      if (why) {
        this.activationCount++;
        this.log('activation', { ready, detail: why });
        return;
      }
    }
  }

  /** The activation rule (decide/activation.ts) on the last cycle. */
  private unservedDemand(ready: number): string | undefined {
    const last = this.last;
    const view = last && {
      observation: last.observation,
      askedWorkers: last.action.kind === 'scaleOut' ? last.decision.desired : 0,
    };
    return unservedDemand(ready, view, this.options.policy);
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
