import { connect, type ChannelModel } from 'amqplib';

/** Where and as whom the bridge connects to RabbitMQ. Built by the config loader from OQE_BROKER_*. */
export interface BrokerEndpoint {
  readonly host: string;
  /** @default 5672 */
  readonly port?: number;
  /** The engine's vhost. @default 'openquake' */
  readonly vhost?: string;
  readonly username: string;
  /** Never logged, never put in an error message. */
  readonly password: string;
  /** AMQP heartbeat, so a dead broker is noticed between cycles. @default 15 */
  readonly heartbeatSeconds?: number;
}

/** `amqp://user@host:port/vhost`, never with the password: for logs and error messages. */
export function describeBroker(endpoint: BrokerEndpoint): string {
  return `amqp://${endpoint.username}@${endpoint.host}:${endpoint.port ?? 5672}/${encodeURIComponent(endpoint.vhost ?? 'openquake')}`;
}

/** The broker refused, or could not be reached; the message names the endpoint (no password) and the fix. */
export class BrokerConnectionError extends Error {
  /** `login` when RabbitMQ refused the credentials or the vhost, `unreachable` otherwise. */
  readonly kind: 'login' | 'unreachable';
  constructor(message: string, kind: 'login' | 'unreachable') {
    super(message);
    this.name = 'BrokerConnectionError';
    this.kind = kind;
  }
}

function scrub(text: string, secret: string): string {
  return secret.length > 0 ? text.split(secret).join('***') : text;
}

/**
 * Opens an AMQP connection with a clear error. The URL is never built: amqplib gets the fields, so that no
 * stack trace or log line can carry the password.
 */
export async function connectBroker(endpoint: BrokerEndpoint, timeoutMs = 5000): Promise<ChannelModel> {
  const where = describeBroker(endpoint);
  try {
    return await connect(
      {
        protocol: 'amqp',
        hostname: endpoint.host,
        port: endpoint.port ?? 5672,
        vhost: endpoint.vhost ?? 'openquake',
        username: endpoint.username,
        password: endpoint.password,
        heartbeat: endpoint.heartbeatSeconds ?? 15,
      },
      { timeout: timeoutMs },
    );
  } catch (error) {
    const detail = scrub(error instanceof Error ? error.message : String(error), endpoint.password);
    if (/ACCESS_REFUSED|403/.test(detail)) {
      throw new BrokerConnectionError(
        `RabbitMQ at ${where} refused the login of user '${endpoint.username}' (ACCESS_REFUSED): check ` +
          `OQE_BROKER_USER and OQE_BROKER_PASSWORD against the bridge broker secret, and that the master created ` +
          `the user`,
        'login',
      );
    }
    if (/NOT_ALLOWED|530/.test(detail)) {
      throw new BrokerConnectionError(
        `RabbitMQ at ${where} refused user '${endpoint.username}' access to vhost ` +
          `'${endpoint.vhost ?? 'openquake'}' (NOT_ALLOWED): check OQE_BROKER_VHOST and the user's permissions`,
        'login',
      );
    }
    throw new BrokerConnectionError(
      `cannot reach RabbitMQ at ${where}: ${detail}; check OQE_BROKER_HOST, OQE_BROKER_PORT and the security ` +
        `group that admits the bridge on 5672`,
      'unreachable',
    );
  }
}

/**
 * One AMQP connection shared by the probes of one bridge, opened on first use and reopened on the next use
 * after the broker closed it: a broker outage costs the cycles it lasts and needs no restart.
 */
export class BrokerSession {
  private current?: Promise<ChannelModel>;
  private readonly resetListeners = new Set<() => void>();

  constructor(
    readonly endpoint: BrokerEndpoint,
    private readonly connectTimeoutMs = 5000,
  ) {}

  /** The live connection, connecting if there is none. Concurrent callers share one attempt. */
  connection(): Promise<ChannelModel> {
    if (!this.current) {
      const attempt = connectBroker(this.endpoint, this.connectTimeoutMs).then((model) => {
        const drop = (): void => this.reset(attempt);
        model.on('close', drop);
        model.on('error', drop);
        return model;
      });
      attempt.catch(() => this.reset(attempt));
      this.current = attempt;
    }
    return this.current;
  }

  /** Calls `listener` whenever the connection is lost, so that owners of channels on it drop them. */
  onReset(listener: () => void): void {
    this.resetListeners.add(listener);
  }

  private reset(which: Promise<ChannelModel>): void {
    if (this.current !== which) return;
    this.current = undefined;
    for (const listener of this.resetListeners) listener();
  }

  /** Closes the connection, if any; the session can be used again afterwards. */
  async close(): Promise<void> {
    const current = this.current;
    if (!current) return;
    this.reset(current);
    try {
      await (await current).close();
    } catch {
      // Already closed or never opened: nothing to release.
    }
  }
}
