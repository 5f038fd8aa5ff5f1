import type { SimPolicy } from '../sim-policy.ts';

/** The classic cluster: `workers` always on, started before the trace and stopped when the last task ends. */
export function fixedFleet(workers: number): SimPolicy {
  return {
    name: 'fixed-max',
    intervalSeconds: 3600,
    victims: 'none',
    initialWorkers: workers,
    stopWhenDone: true,
    evaluate: () => undefined,
  };
}
