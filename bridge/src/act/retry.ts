/**
 * Retries with capped exponential backoff and full jitter (the AWS Architecture Blog's "Exponential Backoff
 * and Jitter"), only for errors that say "try again": throttling and server-side (5xx) failures.
 */
export interface RetryOptions {
  /** Attempts in all, including the first. @default 5 */
  readonly attempts?: number;
  /** First backoff ceiling in ms. @default 200 */
  readonly baseMs?: number;
  /** Largest backoff ceiling in ms. @default 5000 */
  readonly maxMs?: number;
  /** Waits; injectable for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Uniform [0, 1); injectable for tests. */
  readonly random?: () => number;
  /** Called before each wait, for logs. */
  readonly onRetry?: (error: unknown, attempt: number, waitMs: number) => void;
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'ServerException',
  'InternalFailure',
]);

/** Whether an error (AWS SDK v3 or HTTP-like) is worth retrying: throttling, 429 or 5xx. */
export function isRetryable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  return (
    (e.name !== undefined && THROTTLING.has(e.name)) ||
    e.$retryable !== undefined ||
    status === 429 ||
    (status !== undefined && status >= 500)
  );
}

/** Runs `fn`, retrying retryable errors; rethrows the last error or any non-retryable one at once. */
export async function withRetry<T>(fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseMs ?? 200;
  const max = options.maxMs ?? 5000;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isRetryable(error)) throw error;
      const wait = Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
      options.onRetry?.(error, attempt, wait);
      await sleep(wait);
    }
  }
}
