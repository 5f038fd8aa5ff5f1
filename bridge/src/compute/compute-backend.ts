import type { ComputeObservation, ComputeUnit } from '../observe/observation.ts';

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
  /**
   * Stop exactly these units (already drained and idle) and lower the desired count by as many. Resolves once
   * the stop is ordered and the desired count lowered; waiting for the units to exit (a celery warm shutdown,
   * up to the stop timeout) and any clean-up after it happen in the background, so that a retirement never
   * delays the next observation or a scale-out. Until they exit, `describe` shows the units as `stopping`.
   */
  retire(unitIds: readonly string[]): Promise<void>;
  /** Protect these units from being stopped by the backend for `minutes` (ECS task scale-in protection). */
  protect(unitIds: readonly string[], minutes: number): Promise<void>;
  /** Release protection so that deployments and retirements are not blocked. */
  release(unitIds: readonly string[]): Promise<void>;
  /** Release resources held by the backend itself (clients, child process handles); awaits background work. */
  close(): Promise<void>;
}

/**
 * A fleet observation whose running and pending counts are derived from its units, so that every backend
 * counts alike.
 */
export function fleetObservation(
  desired: number,
  units: readonly ComputeUnit[],
  observedAt: number,
): ComputeObservation {
  return {
    desired,
    running: units.filter((u) => u.state === 'running').length,
    pending: units.filter((u) => u.state === 'pending').length,
    units,
    observedAt,
  };
}

/** Rejects a desired count that is not a whole number >= 0, naming the backend method that received it. */
export function assertDesiredCount(caller: string, desired: number): void {
  if (!Number.isInteger(desired) || desired < 0) {
    throw new Error(`${caller}: desired is ${desired}; pass a whole number >= 0`);
  }
}
