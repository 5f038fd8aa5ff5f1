import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import { waitFor } from '../../local/timeouts.ts';

/**
 * Scales `fleet` to `count` and waits until it reports that many units running (their workers ready), for tests
 * that start from a settled fleet. Throws after `timeoutMs`: a cold worker start is seconds, more on a loaded machine.
 */
export async function scaleAndAwaitRunning(
  fleet: ComputeBackend,
  count: number,
  timeoutMs = 40_000,
): Promise<void> {
  await fleet.scaleTo(count);
  await waitFor(
    `${count} running workers`,
    async () => (await fleet.describe()).running >= count,
    timeoutMs,
    250,
  );
}
