import type { Channel } from 'amqplib';
import type { BrokerSession } from './broker-session.ts';

/** What the owner of a {@link SessionChannel} does with each channel it opens. */
export interface SessionChannelHooks {
  /** Prepares a new channel (declares, consumers) before it is handed out; a failure fails that opening. */
  readonly setUp?: (channel: Channel) => Promise<void>;
  /** Told when a channel closes, for what its owner had under way on it. */
  readonly onClose?: (channel: Channel) => void;
}

/**
 * One AMQP channel on a {@link BrokerSession}, opened on first use and opened again on the next use after the
 * channel, its opening or the session's connection was lost: a broker outage costs the uses it lasts. Concurrent
 * callers share one attempt.
 */
export class SessionChannel {
  private current?: Promise<Channel>;

  constructor(
    private readonly session: BrokerSession,
    private readonly hooks: SessionChannelHooks = {},
  ) {
    session.onReset(() => {
      this.current = undefined;
    });
  }

  /** The channel, opening it if there is none. */
  get(): Promise<Channel> {
    if (!this.current) {
      const attempt = this.session.connection().then(async (connection) => {
        const channel = await connection.createChannel();
        channel.on('close', () => {
          if (this.current === attempt) this.current = undefined;
          this.hooks.onClose?.(channel);
        });
        // Unheard, an 'error' (the broker closing the channel, e.g. a passive declare's 404) would be thrown;
        // the 'close' that follows it is what counts.
        channel.on('error', () => undefined);
        await this.hooks.setUp?.(channel);
        return channel;
      });
      attempt.catch(() => {
        if (this.current === attempt) this.current = undefined;
      });
      this.current = attempt;
    }
    return this.current;
  }

  /** Closes the channel, if one is open; the next {@link get} opens a new one. */
  async close(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (!current) return;
    try {
      await (await current).close();
    } catch {
      // Never opened, or closed with its connection: nothing to release.
    }
  }
}
