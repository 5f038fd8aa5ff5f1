/**
 * How the bridge's AWS SDK clients retry and time out. The SDK retries throttling, 5xx and transient network
 * errors itself (`retryMode: 'adaptive'` adds client-side rate limiting when the service throttles), so the
 * actor wraps no retry of its own around SDK calls: one throttled UpdateService is at most
 * {@link AWS_MAX_ATTEMPTS} HTTP requests, not the attempts of two nested retry loops.
 */

/** Attempts in all per SDK call, the first included (the SDK's default is 3 as well; set here to be explicit). */
export const AWS_MAX_ATTEMPTS = 3;
/** Milliseconds to open a connection before the attempt fails. */
export const AWS_CONNECTION_TIMEOUT_MS = 2_000;
/** Milliseconds a request may wait for the response before the attempt fails. */
export const AWS_REQUEST_TIMEOUT_MS = 5_000;
/**
 * The most the SDK waits before a retry: its backoff, full jitter over 500 ms x 2^retry for throttling errors
 * (at most 1 s before the third attempt), plus the adaptive rate limiter's wait for a token (its fill rate
 * falls to at least 0.5 a second: 2 s), plus up to 5 s more when the service sends a retry-after hint
 * (@smithy/core util-retry: THROTTLING_RETRY_DELAY_BASE, DefaultRateLimiter minFillRate, StandardRetryStrategy).
 */
export const AWS_MAX_WAIT_BEFORE_RETRY_MS = 1_000 + 2_000 + 5_000;

/**
 * The worst case of one SDK call: every attempt connects at the last moment and times out, with the longest
 * wait before each retry: 3 x 7 s + 2 x 8 s = 37 s. docs/bridge.md states it.
 */
export const AWS_CALL_BOUND_MS =
  AWS_MAX_ATTEMPTS * (AWS_CONNECTION_TIMEOUT_MS + AWS_REQUEST_TIMEOUT_MS) +
  (AWS_MAX_ATTEMPTS - 1) * AWS_MAX_WAIT_BEFORE_RETRY_MS;

/** Client configuration shared by the bridge's ECS and EFS clients. */
export function awsClientConfig(): {
  maxAttempts: number;
  retryMode: 'adaptive';
  requestHandler: { connectionTimeout: number; requestTimeout: number };
} {
  return {
    maxAttempts: AWS_MAX_ATTEMPTS,
    retryMode: 'adaptive',
    requestHandler: { connectionTimeout: AWS_CONNECTION_TIMEOUT_MS, requestTimeout: AWS_REQUEST_TIMEOUT_MS },
  };
}
