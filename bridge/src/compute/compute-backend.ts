import type { ComputeObservation } from '../observe/observation.ts';

/**
 * Where workers run. One small interface so that the same control loop drives ECS Fargate in production
 * and child processes or podman containers on one machine.
 *
 * Scale-in never goes through `scaleTo` alone: the loop drains the chosen idle workers first, then calls
 * `retire` with exactly those units, so a backend must stop the named units and no others.
 */
export interface ComputeBackend {
  /** A short name for logs and metrics: `ecs`, `process`, `podman`. */
  readonly name: string;
  /** The fleet now: desired, running and pending counts and every unit with its celery hostname. */
  describe(): Promise<ComputeObservation>;
  /** Scale out (or set) the desired count. Never used to scale in busy units. */
  scaleTo(desired: number): Promise<void>;
  /** Stop exactly these units (already drained and idle) and lower the desired count by as many. */
  retire(unitIds: readonly string[]): Promise<void>;
  /** Protect these units from being stopped by the backend for `minutes` (ECS task scale-in protection). */
  protect(unitIds: readonly string[], minutes: number): Promise<void>;
  /** Release protection so that deployments and retirements are not blocked. */
  release(unitIds: readonly string[]): Promise<void>;
  /** Release resources held by the backend itself (clients, child process handles). */
  close(): Promise<void>;
}
