/** Where and as whom the bridge reads the RabbitMQ management API. Built from OQE_MANAGEMENT_URL and OQE_BROKER_*. */
export interface ManagementEndpoint {
  /** `http://<master>:15672`, without credentials. */
  readonly url: string;
  readonly username: string;
  /** Never logged, never put in an error message. */
  readonly password: string;
  /** @default 2000 */
  readonly timeoutMs?: number;
}

/** The management API's figures for one queue, as of its last statistics emission. */
export interface ManagementQueueFigures {
  readonly ready: number;
  readonly unacked: number;
  readonly consumers: number;
  readonly observedAt: number;
}

/** A failed management API call; the message names the URL (never with credentials) and the fix. */
export class ManagementApiError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ManagementApiError';
  }
}

const COLUMNS = ['messages_ready', 'messages_unacknowledged', 'consumers'];

/**
 * A thin client for the one management API call the bridge makes: `GET /api/queues/{vhost}/{name}` with
 * `columns=` so that RabbitMQ serialises three numbers instead of the whole queue record.
 */
export class ManagementApi {
  private readonly base: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;

  constructor(endpoint: ManagementEndpoint) {
    let parsed: URL;
    try {
      parsed = new URL(endpoint.url);
    } catch {
      throw new Error(`OQE_MANAGEMENT_URL '${endpoint.url}' is not a URL: use http://<master address>:15672`);
    }
    if (parsed.username || parsed.password) {
      // Credentials in a URL end up in logs and task definitions; the password comes from the broker secret.
      throw new Error(
        `OQE_MANAGEMENT_URL must not carry credentials (got user '${decodeURIComponent(parsed.username)}' in it): ` +
          `use http://<master address>:15672 and set OQE_BROKER_USER / OQE_BROKER_PASSWORD`,
      );
    }
    this.base = parsed.href.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${endpoint.username}:${endpoint.password}`).toString('base64')}`;
    this.timeoutMs = endpoint.timeoutMs ?? 2000;
    this.username = endpoint.username;
  }

  private readonly username: string;

  /** The queue's ready, unacked and consumer counts. */
  async queue(vhost: string, name: string): Promise<ManagementQueueFigures> {
    const path = `/api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(name)}?columns=${COLUMNS.join(',')}`;
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        headers: { authorization: this.authorization },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer in ${this.timeoutMs} ms`
          : String(error);
      throw new ManagementApiError(`RabbitMQ management API at ${this.base} unreachable: ${reason}`);
    }
    if (response.status === 401) {
      throw new ManagementApiError(
        `RabbitMQ management API at ${this.base} refused user '${this.username}' (401): check OQE_BROKER_USER / ` +
          `OQE_BROKER_PASSWORD, and that the user has the 'management' tag`,
        401,
      );
    }
    if (response.status === 404) {
      throw new ManagementApiError(
        `queue '${name}' not found in vhost '${vhost}' on ${this.base} (404): check OQE_QUEUE and OQE_BROKER_VHOST`,
        404,
      );
    }
    if (!response.ok) {
      throw new ManagementApiError(
        `RabbitMQ management API at ${this.base}: HTTP ${response.status}`,
        response.status,
      );
    }
    const body = (await response.json()) as Record<string, unknown>;
    const field = (key: string): number => (typeof body[key] === 'number' ? (body[key] as number) : 0);
    // A queue with no statistics yet (just declared) has no message fields: zero is what it holds.
    return {
      ready: field('messages_ready'),
      unacked: field('messages_unacknowledged'),
      consumers: field('consumers'),
      observedAt: Date.now(),
    };
  }
}
