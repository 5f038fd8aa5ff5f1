/**
 * An observation source for the benchmark, composed from the bridge's committed observe parts (BrokerSession,
 * CeleryRemoteControl) and a compute backend, doing what the bridge's Observer does each cycle: a passive
 * declare of the queue (live ready and consumers), the management API's unacked figure for that one queue
 * (`columns=`), the compute backend's units, and `stats` + `active` to the workers those units name. The
 * broadcasts stop as soon as every expected worker answered, else after the remote-control timeout.
 */
import type { Channel } from 'amqplib';
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import type { ObservationSource } from '../../bridge/src/loop/control-loop.ts';
import type { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import type { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import type {
  ComputeObservation,
  Observation,
  QueueObservation,
  WorkerObservation,
} from '../../bridge/src/observe/observation.ts';

export interface BenchObserverOptions {
  readonly session: BrokerSession;
  readonly control: CeleryRemoteControl;
  readonly compute: Pick<ComputeBackend, 'describe'>;
  readonly queue: string;
  readonly vhost: string;
  /** Management API base URL, no credentials in it. */
  readonly managementUrl: string;
  /** Basic-auth user and password for the management API (never logged). */
  readonly managementUser: string;
  readonly managementPassword: string;
  /** Remote-control collection timeout, ms. */
  readonly controlTimeoutMs: number;
}

/** Counts of what one cycle asked the broker, for the load figures. */
export interface ObserveCounters {
  cycles: number;
  passiveDeclares: number;
  managementCalls: number;
  broadcasts: number;
  replies: number;
}

export class BenchObserver implements ObservationSource {
  readonly counters: ObserveCounters = {
    cycles: 0,
    passiveDeclares: 0,
    managementCalls: 0,
    broadcasts: 0,
    replies: 0,
  };
  private channel?: Promise<Channel>;

  constructor(private readonly options: BenchObserverOptions) {
    options.session.onReset(() => (this.channel = undefined));
  }

  async observe(): Promise<Observation> {
    this.counters.cycles++;
    const errors: string[] = [];
    const [queue, compute] = await Promise.all([
      this.observeQueue().catch((e: unknown) => {
        errors.push(`queue: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }),
      this.options.compute.describe().catch((e: unknown) => {
        errors.push(`compute: ${e instanceof Error ? e.message : String(e)}`);
        return undefined;
      }),
    ]);
    const workers = await this.observeWorkers(compute).catch((e: unknown) => {
      errors.push(`workers: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    });
    return { queue, workers, compute, errors };
  }

  private async passiveChannel(): Promise<Channel> {
    if (!this.channel) {
      const attempt = (async () => {
        const ch = await (await this.options.session.connection()).createChannel();
        ch.on('close', () => {
          if (this.channel === attempt) this.channel = undefined;
        });
        ch.on('error', () => undefined);
        return ch;
      })();
      this.channel = attempt;
    }
    return this.channel;
  }

  private async observeQueue(): Promise<QueueObservation> {
    const o = this.options;
    const at = Date.now();
    const [declared, unacked] = await Promise.all([
      (async () => {
        this.counters.passiveDeclares++;
        return (await this.passiveChannel()).checkQueue(o.queue);
      })(),
      (async () => {
        this.counters.managementCalls++;
        const path = `/api/queues/${encodeURIComponent(o.vhost)}/${encodeURIComponent(o.queue)}?columns=messages_unacknowledged`;
        const auth = Buffer.from(`${o.managementUser}:${o.managementPassword}`).toString('base64');
        const response = await fetch(`${o.managementUrl}${path}`, {
          headers: { authorization: `Basic ${auth}` },
        });
        if (!response.ok) throw new Error(`management API ${response.status} for queue ${o.queue}`);
        const body = (await response.json()) as { messages_unacknowledged?: number };
        return body.messages_unacknowledged ?? 0;
      })(),
    ]);
    return {
      ready: declared.messageCount,
      unacked,
      consumers: declared.consumerCount,
      observedAt: at,
      source: 'passive declare (ready, consumers) + management API (unacked)',
    };
  }

  private async observeWorkers(compute: ComputeObservation | undefined): Promise<WorkerObservation[]> {
    const expect = (compute?.units ?? []).filter((u) => u.state === 'running').map((u) => u.celeryHostname);
    const options = { expect, timeoutMs: this.options.controlTimeoutMs };
    this.counters.broadcasts += 2;
    const [stats, active] = await Promise.all([
      this.options.control.stats(options),
      this.options.control.active(options),
    ]);
    this.counters.replies += stats.replies.size + active.replies.size;
    const at = Date.now();
    const hostnames = new Set([...stats.replies.keys(), ...active.replies.keys()]);
    return [...hostnames].map((hostname) => ({
      hostname,
      poolSize: stats.replies.get(hostname)?.poolSize,
      active: active.replies.get(hostname) ?? [],
      reserved: 0,
      consuming: true,
      observedAt: at,
    }));
  }

  async close(): Promise<void> {
    const ch = this.channel;
    this.channel = undefined;
    if (ch) await (await ch).close().catch(() => undefined);
  }
}
