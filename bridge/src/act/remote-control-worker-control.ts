/**
 * WorkerControl over CeleryRemoteControl: each command is one broadcast whose destination is the batch of
 * workers named, and it waits for exactly their replies (or the timeout).
 */
import { clockWith, type Clock } from '../clock.ts';
import type { BroadcastReplies, CeleryRemoteControl, ControlAck } from '../observe/celery-remote-control.ts';
import type { WorkerObservation } from '../observe/observation.ts';
import type { WorkerControl } from './worker-control.ts';

/** `now` (the looks' `observedAt`) defaults to the wall clock. */
export interface RemoteControlWorkerControlOptions extends Partial<Pick<Clock, 'now'>> {
  /** How long to wait for the named workers' replies. @default 2000 */
  readonly timeoutMs?: number;
}

export class RemoteControlWorkerControl implements WorkerControl {
  private readonly timeoutMs: number;
  private readonly clock: Clock;

  /** @param control the shared remote-control client */
  constructor(
    private readonly control: CeleryRemoteControl,
    options: RemoteControlWorkerControlOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.clock = clockWith(options);
  }

  async cancelConsumer(hostnames: readonly string[], queue: string): Promise<ReadonlySet<string>> {
    if (hostnames.length === 0) return new Set();
    return acknowledged(await this.control.cancelConsumer(queue, hostnames, this.timeoutMs));
  }

  async addConsumer(hostnames: readonly string[], queue: string): Promise<ReadonlySet<string>> {
    if (hostnames.length === 0) return new Set();
    return acknowledged(await this.control.addConsumer(queue, hostnames, this.timeoutMs));
  }

  async inspect(hostnames: readonly string[]): Promise<ReadonlyMap<string, WorkerObservation>> {
    const looks = new Map<string, WorkerObservation>();
    if (hostnames.length === 0) return looks;
    const options = { destination: hostnames, timeoutMs: this.timeoutMs };
    const [active, reserved, queues] = await Promise.all([
      this.control.active(options),
      this.control.reserved(options),
      this.control.activeQueues(options),
    ]);
    const observedAt = this.clock.now();
    for (const hostname of hostnames) {
      const running = active.replies.get(hostname);
      const waiting = reserved.replies.get(hostname);
      // Idleness must be proven by both replies: a worker that answered only one of them is not known idle.
      if (running === undefined || waiting === undefined) continue;
      looks.set(hostname, {
        hostname,
        active: running,
        reserved: waiting.length,
        // A worker that did not list its queues has not shown that the cancel took effect: it counts as consuming.
        consuming: queues.replies.get(hostname)?.length !== 0,
        observedAt,
      });
    }
    return looks;
  }
}

/** The hostnames whose reply is an `ok` (celery answers `{error: ...}` when it could not act). */
function acknowledged(result: BroadcastReplies<ControlAck>): Set<string> {
  return new Set([...result.replies].filter(([, reply]) => reply.error === undefined).map(([h]) => h));
}
