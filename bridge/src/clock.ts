/**
 * Time, injectable so that tests drive the bridge without waiting. One style throughout: a part's options extend
 * `Partial<Clock>` (or `Partial<Pick<Clock, 'now'>>` when it never waits), so a test passes `now` and `sleep`
 * beside the other options, and the part resolves them once with {@link clockWith}.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The wall clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

/** `given`'s `now` and `sleep` where it has them, the wall clock's otherwise. */
export function clockWith(given: Partial<Clock>): Clock {
  return { now: given.now ?? systemClock.now, sleep: given.sleep ?? systemClock.sleep };
}
