/**
 * WorkerControl over CeleryRemoteControl: every command goes to one named worker
 * (a destination list of one) and waits for that worker's reply only.
 */
import type { CeleryRemoteControl, ControlAck } from '../observe/celery-remote-control.ts';
import type { WorkerObservation } from '../observe/observation.ts';
import type { WorkerControl } from './worker-control.ts';

export class RemoteControlWorkerControl implements WorkerControl {
  /**
   * @param control the shared remote-control client
   * @param timeoutMs how long to wait for the one worker's reply @default 2000
   * @param now clock for `observedAt`
   */
  constructor(
    private readonly control: CeleryRemoteControl,
    private readonly timeoutMs = 2000,
    private readonly now: () => number = Date.now,
  ) {}

  async cancelConsumer(hostname: string, queue: string): Promise<boolean> {
    const result = await this.control.cancelConsumer(queue, [hostname], this.timeoutMs);
    return acknowledged(result.replies.get(hostname));
  }

  async addConsumer(hostname: string, queue: string): Promise<boolean> {
    const result = await this.control.addConsumer(queue, [hostname], this.timeoutMs);
    return acknowledged(result.replies.get(hostname));
  }

  async inspect(hostname: string): Promise<WorkerObservation | undefined> {
    const options = { destination: [hostname], timeoutMs: this.timeoutMs };
    const [active, reserved, queues] = await Promise.all([
      this.control.active(options),
      this.control.reserved(options),
      this.control.activeQueues(options),
    ]);
    const running = active.replies.get(hostname);
    const waiting = reserved.replies.get(hostname);
    // Idleness must be proven by both replies: a worker that answered only one of them is not known idle.
    if (running === undefined || waiting === undefined) return undefined;
    return {
      hostname,
      active: running,
      reserved: waiting.length,
      consuming: (queues.replies.get(hostname) ?? []).length > 0,
      observedAt: this.now(),
    };
  }
}

function acknowledged(reply: ControlAck | undefined): boolean {
  return reply !== undefined && reply.error === undefined;
}
