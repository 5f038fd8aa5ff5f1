/**
 * What a scaling policy sees of the simulated fleet and what it may do. The bridge and every peer implement
 * `SimPolicy`; the simulator calls `evaluate` every `intervalSeconds`.
 */

/** One unit (an ECS task) as a policy may see it. */
export interface SimUnitView {
  readonly id: string;
  readonly state: 'pending' | 'running' | 'stopping';
  /** Launch request time, seconds. */
  readonly launchedAt: number;
  /** Worker processes. */
  readonly slots: number;
  /** Start times of the tasks it runs now. */
  readonly taskStarts: readonly number[];
  /** False once told to stop. */
  readonly consuming: boolean;
}

import type { CalculationStatus } from '../../bridge/src/observe/observation.ts';

/** One calculation as the master's calculation events describe it. */
export interface SimCalculationView {
  readonly id: number;
  readonly status: CalculationStatus;
  /** When it entered this status, simulated seconds. */
  readonly since: number;
  /** While running: tasks of the phase not yet submitted (the rest of a window). */
  readonly tasksHeldByMaster: number;
}

/** The fleet and the queue at one instant. */
export interface FleetView {
  /** Simulated seconds since the start of the trace. */
  readonly now: number;
  /** Messages waiting in the `celery` queue. */
  readonly ready: number;
  /** Messages delivered and not acknowledged (tasks running: acks_late, prefetch 1). */
  readonly unacked: number;
  /** The service's desired count. */
  readonly desired: number;
  /** Every unit not yet stopped. */
  readonly units: readonly SimUnitView[];
  /** Every calculation submitted so far, as the master would report it (policies that read it: engine-aware). */
  readonly calculations?: readonly SimCalculationView[];
}

/** A scaling action: the new desired count, and for the bridge the exact idle units to stop. */
export interface SimAction {
  readonly desired: number;
  readonly retire?: readonly string[];
}

/**
 * Which running units the platform stops when the desired count drops below the running count:
 * `none` (every unit protected: the bridge retires by name), `random` (ECS: zone balance, blind to busy
 * state), `newest-first` (Kubernetes ReplicaSet: the most recently started pods go first), `idle-only` (ECS
 * with task scale-in protection that each worker sets while it runs a task and clears when idle: only idle
 * units stop, and a unit above the desired count stops the moment it turns idle).
 */
export type VictimRule = 'none' | 'random' | 'newest-first' | 'idle-only';

export interface SimPolicy {
  /** Short id used in tables (`bridge`, `keda-amqp`...). */
  readonly name: string;
  readonly intervalSeconds: number;
  readonly victims: VictimRule;
  /** Units running (warm) before the trace starts. */
  readonly initialWorkers: number;
  /** Stop the whole fleet the moment the last task ends (an operator's fixed cluster). */
  readonly stopWhenDone?: boolean;
  /**
   * SIGTERM to SIGKILL for a stopped busy unit, when the platform lets the operator set it above the
   * model's (Kubernetes `terminationGracePeriodSeconds`); default the model's `stopTimeoutSeconds`.
   */
  readonly stopTimeoutSeconds?: number;
  /** Called every `intervalSeconds`; undefined means no change. */
  evaluate(view: FleetView): SimAction | undefined;
}

/** Builds a fresh policy (its own state) for one simulation run. */
export type PolicyFactory = () => SimPolicy;
