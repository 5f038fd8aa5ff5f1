/**
 * Ghost `active` entries: after a broker restart, celery 5.x workers can list an interrupted task in `active`
 * forever although the broker holds no message for it (docs/bridge.md, "Ghost `active` tasks"). Counted as
 * busy, such a worker is never retired and the fleet never shrinks to zero.
 *
 * The cross-check is the broker's own count. The engine's tasks run with `task_acks_late`, so a task that
 * really runs holds its message unacknowledged on the `celery` queue from delivery until it ends. A claim that
 * was already listed when the management API read 0 unacked on the queue held no message at that moment: it
 * is not a running task. To stay clear of the instant between a real task's ack and its leaving `active`, a
 * claim is called a ghost only once it has outlived such a reading by `ghostAfterMs`. A real task is never
 * called a ghost: while it runs the queue's unacked count is at least 1.
 *
 * The check is per queue, not per worker (the bridge cannot map a worker to its AMQP channel), so a ghost is
 * found only while no real task holds a message; with tasks running elsewhere it waits until they end. Pure
 * state machine: the caller passes `now`.
 */

/** One reading of the queue's unacked count from the management API. */
export interface UnackedReading {
  readonly unacked: number;
  /**
   * The earliest time the figure can describe: fetch time minus the statistics interval
   * (`collect_statistics_interval`), since the management API's figures lag by up to that.
   */
  readonly asOf: number;
}

/** Claims by worker hostname: the ids of the tasks it lists in `active`. */
export type ActiveClaims = ReadonlyMap<string, readonly string[]>;

/** How long a claim must outlive a reading of 0 unacked to be a ghost, by default. */
export const DEFAULT_GHOST_AFTER_MS = 30_000;

interface ClaimState {
  readonly firstSeen: number;
  /** The first reading of 0 unacked that describes a time when the claim was already listed. */
  zeroAt?: number;
}

/** Tracks claims across cycles and names the ghosts. */
export class GhostTracker {
  private readonly claims = new Map<string, ClaimState>();

  constructor(private readonly ghostAfterMs = DEFAULT_GHOST_AFTER_MS) {}

  /**
   * Records this cycle's claims (of the workers that answered `active`) and the queue's unacked reading, if
   * the management API gave one; returns the ghost task ids per hostname. A claim that is not listed in a
   * cycle is forgotten, so a claim must be seen without a break to become a ghost.
   */
  update(claims: ActiveClaims, reading: UnackedReading | undefined, now: number): Map<string, Set<string>> {
    const seen = new Set<string>();
    const ghosts = new Map<string, Set<string>>();
    for (const [hostname, ids] of claims) {
      for (const id of ids) {
        const key = `${hostname}\u0000${id}`;
        seen.add(key);
        let state = this.claims.get(key);
        if (!state) {
          state = { firstSeen: now };
          this.claims.set(key, state);
        }
        if (reading && reading.unacked === 0 && reading.asOf >= state.firstSeen)
          state.zeroAt ??= reading.asOf;
        if (state.zeroAt !== undefined && now - state.zeroAt >= this.ghostAfterMs) {
          const set = ghosts.get(hostname) ?? new Set<string>();
          set.add(id);
          ghosts.set(hostname, set);
        }
      }
    }
    for (const key of this.claims.keys()) if (!seen.has(key)) this.claims.delete(key);
    return ghosts;
  }
}
