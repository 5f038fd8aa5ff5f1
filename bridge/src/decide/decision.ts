/**
 * The contract of the pure decision core: `decide(observation, policy, history, now) => Decision`.
 * The implementation lives in decide.ts; the simulator imports the same function.
 */

/** Why the decision is what it is. One value per branch, so that logs, metrics and tests name the branch. */
export type DecisionReason =
  | 'Steady' // the fleet matches demand
  | 'Activate' // 0 -> 1 (or min) on any demand
  | 'ScaleOut' // more slots needed, added at once
  | 'ScaleUpLimit' // wanted more than maxStepOut allows this cycle
  | 'AtMax' // demand exceeds maxWorkers
  | 'CostCap' // clamped by maxHourlyCost
  | 'AtMin' // would go below minWorkers
  | 'IdleGrace' // idle workers seen, waiting for the idle grace before retiring
  | 'DrainingIdle' // retiring idle workers
  | 'HoldOnMissingData' // a source did not answer: never scale in
  | 'HoldOnStaleData' // a source answered with figures too old to act on
  | 'HoldOnContradiction' // sources disagree (running units with no worker replies)
  | 'HoldSharedDirUnavailable' // EFS not ready: new workers could not mount shared_dir
  | 'HoldActionInFlight' // the previous action has not settled yet
  | 'PrewarmForCalculation' // a calculation started (pre-processing, nothing queued yet): workers launched ahead
  | 'HoldForCalculation' // idle workers kept: a calculation is pre-processing or between two phases
  | 'CalculationsEnded' // no calculation runs and nothing is queued: idle workers retired without the grace
  | 'PhaseTail'; // every running phase is fully submitted and nothing is ready: idle workers retired at once

/** The knobs of the scaling policy, validated at start-up by the config loader. */
export interface ScalingPolicy {
  readonly minWorkers: number;
  readonly maxWorkers: number;
  /** Celery worker processes per worker, used until `stats` reports the pool size. */
  readonly slotsPerWorkerFallback: number;
  /** Most workers added in one cycle. */
  readonly maxStepOut: number;
  /**
   * Most workers retired in one cycle; each retirement is its own drain. Unset: every idle surplus worker.
   * @default Infinity
   */
  readonly maxStepIn?: number;
  /** A worker must be seen idle this long before it is retired (Fargate bills a one-minute minimum). */
  readonly idleGraceSeconds: number;
  /** Observations older than this are stale. */
  readonly staleAfterSeconds: number;
  /** Upper bound on the fleet's estimated cost per hour (USD); Infinity for none. */
  readonly maxHourlyCost: number;
  /** Estimated cost of one worker-hour (USD), from the price table for the task size. */
  readonly workerHourlyCost: number;
  /**
   * A running unit whose worker has not answered yet is "starting" for this long after `startedAt`, not a
   * contradiction (a Fargate task is RUNNING before celery has connected).
   * @default 120
   */
  readonly workerStartupSeconds?: number;
  /**
   * Workers to launch when a calculation starts, before its first task is queued (only with the master's
   * calculation events). 0 turns pre-warming off.
   * @default 0
   */
  readonly prewarmWorkers?: number;
  /**
   * Longest a calculation's `started` or `between-phases` status keeps idle workers (and pre-warming);
   * beyond it the status is treated as unknown, so a lost `ended` event cannot hold a fleet for ever.
   * @default 900
   */
  readonly calculationHoldSeconds?: number;
}

/** What the decision core remembers between cycles: built from observations only, so a restart rebuilds it. */
export interface DecisionHistory {
  /** Per celery hostname, when it was first seen idle in the current idle streak (ms since epoch). */
  readonly idleSince: Readonly<Record<string, number>>;
  /** When the last scale action was taken (ms since epoch), if any. */
  readonly lastActionAt?: number;
  /** The backend's desired count at the last cycle that observed it, reported while the backend is unobserved. */
  readonly lastObservedDesired?: number;
}

/** The decision for this cycle. */
export interface Decision {
  /** The desired worker count after this cycle's action. */
  readonly desired: number;
  /** Unit ids to drain and retire, all idle. Empty unless reason is DrainingIdle. */
  readonly retire: readonly string[];
  readonly reason: DecisionReason;
  /** One human sentence with the arithmetic, for logs and `decide --dry-run`. */
  readonly detail: string;
  /** Demand counted (ready + unacked or the workers' own figures), for reports. */
  readonly demand: number;
  /** The backend's desired count before this decision, when observed. */
  readonly current?: number;
  /**
   * The count demand calls for after the clamps, before the step limit and the idle rules; absent on holds.
   * `target < current` marks a scale-in decision, whether or not an idle worker could be retired.
   */
  readonly target?: number;
  /** Worker processes per worker used for the sizing (from `stats`, else the policy's fallback). */
  readonly slotsPerWorker?: number;
  /** The history to pass to the next cycle. */
  readonly history: DecisionHistory;
}
