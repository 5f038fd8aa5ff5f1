import type { UnitRecord } from './unit-records.ts';

/** One worker a fleet asks its runtime to start. */
export interface UnitStart {
  readonly unitId: string;
  /** Worker processes (celery `-c`). */
  readonly concurrency: number;
}

/** What a runtime sees of a unit now. */
export interface UnitSighting<Runtime extends object> {
  readonly record: UnitRecord<Runtime>;
  readonly alive: boolean;
  /** How it exited, when the runtime can tell. */
  readonly exitCode?: number;
}

/**
 * Where a local fleet's workers run: local processes or podman containers. A runtime only starts, signals and
 * looks at single workers; which workers should exist, their states and the lifecycle log are the fleet's
 * ({@link LocalFleet}). Each worker is a celery worker named `oq@<unitId>`.
 */
export interface WorkerRuntime<Runtime extends object> {
  /** The fleet's name for logs and metrics (ComputeBackend.name). */
  readonly name: string;
  /** First letter of this runtime's unit ids, so that a unit's kind reads from its name. */
  readonly unitIdPrefix: string;
  /** Starts one worker, never with `--purge`; resolves with what finds the unit again (kept in its record). */
  start(unit: UnitStart): Promise<Runtime>;
  /**
   * Which of these recorded units are alive. A runtime that lists its workers by itself (podman, by label) also
   * returns those without a record: a bridge that stopped between a start and its record left them.
   */
  survey(records: readonly UnitRecord<Runtime>[]): Promise<UnitSighting<Runtime>[]>;
  /** The worker's output so far, where celery logs its ` ready.` line. */
  output(unit: UnitRecord<Runtime>): Promise<string>;
  /**
   * Celery's warm shutdown (SIGTERM, running tasks finish), SIGKILL after `timeoutMs`; resolves once the unit is
   * gone. Calls `onForcedKill` when it sends that SIGKILL itself.
   */
  stop(unit: UnitRecord<Runtime>, timeoutMs: number, onForcedKill: () => void): Promise<void>;
  /** Signals the whole unit at once, as a crashed host would; false when the unit is not alive. */
  kill(unit: UnitRecord<Runtime>, signal: NodeJS.Signals): Promise<boolean>;
  /**
   * Clears what a unit that is gone left behind (its private directory, its container), keeping its log in the
   * state directory. Returns the last lines of its output when it failed by itself with an error and the runtime
   * can tell (never a secret's value).
   */
  remove(unit: UnitRecord<Runtime>, exit: { readonly exitCode?: number }): Promise<string | undefined>;
}
