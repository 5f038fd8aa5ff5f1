import type { WorkerObservation } from '../observe/observation.ts';

/**
 * The part of celery's remote control the drain protocol needs. Every method takes the whole batch of workers
 * a decision drains, so that each step is one broadcast with a destination list however many workers retire:
 * celery's control exchange is a fanout, so every broadcast reaches every worker's control queue (a destination
 * only filters inside the worker), and per-worker commands would cost workers x retirees deliveries. The
 * adapter over CeleryRemoteControl is remote-control-worker-control.ts; tests may use it directly.
 */
export interface WorkerControl {
  /** Stop each of `hostnames` consuming from `queue`; resolves with the hostnames that confirmed. */
  cancelConsumer(hostnames: readonly string[], queue: string): Promise<ReadonlySet<string>>;
  /** Make each of `hostnames` consume from `queue` again; resolves with the hostnames that confirmed. */
  addConsumer(hostnames: readonly string[], queue: string): Promise<ReadonlySet<string>>;
  /**
   * One fresh look at exactly these workers (active and reserved now, and whether they still consume); a worker
   * that did not answer is absent from the result.
   */
  inspect(hostnames: readonly string[]): Promise<ReadonlyMap<string, WorkerObservation>>;
}
