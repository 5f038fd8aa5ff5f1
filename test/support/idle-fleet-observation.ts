import type { Observation } from '../../bridge/src/observe/observation.ts';

/**
 * A complete observation for the control loop's tests: `ready` messages queued and one idle worker (pool size
 * 2, consuming, on a running unit of the same id) per entry of `workerIds`, all seen at `at`. `source` names
 * where the queue figures came from, for the logs.
 */
export function idleFleetObservation(
  at: number,
  ready: number,
  workerIds: readonly string[],
  source: string,
): Observation {
  return {
    queue: { ready, unacked: 0, consumers: workerIds.length, observedAt: at, source },
    workers: workerIds.map((id) => ({
      hostname: `oq@${id}`,
      poolSize: 2,
      active: [],
      reserved: 0,
      consuming: true,
      observedAt: at,
    })),
    compute: {
      desired: workerIds.length,
      running: workerIds.length,
      pending: 0,
      units: workerIds.map((id) => ({ unitId: id, celeryHostname: `oq@${id}`, state: 'running' as const })),
      observedAt: at,
    },
    errors: [],
  };
}
