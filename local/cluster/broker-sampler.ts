import amqp from 'amqplib';

/** The `celery` queue as the broker reports it: the demo's ground truth for the chart and the summary. */
export interface BrokerSample {
  /** Ready messages, from a passive declare (live). */
  readonly ready: number;
  /** Delivered and not yet acknowledged, from the management API (lags by its statistics interval). */
  readonly unacked: number;
  readonly consumers: number;
}

/** Where the sampler finds the broker. The URL carries a password: it is never printed. */
export interface BrokerSamplerOptions {
  readonly amqpUrl: string;
  readonly managementUrl: string;
  readonly user: string;
  readonly password: string;
  readonly vhost: string;
  readonly queue?: string;
}

/**
 * Reads the queue the way the demo reports it: ready and consumers live over AMQP (a passive declare), unacked
 * from the management API. Returns undefined while the broker is down, so a restart shows as a gap, not a zero.
 */
export class BrokerSampler {
  private connection?: amqp.ChannelModel;
  private channel?: amqp.Channel;
  private readonly queue: string;

  constructor(private readonly options: BrokerSamplerOptions) {
    this.queue = options.queue ?? 'celery';
  }

  async sample(): Promise<BrokerSample | undefined> {
    try {
      const channel = await this.openChannel();
      let ready = 0;
      let consumers = 0;
      try {
        const q = await channel.checkQueue(this.queue);
        ready = q.messageCount;
        consumers = q.consumerCount;
      } catch {
        // Not declared yet (no worker and no task so far): the channel was closed by the broker.
        this.channel = undefined;
      }
      const auth = Buffer.from(`${this.options.user}:${this.options.password}`).toString('base64');
      const path = `/api/queues/${encodeURIComponent(this.options.vhost)}/${encodeURIComponent(this.queue)}`;
      const response = await fetch(`${this.options.managementUrl}${path}?columns=messages_unacknowledged`, {
        headers: { authorization: `Basic ${auth}` },
        signal: AbortSignal.timeout(2000),
      });
      const unacked = response.ok
        ? (((await response.json()) as { messages_unacknowledged?: number }).messages_unacknowledged ?? 0)
        : 0;
      return { ready, unacked, consumers };
    } catch {
      await this.close();
      return undefined;
    }
  }

  async close(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    this.channel = undefined;
    await connection?.close().catch(() => undefined);
  }

  private async openChannel(): Promise<amqp.Channel> {
    if (!this.connection) {
      const connection = await amqp.connect(this.options.amqpUrl);
      connection.on('error', () => undefined);
      connection.on('close', () => {
        if (this.connection === connection) {
          this.connection = undefined;
          this.channel = undefined;
        }
      });
      this.connection = connection;
    }
    if (!this.channel) {
      const channel = await this.connection.createChannel();
      channel.on('error', () => undefined);
      channel.on('close', () => {
        if (this.channel === channel) this.channel = undefined;
      });
      this.channel = channel;
    }
    return this.channel;
  }
}
