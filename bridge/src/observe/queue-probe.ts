import type { BrokerSession } from './broker-session.ts';
import type { ManagementApi, ManagementQueueFigures } from './management-api.ts';
import { SessionChannel } from './session-channel.ts';

/** What an AMQP passive declare tells, live: ready messages and consumers (never unacked). */
export interface PassiveQueueFigures {
  readonly ready: number;
  readonly consumers: number;
  readonly observedAt: number;
  /** False when the queue does not exist yet (nothing declared it): then both counts are truly zero. */
  readonly exists: boolean;
}

/**
 * Reads the `celery` queue from two sources: an AMQP passive declare (`queue.declare` with passive=true,
 * answered by the queue process itself, so live) and, when given, the management API (ready, unacked and
 * consumers, but only as fresh as the broker's last statistics emission, `collect_statistics_interval`).
 */
export class QueueProbe {
  // A passive declare of a missing queue closes its channel (404): the next look opens a new one.
  private readonly channel: SessionChannel;

  constructor(
    session: BrokerSession,
    readonly queue = 'celery',
    private readonly management?: ManagementApi,
    private readonly vhost = session.endpoint.vhost ?? 'openquake',
  ) {
    this.channel = new SessionChannel(session);
  }

  /** Live ready and consumer counts from a passive declare. */
  async passive(): Promise<PassiveQueueFigures> {
    const channel = await this.channel.get();
    try {
      const reply = await channel.checkQueue(this.queue);
      return {
        ready: reply.messageCount,
        consumers: reply.consumerCount,
        observedAt: Date.now(),
        exists: true,
      };
    } catch (error) {
      if (/NOT_FOUND|404/.test(String(error))) {
        return { ready: 0, consumers: 0, observedAt: Date.now(), exists: false };
      }
      throw error;
    }
  }

  /** The management API's figures; throws when no management API was configured. */
  async fromManagement(): Promise<ManagementQueueFigures> {
    if (!this.management) throw new Error('QueueProbe: no management API configured');
    return this.management.queue(this.vhost, this.queue);
  }

  get hasManagement(): boolean {
    return this.management !== undefined;
  }

  async close(): Promise<void> {
    await this.channel.close();
  }
}
