/**
 * The bridge's control loop: observe -> decide -> act -> report, once per poll interval, or sooner when the
 * activation path sees unserved demand between cycles. Everything it remembers (idle streaks, the last
 * desired count) is rebuilt from observation after a restart.
 */
import { actionResult, type ActionResult } from '../act/action-result.ts';
import { describeError } from '../act/scale-actor.ts';
import { unservedDemand } from '../decide/activation.ts';
import { decide } from '../decide/decide.ts';
import type { Decision, DecisionHistory, ScalingPolicy } from '../decide/decision.ts';
import type { Observation } from '../observe/observation.ts';
import type { CycleMetrics } from '../report/cycle-metrics.ts';
import { CycleReporter, type DecisionRecord } from '../report/cycle-report.ts';
import type { LogFn } from '../report/json-logger.ts';
import { clockWith, type Clock } from '../clock.ts';

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

/** `now` and `sleep` (between cycles and between activation looks) default to the wall clock. */
export interface ControlLoopOptions extends Partial<Clock> {
  readonly observer: ObservationSource;
  /** Omit for a loop that only decides (`decide --dry-run`). */
  readonly actor?: Actor;
  readonly policy: ScalingPolicy;
  /** Seconds between cycle starts (OQE_POLL_SECONDS). */
  readonly pollSeconds: number;
  /** The `Cluster` dimension of the metrics. */
  readonly clusterName: string;
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
  private readonly reporter: CycleReporter;
  private last?: CycleResult;
  private activationCount = 0;
  private sequence = 0;

  constructor(private readonly options: ControlLoopOptions) {
    this.clock = clockWith(options);
    this.log = options.log ?? (() => undefined);
    this.reporter = new CycleReporter({
      now: () => this.clock.now(),
      policy: options.policy,
      pollSeconds: options.pollSeconds,
      clusterName: options.clusterName,
      log: this.log,
      logsActions: options.actor !== undefined,
      emitMetrics: options.emitMetrics,
      storageGbMonthCost: options.storageGbMonthCost,
      watchesRefusal: options.configurationRefusal !== undefined,
      heartbeatFile: options.heartbeatFile,
      decisionsFile: options.decisionsFile,
    });
  }

  /** The last completed cycle, if any. */
  get lastCycle(): CycleResult | undefined {
    return this.last;
  }

  /** The last decisions (`RECENT_DECISIONS` at most), newest last. */
  get recentDecisions(): readonly DecisionRecord[] {
    return this.reporter.recentDecisions;
  }

  /** The history the next decision will start from (idle streaks, last action). */
  get decisionHistory(): DecisionHistory {
    return this.history;
  }

  /** One cycle. Never throws: an observer failure becomes missing data, an action failure a failed result. */
  async runOnce(): Promise<CycleResult> {
    const startedAt = this.clock.now();
    const observation = await this.observe();
    const decidedAt = this.clock.now();
    const id = `${startedAt}-${++this.sequence}`;
    const decision = this.decideNow(observation, decidedAt);
    const refusal = this.options.configurationRefusal?.();
    // The decision is on record before anything acts on it, so that a bridge killed mid-action (mid-drain)
    // leaves the decision that started it in the logs; the `action` line with the same id follows.
    this.reporter.decisionTaken(id, decision, observation, refusal);
    const action = await this.carryOut(decision, observation);
    const acted = action.kind === 'scaleOut' || action.kind === 'scaleIn';
    this.history = {
      ...decision.history,
      lastActionAt: acted ? this.clock.now() : decision.history.lastActionAt,
    };
    const durationMs = this.clock.now() - startedAt;
    const cycle = { id, startedAt, decidedAt, observation, decision, action, durationMs, refusal };
    const metrics = await this.reporter.cycleFinished(cycle);
    this.last = { id, startedAt, observation, decision, action, metrics, durationMs };
    return this.last;
  }

  private async observe(): Promise<Observation> {
    try {
      return await this.options.observer.observe();
    } catch (error) {
      return { errors: [`observe failed: ${describeError(error)}`] };
    }
  }

  /** `decide()`, held while the previous action still runs (a drain in progress). */
  private decideNow(observation: Observation, now: number): Decision {
    const decision = decide(observation, this.options.policy, this.history, now);
    if (!this.options.actor?.inFlight) return decision;
    return {
      ...decision,
      reason: 'HoldActionInFlight',
      retire: [],
      desired: decision.current ?? decision.desired,
    };
  }

  private async carryOut(decision: Decision, observation: Observation): Promise<ActionResult> {
    const { actor } = this.options;
    if (!actor) return actionResult('none', 'dry run: no action taken');
    if (decision.reason === 'HoldActionInFlight')
      return actionResult('skipped', 'previous action still in flight');
    return actor.act(decision, observation);
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
}
