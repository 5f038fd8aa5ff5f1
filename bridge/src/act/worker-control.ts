import type { WorkerObservation } from '../observe/observation.ts';

/**
 * The part of celery's remote control the drain protocol needs, for one worker at a time. The adapter over
 * CeleryRemoteControl is remote-control-worker-control.ts; tests may use it directly.
 */
export interface WorkerControl {
  /** Stop `hostname` consuming from `queue`; resolves true when the worker confirmed. */
  cancelConsumer(hostname: string, queue: string): Promise<boolean>;
  /** Make `hostname` consume from `queue` again; resolves true when the worker confirmed. */
  addConsumer(hostname: string, queue: string): Promise<boolean>;
  /** A fresh look at one worker (active and reserved now); undefined when it did not answer. */
  inspect(hostname: string): Promise<WorkerObservation | undefined>;
}
