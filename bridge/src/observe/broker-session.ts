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
    throw explainBrokerFailure(error, endpoint, timeoutMs);
  }
}

/** The error code of a failed socket call (`ECONNREFUSED`, `ENOTFOUND`...), if any. */
function socketCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Turns what amqplib threw into an error that names the setting, its value (never the password) and the likely
 * fix. The patterns are amqplib 0.10's own messages as RabbitMQ 3.10 provokes them (checked against the real
 * broker in test/integration/bridge-errors.test.ts): a wrong password closes the handshake with 403
 * ACCESS_REFUSED; a vhost that does not exist or that the user may not use answers the `connection.open` with a
 * bare `ConnectionClose` ("Expected ConnectionOpenOk"); a port where something other than AMQP listens never
 * answers the protocol header, and the attempt ends at the connect timeout (`ETIMEDOUT`, or "Socket closed
 * abruptly during opening handshake" when the other side hangs up first), as it does behind a firewall that
 * drops packets.
 */
export function explainBrokerFailure(
  error: unknown,
  endpoint: BrokerEndpoint,
  timeoutMs: number,
): BrokerConnectionError {
  const where = describeBroker(endpoint);
  const vhost = endpoint.vhost ?? 'openquake';
  const port = endpoint.port ?? 5672;
  const detail = scrub(error instanceof Error ? error.message : String(error), endpoint.password);
  const code = socketCode(error);
  if (/ACCESS_REFUSED|403/.test(detail)) {
    return new BrokerConnectionError(
      `RabbitMQ at ${where} refused the login of user '${endpoint.username}' (ACCESS_REFUSED): check ` +
        `OQE_BROKER_USER and OQE_BROKER_PASSWORD against the bridge broker secret, and that the master created ` +
        `the user`,
      'login',
    );
  }
  if (/NOT_ALLOWED|530|Expected ConnectionOpenOk/.test(detail)) {
    return new BrokerConnectionError(
      `RabbitMQ at ${where} accepted user '${endpoint.username}' but refused vhost '${vhost}' (it does not exist ` +
        `or the user has no permissions on it): check OQE_BROKER_VHOST (the engine's is 'openquake') and ` +
        `\`rabbitmqctl list_permissions -p ${vhost}\` on the master`,
      'login',
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new BrokerConnectionError(
      `cannot reach RabbitMQ: the host name '${endpoint.host}' does not resolve (${code}): check OQE_BROKER_HOST ` +
        `(the master's private address)`,
      'unreachable',
    );
  }
  if (code === 'ECONNREFUSED') {
    return new BrokerConnectionError(
      `cannot reach RabbitMQ at ${where}: nothing listens on ${endpoint.host}:${port} (ECONNREFUSED): check ` +
        `OQE_BROKER_PORT (AMQP is 5672) and that rabbitmq-server runs on the master`,
      'unreachable',
    );
  }
  if (code === 'ETIMEDOUT' || /Socket closed abruptly during opening handshake|timed? ?out/i.test(detail)) {
    return new BrokerConnectionError(
      `no AMQP answer from ${endpoint.host}:${port} within ${timeoutMs} ms (${detail}): check OQE_BROKER_PORT ` +
        `(AMQP is 5672, not the management port 15672) and OQE_BROKER_HOST; a firewall that drops packets ` +
        `looks the same, so also check the security group that admits the bridge on 5672`,
      'unreachable',
    );
  }
  return new BrokerConnectionError(
    `cannot reach RabbitMQ at ${where}: ${detail}: check OQE_BROKER_HOST, OQE_BROKER_PORT and the security ` +
      `group that admits the bridge on 5672`,
    'unreachable',
  );
}

/**
 * One AMQP connection shared by the probes of one bridge, opened on first use and reopened on the next use
 * after the broker closed it: a broker outage costs the cycles it lasts and needs no restart.
 */
export class BrokerSession {
  private current?: Promise<ChannelModel>;
  private readonly resetListeners = new Set<() => void>();
  private failure?: BrokerConnectionError;

  constructor(
    readonly endpoint: BrokerEndpoint,
    /**
     * How long a connection attempt may take. Below the observer's 2000 ms per-source limit, so that a port
     * that never answers AMQP is reported with its own explanation rather than as a bare observer timeout; a
     * broker in the same VPC answers in milliseconds. @default 1500
     */
    private readonly connectTimeoutMs = 1500,
  ) {}

  /** The live connection, connecting if there is none. Concurrent callers share one attempt. */
  connection(): Promise<ChannelModel> {
    if (!this.current) {
      const attempt = connectBroker(this.endpoint, this.connectTimeoutMs).then((model) => {
        this.failure = undefined;
        const drop = (): void => this.reset(attempt);
        model.on('close', drop);
        model.on('error', drop);
        return model;
      });
      attempt.catch((error: unknown) => {
        if (error instanceof BrokerConnectionError) this.failure = error;
        this.reset(attempt);
      });
      this.current = attempt;
    }
    return this.current;
  }

  /**
   * Why the last connection attempt failed, until one succeeds. `kind: 'login'` (credentials or vhost refused)
   * is a configuration error that no retry fixes; `unreachable` may be an outage.
   */
  get lastFailure(): BrokerConnectionError | undefined {
    return this.failure;
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
