/**
 * The master's calculation events, as the observation's `calculations`: a consumer of the snapshots that the
 * master's publisher (cdk/assets/master/publish-calculation-events.py) puts on one queue of the engine's vhost
 * every few seconds. The bridge's RabbitMQ user may read that queue and nothing else there (no declare, no
 * publish): it only consumes. No queue, no publisher, a broker outage or a malformed message all read as "no
 * signal", and the decision is then exactly the queue-only one.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import { clockWith, type Clock } from '../clock.ts';
import type { BrokerSession } from './broker-session.ts';
import type {
  CalculationState,
  CalculationStatus,
  CalculationsObservation,
  Observation,
} from './observation.ts';

const STATUSES: readonly CalculationStatus[] = ['started', 'running', 'between-phases', 'ended'];

/** The snapshot format the publisher writes (`version` 1). */
export const CALCULATION_SNAPSHOT_VERSION = 1;

/**
 * Reads one snapshot (the message body's text). Throws an error naming what is wrong, so that a publisher of
 * another version shows up in the bridge's logs rather than as a silent fallback.
 */
export function parseCalculationSnapshot(text: string): CalculationsObservation {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`calculation snapshot is not JSON: ${text.slice(0, 80)}`);
  }
  const b = body as { version?: unknown; publishedAt?: unknown; calculations?: unknown };
  if (b?.version !== CALCULATION_SNAPSHOT_VERSION) {
    throw new Error(
      `calculation snapshot version ${JSON.stringify(b?.version)} is not ${CALCULATION_SNAPSHOT_VERSION}: run the publisher of this release on the master`,
    );
  }
  if (typeof b.publishedAt !== 'number' || !Array.isArray(b.calculations)) {
    throw new Error('calculation snapshot lacks publishedAt (ms) or calculations (a list)');
  }
  const calculations = b.calculations.map((c: unknown, i: number): CalculationState => {
    const e = c as Record<string, unknown>;
    const held = e?.tasksHeldByMaster;
    if (
      !Number.isInteger(e?.id) ||
      !STATUSES.includes(e?.status as CalculationStatus) ||
      typeof e?.since !== 'number' ||
      (held !== undefined && !(Number.isInteger(held) && (held as number) >= 0))
    ) {
      throw new Error(`calculation snapshot entry ${i} is malformed: ${JSON.stringify(c).slice(0, 120)}`);
    }
    return {
      id: e.id as number,
      status: e.status as CalculationStatus,
      since: e.since,
      ...(held !== undefined ? { tasksHeldByMaster: held as number } : {}),
    };
  });
  // The master's time of reading, not our time of receipt: a snapshot that waited in the queue is that old.
  return { calculations, observedAt: b.publishedAt };
}

/** `now` (when to retry a missing queue) defaults to the wall clock. */
export interface CalculationEventsOptions extends Partial<Pick<Clock, 'now'>> {
  readonly session: BrokerSession;
  /** OQE_CALCULATION_EVENTS_QUEUE. */
  readonly queue: string;
  /** Milliseconds between two attempts to subscribe while the queue is missing. @default 30000 */
  readonly retryMs?: number;
  /** Told once per distinct problem (missing queue, refused read, malformed snapshot). */
  readonly onProblem?: (message: string) => void;
}

/** Keeps the newest snapshot the master published; {@link latest} is what the observation carries. */
export class CalculationEvents {
  private channel?: Promise<Channel | undefined>;
  private newest?: CalculationsObservation;
  private nextAttemptAt = 0;
  private lastProblem?: string;
  private readonly clock: Clock;

  constructor(private readonly options: CalculationEventsOptions) {
    this.clock = clockWith(options);
    options.session.onReset(() => {
      this.channel = undefined;
      this.nextAttemptAt = 0; // a new connection: the queue may be back too
    });
  }

  /**
   * The newest snapshot, subscribing first when not subscribed (at most every `retryMs` while the queue is
   * missing). Never throws; its age is for the decision to judge (`staleAfterSeconds`).
   */
  async latest(): Promise<CalculationsObservation | undefined> {
    if (!this.channel && this.clock.now() >= this.nextAttemptAt) this.channel = this.subscribe();
    await this.channel;
    return this.newest;
  }

  private async subscribe(): Promise<Channel | undefined> {
    let channel: Channel | undefined;
    try {
      const connection = await this.options.session.connection();
      channel = await connection.createChannel();
      channel.on('error', () => undefined);
      channel.on('close', () => {
        this.channel = undefined;
      });
      // Passive: the publisher declares the queue; the bridge may not (no configure permission).
      await channel.checkQueue(this.options.queue);
      await channel.consume(this.options.queue, (message) => this.receive(message), { noAck: true });
      this.lastProblem = undefined;
      return channel;
    } catch (error) {
      this.nextAttemptAt = this.clock.now() + (this.options.retryMs ?? 30_000);
      this.problem(
        `calculation events unavailable on queue ${this.options.queue} (${error instanceof Error ? error.message : String(error)}): ` +
          'scaling on the queue and workers only; check that oq-calculation-events runs on the master',
      );
      await channel?.close().catch(() => undefined);
      this.channel = undefined;
      return undefined;
    }
  }

  private receive(message: ConsumeMessage | null): void {
    if (!message) {
      this.channel = undefined; // the broker cancelled the consumer (queue deleted)
      return;
    }
    try {
      this.newest = parseCalculationSnapshot(message.content.toString('utf8'));
    } catch (error) {
      this.problem(error instanceof Error ? error.message : String(error));
    }
  }

  private problem(message: string): void {
    if (message === this.lastProblem) return;
    this.lastProblem = message;
    this.options.onProblem?.(message);
  }

  async close(): Promise<void> {
    const channel = await this.channel;
    this.channel = undefined;
    await channel?.close().catch(() => undefined);
  }
}

/** `source`'s observation with the master's calculations added (when there is a snapshot). */
export function withCalculationEvents(
  source: { observe(): Promise<Observation> },
  events: CalculationEvents,
): { observe(): Promise<Observation> } {
  return {
    observe: async (): Promise<Observation> => {
      const [observation, calculations] = await Promise.all([source.observe(), events.latest()]);
      return calculations ? { ...observation, calculations } : observation;
    },
  };
}
