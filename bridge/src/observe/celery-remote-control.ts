import { randomUUID } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { ActiveTask } from './observation.ts';
import type { BrokerSession } from './broker-session.ts';
import { parseCalculationId } from './calculation-id.ts';
import { decodePickle, encodePickle, type PicklableValue } from './safe-pickle.ts';
import { SessionChannel } from './session-channel.ts';

/**
 * The wire format of control messages and replies. Celery up to 5.0 (the engine's 4.4.7 included) hard-codes
 * JSON for its mailbox (celery/app/control.py: `accept=['json']`, no serializer, so kombu's default `json`);
 * from 5.1 the mailbox uses the app's `task_serializer` and `accept_content` (celery PR #6757), which for an
 * engine-like app is pickle only. A worker drops a message in a format it does not accept, so the bridge must
 * send the one its workers use. Replies are decoded by their content type, whatever was sent.
 */
export type ControlSerializer = 'json' | 'pickle';

/** Options of {@link CeleryRemoteControl}. */
export interface RemoteControlOptions {
  /** @default 'json' (celery 4.4.7, the engine 3.11 release's) */
  readonly serializer?: ControlSerializer;
  /** Celery's `control_exchange`: the fanout exchange is `<namespace>.pidbox`. @default 'celery' */
  readonly namespace?: string;
  /** How long a broadcast collects replies when not every expected worker has answered. @default 1000 */
  readonly timeoutMs?: number;
}

/** Who a broadcast goes to and when it stops collecting. */
export interface BroadcastOptions {
  /** Only these celery hostnames act and reply; all workers when absent. */
  readonly destination?: readonly string[];
  /**
   * Stop as soon as all of these hostnames have replied (defaults to `destination`). Without either, the
   * broadcast waits the whole timeout, since it cannot know how many workers exist.
   */
  readonly expect?: readonly string[];
  /**
   * The complete list of expected repliers, known only once the promise settles (the observer passes the
   * compute backend's running units, described while the broadcast is already out). Once it resolves, the
   * broadcast stops as soon as all of them have replied, and at once when the list is empty. A rejection
   * leaves the broadcast to its timeout. Takes precedence over `expect`.
   */
  readonly expectFrom?: Promise<readonly string[]>;
  readonly timeoutMs?: number;
}

/** Replies of one broadcast, one per worker that answered in time. */
export interface BroadcastReplies<T> {
  /** Per celery hostname, its reply. */
  readonly replies: Map<string, T>;
  /** Expected hostnames that did not reply before the timeout. */
  readonly missing: string[];
  /** Replies that could not be decoded (unknown format, refused pickle); the hostname is unknown then. */
  readonly errors: string[];
}

/** A task from `active` or `reserved`. */
export interface TaskInfo extends ActiveTask {
  /** The argument repr (celery's `argsrepr`), or the raw `args` value when the worker sent that. */
  readonly args?: unknown;
  /** Pid of the pool process running it (active tasks only). */
  readonly workerPid?: number;
}

/** The parts of `stats` the bridge uses. */
export interface WorkerStats {
  /** Pool size: `pool['max-concurrency']`. */
  readonly poolSize?: number;
  /** The worker's main pid. */
  readonly pid?: number;
  /** Seconds since the worker started (celery 5 only). */
  readonly uptimeSeconds?: number;
  /** The whole reply, for the `status --json` output. */
  readonly raw: Record<string, unknown>;
}

/** `{ok: ...}` or `{error: ...}`, as celery's control commands answer. */
export interface ControlAck {
  readonly ok?: string;
  readonly error?: string;
}

interface Pending {
  readonly replies: Map<string, unknown>;
  readonly errors: string[];
  readonly expect: Set<string>;
  /** False while `expectFrom` has not resolved: no early stop until the expected repliers are known. */
  expectKnown: boolean;
  readonly done: () => void;
  /** Ends the broadcast with an error: its replies can no longer arrive. */
  readonly fail: (error: Error) => void;
  readonly channel: Channel;
}

