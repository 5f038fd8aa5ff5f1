/** Polling for the tests: what to wait for, how to see it, and for how long. */

/**
 * Polls `probe` every `intervalMs` (250 ms) until it returns a value other than undefined, and returns that
 * value; throws, naming `what`, after `timeoutMs` (30 s).
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
