/**
 * What the bridge sees in one cycle. Every part is optional-by-absence: `undefined` means "not observed this
 * cycle" (source down, timed out), which the decision treats as missing data and never as zero.
 * Times are milliseconds since the epoch, stamped by the adapter that made the observation.
 */

/** The `celery` queue of the engine's vhost. */
export interface QueueObservation {
  /** Messages waiting for a consumer. From a passive declare (live) when available. */
  readonly ready: number;
  /** Messages delivered to a worker and not yet acknowledged (with acks_late: tasks running or reserved). */
  readonly unacked: number;
  /** Consumers on the queue: one per celery worker that is consuming. */
  readonly consumers: number;
  /** When these figures were true at the source (the management API's figures lag by up to its stats interval). */
  readonly observedAt: number;
  /** Which source gave `ready`/`consumers` and which gave `unacked`, for the logs. */
  readonly source: string;
}

/** One task a worker is running, from celery's `active` reply. */
export interface ActiveTask {
  readonly id: string;
  readonly name: string;
  /** When the worker started it (celery's `time_start`), if the reply carried it. */
  readonly startedAt?: number;
  /** The engine's calculation id, when the task arguments carry it. */
  readonly calculationId?: number;
}

/** One live celery worker, from its remote-control replies. */
export interface WorkerObservation {
  /** Celery node name, `oq@<unit id>` for the workers this project starts. */
  readonly hostname: string;
  /** Worker processes (pool size) from `stats`; undefined when `stats` did not answer. */
  readonly poolSize?: number;
  /** Tasks running now (ghosts left out). */
  readonly active: readonly ActiveTask[];
  /**
   * Tasks the worker lists in `active` that the broker shows to hold no message (ghosts after a broker
   * restart, bridge/src/observe/ghost-tasks.ts); not counted as work. Absent when there are none.
   */
  readonly ghosts?: readonly ActiveTask[];
  /** Tasks received and prefetched but not yet started (`reserved`). */
  readonly reserved: number;
  /** False once the bridge has cancelled its consumer on the `celery` queue (draining). */
  readonly consuming: boolean;
  readonly observedAt: number;
}

/** One unit of compute (an ECS task, a child process, a container) that runs or will run one celery worker. */
export interface ComputeUnit {
  /** Backend id: the ECS task id, a pid-based id, a container name. */
  readonly unitId: string;
  /** The celery hostname the unit's worker uses (`oq@<unitId>`). */
  readonly celeryHostname: string;
  readonly state: 'pending' | 'running' | 'stopping';
  /** When the unit was started (launch request time), for billing and time-to-first-worker. */
  readonly startedAt?: number;
  /** Whether the backend protects it from scale-in (ECS task scale-in protection). */
  readonly protected?: boolean;
}

/** The compute backend's view of the fleet. */
export interface ComputeObservation {
  /** The count the backend is converging to (ECS desiredCount). */
  readonly desired: number;
  readonly running: number;
  readonly pending: number;
  readonly units: readonly ComputeUnit[];
  readonly observedAt: number;
  /**
   * Why the backend is short of its desired count, when it says (ECS: the newest service event such as
   * "unable to place a task ... vCPU limit"), so that logs and `decide --dry-run` surface quota errors.
   */
  readonly shortfall?: string;
}

/** The shared_dir file system (EFS), which new workers must be able to mount. */
export interface SharedDirObservation {
  /** LifeCycleState is `available`. */
  readonly available: boolean;
  /** Every worker subnet has an available mount target. */
  readonly mountTargetsReady: boolean;
  /** Metered size, for the storage part of the cost figure. */
  readonly sizeBytes: number;
  /** Why it is not ready, when it is not. */
  readonly detail?: string;
  readonly observedAt: number;
}

/**
 * Where one engine calculation is, as the master reports it: `started` (submitted; the master is
 * pre-processing and has queued no task yet), `running` (a phase's tasks are queued or running),
 * `between-phases` (the master works between two phases, e.g. after preclassical), `ended` (complete, failed
 * or aborted).
 */
export type CalculationStatus = 'started' | 'running' | 'between-phases' | 'ended';

/** One calculation the master reported. */
export interface CalculationState {
  /** The engine's calculation (job) id. */
  readonly id: number;
  readonly status: CalculationStatus;
  /** When it entered this status (ms since epoch). */
  readonly since: number;
  /**
   * While `running`: tasks of the current phase the master still holds back (engine 3.x keeps all but
   * `num_cores` of a windowed phase in memory; its log's "[N submitted, M queued]"). 0: the whole phase is
   * in the broker's or the workers' hands. Absent when the master does not say.
   */
  readonly tasksHeldByMaster?: number;
}

/** The master's calculations, from its calculation events. */
export interface CalculationsObservation {
  /** Calculations seen recently; an ended one may stay listed or drop out. */
  readonly calculations: readonly CalculationState[];
  /** When the master last confirmed the list (its events or a heartbeat); older than stale means unknown. */
  readonly observedAt: number;
}

/** Everything observed in one cycle; `errors` says why a part is missing. */
export interface Observation {
  readonly queue?: QueueObservation;
  /** Replies from live workers; undefined when remote control itself failed (broker down). */
  readonly workers?: readonly WorkerObservation[];
  readonly compute?: ComputeObservation;
  /** Undefined when there is no shared dir to watch (local backends) or it could not be described. */
  readonly sharedDir?: SharedDirObservation;
  /**
   * The master's calculations, when it publishes them. Optional: absent or stale, the decision is exactly
   * what it is without them (queue and workers only).
   */
  readonly calculations?: CalculationsObservation;
  readonly errors: readonly string[];
}
