/** Where and as whom the bridge reads the RabbitMQ management API. Built from OQE_MANAGEMENT_URL and OQE_BROKER_*. */
export interface ManagementEndpoint {
  /** `http://<master>:15672`, without credentials. */
  readonly url: string;
  readonly username: string;
  /** Never logged, never put in an error message. */
  readonly password: string;
  /** Below the observer's 2000 ms per-source limit, so that a timeout is explained here. @default 1500 */
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
    this.timeoutMs = endpoint.timeoutMs ?? 1500;
    this.username = endpoint.username;
  }

  private readonly username: string;
  private refused?: ManagementApiError;

  /** The last 401 refusal, until a call succeeds: a configuration error that no retry fixes. */
  get lastRefusal(): ManagementApiError | undefined {
    return this.refused;
  }

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
      throw new ManagementApiError(explainFetchFailure(error, this.base, this.timeoutMs));
    }
    if (response.status === 401) {
      throw (this.refused = new ManagementApiError(
        `RabbitMQ management API at ${this.base} refused user '${this.username}' (401): check OQE_BROKER_USER / ` +
          `OQE_BROKER_PASSWORD, and that the user has the 'management' tag`,
        401,
      ));
    }
    this.refused = undefined;
    if (response.status === 404) {
      throw new ManagementApiError(
        `queue '${name}' not found in vhost '${vhost}' on ${this.base} (404): check OQE_QUEUE and OQE_BROKER_VHOST`,
        404,
      );
    }
    if (!response.ok) {
      throw new ManagementApiError(
        `RabbitMQ management API at ${this.base}: HTTP ${response.status}: check OQE_MANAGEMENT_URL (the ` +
          `management plugin listens on 15672) or unset it to run on the passive declare and the workers' replies`,
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

/**
 * Why a `fetch` to the management API failed, naming OQE_MANAGEMENT_URL and the fix. Node's fetch throws a bare
 * `TypeError: fetch failed` and keeps the socket error (`ECONNREFUSED`, `ENOTFOUND`...) in `cause`.
 */
export function explainFetchFailure(error: unknown, base: string, timeoutMs: number): string {
  const where = `RabbitMQ management API at ${base} (OQE_MANAGEMENT_URL)`;
  if (error instanceof Error && error.name === 'TimeoutError') {
    return (
      `${where}: no answer in ${timeoutMs} ms: check that OQE_MANAGEMENT_URL names the master's port 15672 and ` +
      `that the security group admits the bridge on 15672`
    );
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code === 'ECONNREFUSED') {
    return (
      `${where}: nothing listens there (ECONNREFUSED): check the port in OQE_MANAGEMENT_URL (15672) and that the ` +
      `rabbitmq_management plugin is enabled on the master`
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `${where}: the host name does not resolve (${code}): check the host in OQE_MANAGEMENT_URL`;
  }
  const text = code ?? (typeof cause?.message === 'string' ? cause.message : String(error));
  return `${where} unreachable (${text}): check OQE_MANAGEMENT_URL and the security group that admits the bridge on 15672`;
}
