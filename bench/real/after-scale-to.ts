/**
 * A compute backend that tells the benchmark when each `scaleTo` has returned: the decision-latency and burst
 * figures end at the moment the scale-out call (UpdateService on moto) came back.
 */
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';

/** `backend` as it is, with `onScaled(desired)` called after each of its `scaleTo` calls has returned. */
export function afterScaleTo(backend: ComputeBackend, onScaled: (desired: number) => void): ComputeBackend {
  return {
    name: backend.name,
    describe: () => backend.describe(),
    scaleTo: async (n) => {
      await backend.scaleTo(n);
      onScaled(n);
    },
    retire: (ids) => backend.retire(ids),
    protect: (ids, m) => backend.protect(ids, m),
    release: (ids) => backend.release(ids),
    close: () => backend.close(),
  };
}