const CONTENT_TYPE = { json: 'application/json', pickle: 'application/x-python-serialize' } as const;
const CONTENT_ENCODING = { json: 'utf-8', pickle: 'binary' } as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return (
    value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Parses one element of an `active`/`reserved` reply; undefined when it is not a task dict. */
export function parseTaskInfo(value: unknown): TaskInfo | undefined {
  if (!isRecord(value) || typeof value.id !== 'string') return undefined;
  const timeStart = num(value.time_start);
  const calculationId = parseCalculationId(value.args);
  return {
    id: value.id,
    name: typeof value.name === 'string' ? value.name : String(value.type ?? ''),
    // celery's time_start is time.time() in the worker: seconds since the epoch.
    ...(timeStart !== undefined ? { startedAt: Math.round(timeStart * 1000) } : {}),
    ...(calculationId !== undefined ? { calculationId } : {}),
    ...(value.args !== undefined ? { args: value.args } : {}),
    ...(num(value.worker_pid) !== undefined ? { workerPid: num(value.worker_pid) } : {}),
  };
}

/** Parses a `stats` reply. */
export function parseWorkerStats(value: unknown): WorkerStats {
  const raw = isRecord(value) ? value : {};
  const pool = isRecord(raw.pool) ? raw.pool : {};
  return {
    poolSize: num(pool['max-concurrency']),
    pid: num(raw.pid),
    uptimeSeconds: num(raw.uptime),
    raw,
  };
}

/**
 * The prefix of the bridge's reply queues. The master grants the bridge's RabbitMQ user configure/write/read on
 * `oq-bridge-*.reply.celery.pidbox` only (cdk/assets/master/provision-rabbitmq.sh): any other reply-shaped name
 * is refused, so the bridge cannot declare an exchange that a worker could be told to consume from.
 */
export const BRIDGE_REPLY_QUEUE_PREFIX = 'oq-bridge-';

/**
 * A client for celery's remote control ("pidbox"), speaking to real Python workers over AMQP.
 *
 * A request is published to the fanout exchange `celery.pidbox` with a `ticket` and a `reply_to`; each worker
 * that accepts it answers `{hostname: reply}` on the direct exchange `reply.celery.pidbox` with the ticket in
 * the headers (kombu/pidbox.py, `Mailbox._publish`, `Node.dispatch`, `Mailbox._publish_reply`). The bridge keeps
 * one exclusive reply queue bound with its own routing key and routes replies to broadcasts by ticket, so
 * several broadcasts can run at once on one connection.
 */
export class CeleryRemoteControl {
  readonly serializer: ControlSerializer;
  private readonly namespace: string;
  private readonly timeoutMs: number;
  /** Routing key of this client's replies (kombu's `oid`). */
  private readonly oid = randomUUID();
  /** The channel with the reply queue consumed; opened again after it or the connection is lost. */
  private readonly replyChannel: SessionChannel;
  private readonly pending = new Map<string, Pending>();
  private clock = 0;
  /** Tickets of broadcasts that ended recently, so that their late replies are recognised. */
  private readonly ended: string[] = [];
  /** Hostnames that replied after their broadcast ended, until taken by {@link takeLateRepliers}. */
  private readonly late = new Set<string>();

  constructor(session: BrokerSession, options: RemoteControlOptions = {}) {
    this.serializer = options.serializer ?? 'json';
    this.namespace = options.namespace ?? 'celery';
    this.timeoutMs = options.timeoutMs ?? 1000;
    if (this.serializer !== 'json' && this.serializer !== 'pickle') {
      throw new Error(
        `remote control serializer '${String(this.serializer)}' is not supported: use 'json' (celery < 5.1, ` +
          `engine 3.11) or 'pickle' (celery >= 5.1 with task_serializer = 'pickle')`,
      );
    }
    this.replyChannel = new SessionChannel(session, {
      setUp: (channel) => this.consumeReplies(channel),
      // Replies to broadcasts in progress would have come on this channel's queue: none will now. Failing
      // them keeps "the broker went away" from reading as "no worker answered".
      onClose: (channel) => {
        for (const pending of this.pending.values()) {
          if (pending.channel === channel) {
            pending.fail(new Error('the connection to RabbitMQ closed while collecting replies'));
          }
        }
      },
    });
  }

  private get exchange(): string {
    return `${this.namespace}.pidbox`;
  }

  private get replyExchange(): string {
    return `reply.${this.namespace}.pidbox`;
  }

  /** Declares the exchanges and this client's reply queue on a new channel, and consumes the replies. */
  private async consumeReplies(channel: Channel): Promise<void> {
    // Same arguments as kombu's Mailbox exchanges (durable=False, auto_delete=False), or RabbitMQ refuses the
    // redeclare with PRECONDITION_FAILED when workers declared them first.
    await channel.assertExchange(this.exchange, 'fanout', { durable: false, autoDelete: false });
    await channel.assertExchange(this.replyExchange, 'direct', { durable: false, autoDelete: false });
    const { queue } = await channel.assertQueue(
      `${BRIDGE_REPLY_QUEUE_PREFIX}${this.oid}.${this.replyExchange}`,
      {
        exclusive: true,
        durable: false,
        autoDelete: true,
      },
    );
    await channel.bindQueue(queue, this.replyExchange, this.oid);
    await channel.consume(queue, (message) => this.onReply(message), { noAck: true });
  }

  private decode(message: ConsumeMessage): unknown {
    const type = message.properties.contentType as string | undefined;
    if (type === CONTENT_TYPE.pickle) return decodePickle(message.content);
    if (type === CONTENT_TYPE.json || type === undefined) return JSON.parse(message.content.toString('utf8'));
    throw new Error(`reply in unsupported content type '${type}'`);
  }

  private onReply(message: ConsumeMessage | null): void {
    if (!message) return;
    const ticket = (message.properties.headers ?? {}).ticket as unknown;
    const pending = typeof ticket === 'string' ? this.pending.get(ticket) : undefined;
    if (!pending) {
      // A late reply to a broadcast that has ended early: its sender is alive, which the next cycle should
      // hear about (a worker no backend unit accounts for, or one slower than the others).
      if (typeof ticket === 'string' && this.ended.includes(ticket)) {
        try {
          const body = this.decode(message);
          if (isRecord(body)) for (const hostname of Object.keys(body)) this.late.add(hostname);
        } catch {
          // undecodable: its sender cannot be named
        }
      }
      return;
    }
    try {
      const body = this.decode(message);
      if (!isRecord(body)) throw new Error('reply is not a {hostname: reply} mapping');
      for (const [hostname, reply] of Object.entries(body)) pending.replies.set(hostname, reply);
    } catch (error) {
      pending.errors.push(
        `undecodable remote-control reply: ${error instanceof Error ? error.message : error}`,
      );
    }
    if (allReplied(pending)) pending.done();
  }

  /**
   * Hostnames that answered a broadcast after it had ended (it stopped at its expected repliers), since the
   * last call; the observer expects them next cycle so that an unknown worker is still noticed.
   */
  takeLateRepliers(): string[] {
    const hostnames = [...this.late];
    this.late.clear();
    return hostnames;
  }

  /**
   * Sends one control command and collects the replies until the timeout, or until every expected worker
   * has replied. Throws when the broker cannot be reached (the caller reports the part as missing).
   */
  async broadcast(
    method: string,
    args: Record<string, PicklableValue> = {},
    options: BroadcastOptions = {},
  ): Promise<BroadcastReplies<unknown>> {
    const channel = await this.replyChannel.get();
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const ticket = randomUUID();
    const expect = new Set(options.expectFrom ? [] : (options.expect ?? options.destination ?? []));
    const replies = new Map<string, unknown>();
    const errors: string[] = [];
    let finish!: () => void;
    let fail!: (error: Error) => void;
    const finished = new Promise<void>((resolve, reject) => {
      finish = resolve;
      fail = reject;
    });
    // Awaited below; this handler only keeps a failure that comes before the await from counting as unhandled.
    finished.catch(() => undefined);
    const timer = setTimeout(finish, timeoutMs);
    const pending: Pending = {
      replies,
      errors,
      expect,
      expectKnown: !options.expectFrom && expect.size > 0,
      done: finish,
      fail,
      channel,
    };
    this.pending.set(ticket, pending);
    options.expectFrom?.then(
      (hostnames) => {
        for (const h of hostnames) expect.add(h);
        pending.expectKnown = true;
        if (allReplied(pending)) finish();
      },
      () => undefined, // unknown repliers: collect until the timeout
    );
    try {
      const message = {
        method,
        arguments: args,
        destination: options.destination ? [...options.destination] : null,
        pattern: null,
        matcher: null,
        ticket,
        reply_to: { exchange: this.replyExchange, routing_key: this.oid },
      };
      const body =
        this.serializer === 'pickle' ? encodePickle(message) : Buffer.from(JSON.stringify(message), 'utf8');
      const published = channel.publish(this.exchange, '', body, {
        contentType: CONTENT_TYPE[this.serializer],
        contentEncoding: CONTENT_ENCODING[this.serializer],
        deliveryMode: 1,
        priority: 0,
        // The clock as a 32-bit integer ('I'), as kombu sends it: amqplib would encode 128..32767 as 's', a
        // short integer to RabbitMQ but a short string to py-amqp 2.x, and a celery 4.4.7 worker reading that
        // table stops with an unrecoverable UnicodeDecodeError (found by test/e2e/engine-calculation.test.ts).
        headers: { clock: { '!': 'int', value: ++this.clock }, expires: (Date.now() + timeoutMs) / 1000 },
      });
      if (!published)
        await Promise.race([new Promise((resolve) => channel.once('drain', resolve)), finished]);
      await finished;
    } finally {
      clearTimeout(timer);
      this.pending.delete(ticket);
      this.ended.push(ticket);
      if (this.ended.length > 64) this.ended.shift();
    }
    return { replies, missing: [...expect].filter((h) => !replies.has(h)), errors };
  }

  /** `ping`: which workers are alive and reading their control queue. */
  async ping(options: BroadcastOptions = {}): Promise<BroadcastReplies<ControlAck>> {
    return this.broadcast('ping', {}, options) as Promise<BroadcastReplies<ControlAck>>;
  }

  /** `stats`: pool size and process figures of each worker. */
  async stats(options: BroadcastOptions = {}): Promise<BroadcastReplies<WorkerStats>> {
    const result = await this.broadcast('stats', {}, options);
    return { ...result, replies: mapValues(result.replies, parseWorkerStats) };
  }

  /**
   * `active`: the tasks each worker is running, with start times and argument reprs. Asks for `safe` replies
   * (argument reprs, celery >= 5.x) so that no task object has to cross; celery 4.4 ignores the flag.
   */
  async active(options: BroadcastOptions = {}): Promise<BroadcastReplies<TaskInfo[]>> {
    const result = await this.broadcast('active', { safe: true }, options);
    return { ...result, replies: mapValues(result.replies, parseTaskList) };
  }

  /** `reserved`: tasks received (prefetched) but not started. */
  async reserved(options: BroadcastOptions = {}): Promise<BroadcastReplies<TaskInfo[]>> {
    const result = await this.broadcast('reserved', {}, options);
    return { ...result, replies: mapValues(result.replies, parseTaskList) };
  }

  /** `active_queues`: names of the queues each worker consumes from now. */
  async activeQueues(options: BroadcastOptions = {}): Promise<BroadcastReplies<string[]>> {
    const result = await this.broadcast('active_queues', {}, options);
    return {
      ...result,
      replies: mapValues(result.replies, (value) =>
        Array.isArray(value)
          ? value.flatMap((q) => (isRecord(q) && typeof q.name === 'string' ? [q.name] : []))
          : [],
      ),
    };
  }

  /** `cancel_consumer`: the named workers stop taking new tasks from `queue` (running tasks go on). */
  async cancelConsumer(queue: string, destination: readonly string[], timeoutMs?: number) {
    requireDestination('cancelConsumer', destination);
    return this.broadcast('cancel_consumer', { queue }, { destination, timeoutMs }) as Promise<
      BroadcastReplies<ControlAck>
    >;
  }

  /** `add_consumer`: the named workers consume from `queue` again. */
  async addConsumer(queue: string, destination: readonly string[], timeoutMs?: number) {
    requireDestination('addConsumer', destination);
    return this.broadcast('add_consumer', { queue }, { destination, timeoutMs }) as Promise<
      BroadcastReplies<ControlAck>
    >;
  }

  /** Deletes the reply queue (exclusive, so it would go with the connection anyway). */
  async close(): Promise<void> {
    await this.replyChannel.close();
  }
}

function allReplied(pending: Pending): boolean {
  return pending.expectKnown && [...pending.expect].every((h) => pending.replies.has(h));
}

function requireDestination(method: string, destination: readonly string[]): void {
  // A consumer command without a destination would reach every worker: never what a drain means.
  if (destination.length === 0) {
    throw new Error(`${method}: destination is empty; name the celery hostnames (oq@<unit id>) to act on`);
  }
}

function parseTaskList(value: unknown): TaskInfo[] {
  return Array.isArray(value) ? value.flatMap((v) => parseTaskInfo(v) ?? []) : [];
}

function mapValues<A, B>(map: Map<string, A>, fn: (a: A) => B): Map<string, B> {
  return new Map([...map].map(([k, v]) => [k, fn(v)]));
}
