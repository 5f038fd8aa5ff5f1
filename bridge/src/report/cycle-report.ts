/**
 * What the control loop tells the world about each cycle: the `decision` line before acting, then the
 * `action` line, the cycle's metrics and the calculations' cost, the heartbeat file and the file of recent
 * decisions that `status` reads. The loop decides and acts; everything it reports goes through here.
 */
import { writeFile } from 'node:fs/promises';
import type { ActionResult } from '../act/action-result.ts';
import { describeError } from '../act/scale-actor.ts';
import { clockWith, type Clock } from '../clock.ts';
import type { Decision, ScalingPolicy } from '../decide/decision.ts';
import type { Observation } from '../observe/observation.ts';
import { attributeWorkerTime, calculationCostEmf } from './calculation-cost.ts';
import { cycleMetrics, cycleMetricsEmf, type CycleMetrics } from './cycle-metrics.ts';
import type { LogFn } from './json-logger.ts';

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

/** `now` (the heartbeat's time) defaults to the wall clock. */
export interface CycleReporterOptions extends Partial<Pick<Clock, 'now'>> {
  /** The policy's prices and slots, for the cost figures. */
  readonly policy: Pick<ScalingPolicy, 'workerHourlyCost' | 'slotsPerWorkerFallback'>;
  /** Seconds between cycle starts: a gap longer than three of them is not charged to any calculation. */
  readonly pollSeconds: number;
  /** The `Cluster` dimension of the metrics. */
  readonly clusterName: string;
  readonly log: LogFn;
  /** Whether the `action` line is written (not in a loop that only decides). */
  readonly logsActions: boolean;
  /** Where each EMF document goes; default none. */
  readonly emitMetrics?: (document: Record<string, unknown>) => void;
  /** USD per GB-month of shared_dir storage, for the cost figure. */
  readonly storageGbMonthCost?: number;
  /** Whether the loop watches for a configuration refusal (then `BrokerRefused` is published every cycle). */
  readonly watchesRefusal: boolean;
  /** A file whose content is the time of the last completed cycle, for a container health check. */
  readonly heartbeatFile?: string;
  /** A file rewritten after every cycle with the last decisions and their outcomes, read by `status`. */
  readonly decisionsFile?: string;
}

/** One finished cycle, as the reporter needs it. */
export interface FinishedCycle {
  readonly id: string;
  readonly startedAt: number;
  /** When the decision was taken. */
  readonly decidedAt: number;
  readonly observation: Observation;
  readonly decision: Decision;
  readonly action: ActionResult;
  readonly durationMs: number;
  /** The configuration refusal seen this cycle, if any. */
  readonly refusal?: string;
}

export class CycleReporter {
  /** When demand was first seen with no worker answering, for TimeToFirstWorker. */
  private demandAtZeroSince?: number;
  /** When the workers last answered, the start of the next cost-attribution interval. */
  private workersSeenAt?: number;
  private readonly recent: DecisionRecord[] = [];
  /** The refusal already logged in full, so that later cycles name it without repeating it. */
  private refusalLogged?: string;

  private readonly clock: Clock;

  constructor(private readonly options: CycleReporterOptions) {
    this.clock = clockWith(options);
  }

  /** The last {@link RECENT_DECISIONS} decisions, newest last. */
  get recentDecisions(): readonly DecisionRecord[] {
    return this.recent;
  }

  /**
   * The `decision` line. While the broker refuses the configuration, the refusal is logged in full once and
   * later lines only name it: the same 2 KB line every poll buries everything else (issue 14).
   */
  decisionTaken(id: string, decision: Decision, observation: Observation, refusal?: string): void {
    const base = {
      id,
      reason: decision.reason,
      desired: decision.desired,
      current: decision.current,
      demand: decision.demand,
      retire: decision.retire,
    };
    if (refusal !== undefined && refusal === this.refusalLogged) {
      this.options.log('decision', {
        ...base,
        refused: 'configuration refused, as logged before (BrokerRefused = 1)',
      });
      return;
    }
    this.refusalLogged = refusal;
    this.options.log('decision', {
      ...base,
      detail: decision.detail,
      ...(observation.queue ? { queueSource: observation.queue.source } : {}),
      errors: observation.errors,
      ...(refusal !== undefined ? { refused: refusal } : {}),
    });
  }

  /** Reports a finished cycle (action line, metrics, cost, files) and returns its metrics. */
  async cycleFinished(cycle: FinishedCycle): Promise<CycleMetrics> {
    const { options } = this;
    const { id, observation, decision, action, durationMs } = cycle;
    const metrics = cycleMetrics({
      observation,
      decision,
      action,
      durationMs,
      workerHourlyCost: options.policy.workerHourlyCost,
      storageGbMonthCost: options.storageGbMonthCost,
      timeToFirstWorkerSeconds: this.timeToFirstWorker(observation, decision, cycle.decidedAt),
      ...(options.watchesRefusal ? { configurationRefused: cycle.refusal !== undefined } : {}),
    });
    if (options.logsActions) {
      options.log('action', {
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
    this.remember(cycle);
    options.emitMetrics?.(cycleMetricsEmf(metrics, options.clusterName, cycle.startedAt));
    this.chargeCalculations(cycle);
    await this.writeFiles();
    return metrics;
  }

  private remember({ id, decidedAt, decision, action }: FinishedCycle): void {
    this.recent.push({
      id,
      time: new Date(decidedAt).toISOString(),
      reason: decision.reason,
      desired: decision.desired,
      ...(decision.current !== undefined ? { current: decision.current } : {}),
      detail: decision.detail,
      action: action.kind,
      actionDetail: action.detail,
    });
    if (this.recent.length > RECENT_DECISIONS) this.recent.splice(0, this.recent.length - RECENT_DECISIONS);
  }

  /**
   * Worker time since the workers last answered, charged to the calculations their tasks belong to; a gap
   * longer than three polls (outage, restart) is not attributed, nobody saw what ran in it.
   */
  private chargeCalculations({ observation, decidedAt, startedAt }: FinishedCycle): void {
    if (!observation.workers) return;
    const { policy, pollSeconds, clusterName, emitMetrics } = this.options;
    const attribution = attributeWorkerTime(this.workersSeenAt, observation.workers, decidedAt, {
      workerHourlyCost: policy.workerHourlyCost,
      slotsPerWorkerFallback: policy.slotsPerWorkerFallback,
      maxIntervalSeconds: pollSeconds * 3,
    });
    this.workersSeenAt = decidedAt;
    for (const document of calculationCostEmf(attribution, clusterName, startedAt)) emitMetrics?.(document);
  }

  private async writeFiles(): Promise<void> {
    const { heartbeatFile, decisionsFile, log } = this.options;
    if (heartbeatFile) {
      await writeFile(heartbeatFile, `${new Date(this.clock.now()).toISOString()}\n`).catch(
        (error: unknown) => log('heartbeat-failed', { error: describeError(error) }),
      );
    }
    if (decisionsFile) {
      await writeFile(decisionsFile, `${JSON.stringify(this.recent)}\n`).catch((error: unknown) =>
        log('decisions-file-failed', { error: describeError(error) }),
      );
    }
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
