import type { LocalRunOptions } from '../../local/cluster/local-cluster-run.ts';
import { LOCAL_BROKER } from '../support/services.ts';

/** A small burst that the end-to-end tests share: 0 to 3 workers of 2 processes, a few seconds of idle grace. */
export function smallRun(overrides: Partial<LocalRunOptions> = {}): LocalRunOptions {
  return {
    backend: 'process',
    broker: LOCAL_BROKER,
    tasks: 36,
    meanTaskSeconds: 1,
    minWorkers: 0,
    maxWorkers: 3,
    slotsPerWorker: 2,
    idleGraceSeconds: 3,
    pollSeconds: 1,
    view: 'none',
    timeoutSeconds: 150,
    ...overrides,
  };
}
