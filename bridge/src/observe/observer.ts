import { clockWith, type Clock } from '../clock.ts';
import type { ComputeBackend } from '../compute/compute-backend.ts';
import type {
  BroadcastOptions,
  BroadcastReplies,
  CeleryRemoteControl,
  TaskInfo,
} from './celery-remote-control.ts';
import type {
  ComputeObservation,
  Observation,
  QueueObservation,
  SharedDirObservation,
  WorkerObservation,
} from './observation.ts';
import { planSecondRound, reservedIsEmpty } from './broadcast-plan.ts';
import { DEFAULT_GHOST_AFTER_MS, GhostTracker } from './ghost-tasks.ts';
import type { QueueProbe } from './queue-probe.ts';

/** One observation per control-loop cycle. */
export interface Observer {
  observe(): Promise<Observation>;
}

/** Anything that can describe shared_dir (the EFS probe; a stub in unit tests). */
export interface SharedDirSource {
  observe(): Promise<SharedDirObservation>;
}

/** What the observer needs of the queue probe (a QueueProbe; an in-process stub in unit tests). */
export type QueueSource = Pick<QueueProbe, 'passive' | 'fromManagement' | 'hasManagement'>;

/** What the observer needs of celery's remote control (a CeleryRemoteControl; a stub in unit tests). */
export type WorkerInspector = Pick<CeleryRemoteControl, 'stats' | 'active' | 'reserved' | 'activeQueues'> &
  Partial<Pick<CeleryRemoteControl, 'takeLateRepliers'>>;

/** Per-source time limits (ms). A source that overruns is reported missing for the cycle. */
export interface ObserverTimeouts {
  /** Passive declare and management API. @default 2000 */
  readonly queueMs?: number;
  /** How long the remote-control broadcasts collect replies. @default 1500 */
  readonly workersMs?: number;
  /** ComputeBackend.describe. @default 5000 */
  readonly computeMs?: number;
  /** EFS describe calls. @default 5000 */
  readonly sharedDirMs?: number;
}

/**
 * The sources of {@link CeleryObserver}; each is optional so that local backends can leave some out. `now` (the
 * observation's time and the ghost clock) defaults to the wall clock.
 */
export interface CeleryObserverOptions extends Partial<Pick<Clock, 'now'>> {
  readonly queueProbe?: QueueSource;
  readonly remoteControl?: WorkerInspector;
  readonly compute?: ComputeBackend;
  readonly sharedDir?: SharedDirSource;
  /** The queue the workers consume (OQE_QUEUE). @default 'celery' */
  readonly queue?: string;
  readonly timeouts?: ObserverTimeouts;
  /**
   * How old the management API's figures may be when fetched: its `collect_statistics_interval`. They are
   * stamped that much in the past, so that the decision's staleness check sees them for what they are.
   * @default 5000
   */
  readonly managementLagMs?: number;
  /**
   * How long a worker's `active` claim must outlive a management API reading of 0 unacked on the queue before
   * it counts as a ghost (ghost-tasks.ts). Needs the management API. @default 30000
   */
  readonly ghostAfterMs?: number;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What to check when a source overruns its time limit, by the first word of its label. */
const TIMEOUT_HINTS: Record<string, string> = {
  queue: 'check OQE_BROKER_HOST and OQE_BROKER_PORT (AMQP 5672) and the security group on 5672',
  workers: 'the broker answered slowly or not at all: check OQE_BROKER_HOST and OQE_BROKER_PORT',
  compute: 'the compute backend API did not answer: check the AWS endpoint, region and network path',
  shared: 'the EFS API did not answer: check the AWS endpoint, region and network path',
};

async function settle<T>(label: string, work: () => Promise<T>, timeoutMs: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hint = TIMEOUT_HINTS[label.split(' ')[0]!];
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer in ${timeoutMs} ms${hint ? `: ${hint}` : ''}`)),
      timeoutMs,
    );
  });
  try {
    return { ok: true, value: await Promise.race([work(), timeout]) };
  } catch (error) {
    return { ok: false, error: `${label}: ${message(error)}` };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Combines the queue probe, celery's remote control, the compute backend and the shared-dir probe into one
 * {@link Observation}, all sources at once, each under its own time limit. A source that fails or overruns
 * leaves its part absent and says why in `errors`; it never turns into zeros.
 *
 * Demand (ready + unacked) is assembled from the fastest truthful sources, as measured in docs/observe.md:
 * - `ready` and `consumers` from the passive declare (live), else from the management API (lagging);
 * - `unacked` as the larger of the workers' own in-flight count (`active` + `reserved`, live, but only when
 *   every consuming worker answered both) and the management API's figure (complete, but up to its stats
 *   interval old), that figure first capped by the snapshot's total minus the live ready count, so that a
 *   message requeued since the snapshot is counted once (ready), not twice. A burst taken by the workers shows
 *   at once; a stale figure can only delay a scale-in by one stats interval, well inside the idle grace.
 *
 * A worker that answered some commands but not `active` and `reserved` is left out of `workers` with an
 * error, never reported idle: celery 4.4 (the engine's) cannot encode `active` while it runs an engine task
 * (see docs/observe.md), so silence from `active` means "busy, tasks unknown".
 */
export class CeleryObserver implements Observer {
  private readonly queue: string;
  private readonly timeouts: Required<ObserverTimeouts>;
  private readonly clock: Clock;
  /** Hostnames seen last cycle (replies and running units): a broadcast ends early once all have replied. */
  private known = new Set<string>();
  /** Hostnames that answered remote control last cycle (in full or in part). */
  private answered = new Set<string>();
  /** Pool size per worker from `stats`, asked once per worker; dropped when the worker stops answering. */
  private readonly poolSizes = new Map<string, number>();
  private commands: readonly string[] = [];
  /** Last known consuming state per worker, used when `active_queues` did not answer (or was not asked). */
  private consuming = new Map<string, boolean>();
  /**
   * Set when the queue had more consumers than consuming workers answered: some worker is unknown (started
   * outside the backend, or answered too late), so the next broadcasts wait their whole timeout to hear it.
   */
  private discover = false;
  private readonly ghosts: GhostTracker;
  /** Whether the last cycle could not rule out reserved tasks; `reserved` then joins the first round. */
  private reservedNeeded = true;

  constructor(private readonly options: CeleryObserverOptions) {
    this.ghosts = new GhostTracker(options.ghostAfterMs ?? DEFAULT_GHOST_AFTER_MS);
    this.queue = options.queue ?? 'celery';
    this.clock = clockWith(options);
    this.timeouts = {
      queueMs: options.timeouts?.queueMs ?? 2000,
      workersMs: options.timeouts?.workersMs ?? 1500,
      computeMs: options.timeouts?.computeMs ?? 5000,
      sharedDirMs: options.timeouts?.sharedDirMs ?? 5000,
    };
  }

  /** The remote-control commands the last cycle sent (with how many workers each addressed, if not all). */
  get lastCommands(): readonly string[] {
    return this.commands;
  }

  async observe(): Promise<Observation> {
    const { queueProbe, remoteControl, compute, sharedDir } = this.options;
    const t = this.timeouts;
    const describing = compute
      ? settle(`compute (${compute.name})`, () => compute.describe(), t.computeMs)
      : undefined;
    const passiveing = queueProbe
      ? settle('queue (passive declare)', () => queueProbe.passive(), t.queueMs)
      : undefined;
    const managing = queueProbe?.hasManagement
      ? settle('queue (management API)', () => queueProbe.fromManagement(), t.queueMs)
      : undefined;
    const [passive, management, answered, fleet, shared] = await Promise.all([
      passiveing,
      managing,
      remoteControl ? this.observeWorkers(remoteControl, describing, passiveing, managing) : undefined,
      describing,
      sharedDir ? settle('shared dir (EFS)', () => sharedDir.observe(), t.sharedDirMs) : undefined,
    ]);

    const workers = answered && this.setGhostsApart(answered, management?.ok ? management.value : undefined);
    const errors: string[] = [];
    for (const outcome of [passive, management, fleet, shared])
      if (outcome && !outcome.ok) errors.push(outcome.error);
    if (workers) errors.push(...workers.errors);

    const computeObservation: ComputeObservation | undefined = fleet?.ok ? fleet.value : undefined;
    const workerObservations = workers?.workers;
    this.answered = new Set([
      ...(workerObservations ?? []).map((w) => w.hostname),
      ...(workers?.partial ?? []),
    ]);
    this.known = new Set([
      ...(workerObservations ?? []).map((w) => w.hostname),
      ...(workers?.partial ?? []),
      ...(computeObservation?.units ?? []).filter((u) => u.state === 'running').map((u) => u.celeryHostname),
    ]);

    const consumingWorkers = (workerObservations ?? []).filter((w) => w.consuming).length;
    this.discover = passive?.ok === true && passive.value.consumers > consumingWorkers;

    const queue = this.combineQueue(
      passive?.ok ? passive.value : undefined,
      management?.ok ? management.value : undefined,
      workers,
    );
    if (!queue && queueProbe) errors.push(`queue: no source gave both ready and unacked this cycle`);

    return {
      ...(queue ? { queue } : {}),
      ...(workerObservations ? { workers: workerObservations } : {}),
      ...(computeObservation ? { compute: computeObservation } : {}),
      ...(shared?.ok ? { sharedDir: shared.value } : {}),
      errors,
    };
  }

  /**
   * Moves the `active` claims that the broker contradicts (ghost-tasks.ts) from `active` to `ghosts`, so
   * that neither demand nor idleness counts them.
   */
  private setGhostsApart(
    outcome: WorkersOutcome,
    management: { unacked: number; observedAt: number } | undefined,
  ): WorkersOutcome {
    if (!outcome.workers) return outcome;
    // Twice the statistics interval: the figure may also wait in the management plugin's aggregation before
    // it is served, and an earlier `asOf` only delays the verdict, never makes a real task a ghost.
    const lag = 2 * (this.options.managementLagMs ?? 5000);
    const reading = management
      ? { unacked: management.unacked, asOf: management.observedAt - lag }
      : undefined;
    const claims = new Map(outcome.workers.map((w) => [w.hostname, w.active.map((t) => t.id)]));
    const ghosts = this.ghosts.update(claims, reading, this.clock.now());
    if (ghosts.size === 0) return outcome;
    return {
      ...outcome,
      workers: outcome.workers.map((w) => {
        const ids = ghosts.get(w.hostname);
        if (!ids) return w;
        return {
          ...w,
          active: w.active.filter((t) => !ids.has(t.id)),
          ghosts: w.active.filter((t) => ids.has(t.id)),
        };
      }),
    };
  }

  private combineQueue(
    passive: { ready: number; consumers: number; observedAt: number } | undefined,
    management: { ready: number; unacked: number; consumers: number; observedAt: number } | undefined,
    workers: WorkersOutcome | undefined,
  ): QueueObservation | undefined {
    const lag = this.options.managementLagMs ?? 5000;
    const mgmtAt = management ? management.observedAt - lag : undefined;
    // The workers' in-flight count is complete when every consumer on the queue belongs to a worker that
    // answered both `active` and `reserved`, and no worker answered only in part.
    const consumingWorkers = (workers?.workers ?? []).filter((w) => w.consuming).length;
    const workerSum =
      workers?.workers && workers.partial.length === 0 && (!passive || consumingWorkers >= passive.consumers)
        ? workers.workers.reduce((sum, w) => sum + w.active.length + w.reserved, 0)
        : undefined;

    // One message is either ready or unacked. The management API's pair is a snapshot up to a stats interval
    // old, the passive declare's ready count is live: messages requeued since the snapshot (a worker died) are
    // in both the snapshot's unacked and the live ready. So the snapshot's unacked is capped by its total
    // minus what is ready now (issue 14: a worker SIGKILL read "2 ready + 8 in flight" for 8 messages).
    const mgmtUnacked =
      management && passive
        ? Math.min(management.unacked, Math.max(0, management.ready + management.unacked - passive.ready))
        : management?.unacked;
    const mgmtText =
      management && passive && mgmtUnacked !== management.unacked
        ? `management API ${management.unacked} unacked + ${management.ready} ready as of its last statistics - ${passive.ready} ready now = ${mgmtUnacked}`
        : `management API ${management?.unacked}`;
    let unacked: number | undefined;
    let unackedSource: string | undefined;
    if (workerSum !== undefined && mgmtUnacked !== undefined) {
      unacked = Math.max(workerSum, mgmtUnacked);
      unackedSource = `max(workers active+reserved ${workerSum}, ${mgmtText})`;
    } else if (workerSum !== undefined) {
      unacked = workerSum;
      unackedSource = `workers active+reserved ${workerSum}`;
    } else if (mgmtUnacked !== undefined) {
      unacked = mgmtUnacked;
      unackedSource = mgmtText;
    }
    if (unacked === undefined) return undefined;

    if (passive) {
      return {
        ready: passive.ready,
        unacked,
        consumers: passive.consumers,
        // The figure is as old as its oldest part.
        observedAt: Math.min(
          passive.observedAt,
          workerSum !== undefined || !mgmtAt ? passive.observedAt : mgmtAt,
        ),
        source: `ready ${passive.ready}, consumers ${passive.consumers}: passive declare; unacked ${unacked}: ${unackedSource}`,
      };
    }
    if (management) {
      return {
        ready: management.ready,
        unacked,
        consumers: management.consumers,
        observedAt: mgmtAt!,
        source: `ready ${management.ready}, consumers ${management.consumers}: management API (passive declare failed); unacked ${unacked}: ${unackedSource}`,
      };
    }
    return undefined;
  }

  /**
   * Whom the broadcasts wait for. With a compute backend: the celery hostnames of its running units (described
   * in parallel, so the list arrives while the broadcasts are out), plus the workers that answered last cycle
   * or answered late; the collection ends once all of them replied, and at once when there are none (no
   * worker to wait for: the activation path). A worker nobody expected still shows: its late reply puts it on
   * next cycle's list, and a queue consumer no answering worker accounts for makes the next cycle listen for
   * the whole timeout (`discover`). Without a backend, or when it failed, the list is last cycle's hostnames,
   * and the whole timeout when that is empty. A silent expected worker is never reported, so never idle.
   */
  private expectation(
    control: WorkerInspector,
    describing: Promise<Outcome<ComputeObservation>> | undefined,
  ): Pick<BroadcastOptions, 'expect' | 'expectFrom'> {
    const late = control.takeLateRepliers?.() ?? [];
    if (this.discover) return { expect: [] };
    if (!describing) return { expect: [...new Set([...this.known, ...late])] };
    const carried = [...this.answered, ...late];
    const expectFrom = describing.then((outcome) => {
      if (!outcome.ok) throw new Error(outcome.error);
      const running = outcome.value.units.filter((u) => u.state === 'running').map((u) => u.celeryHostname);
      return [...new Set([...running, ...carried])];
    });
    // The broadcasts attach their own handlers once their channel is open; this one keeps a rejection that
    // comes first from counting as unhandled.
    expectFrom.catch(() => undefined);
    return { expectFrom };
  }

  /**
   * Two rounds of broadcasts. First `active`, every cycle, to the expected workers (see {@link expectation});
   * `stats` joins it only while the observer does not know whom to expect. `reserved` follows only when it
   * can hold something: when the broker's own count of unacknowledged messages (management API) exceeds the
   * tasks the workers report active, or is unknown, or some expected worker did not answer `active`.
   * Otherwise every delivered message is an active task and no worker can hold a reserved one, so each
   * answering worker's reserved list is empty without asking (one broadcast a cycle instead of two, which
   * halves what observation costs the broker; docs/observe.md). The management figure may lag by its
   * statistics interval: a message delivered since then and held reserved goes unseen for that long, which
   * can delay a scale-out by one interval but never make a busy worker look idle, because with `-Ofair` a
   * worker holds a reserved task only while all its processes are busy, and the drain asks `reserved` again
   * before it retires anything. Then,
   * at once and addressed to the workers that answered: `stats` only to those whose pool size is not cached
   * yet (cached per hostname until the worker stops answering), and to expected workers that missed the first
   * round, so that a live one is named (celery 4.4 busy: no `active`); `active_queues` only when a drain is
   * in progress (a worker last seen not consuming) or some worker is not consuming (fewer queue consumers
   * than answering workers, or no passive declare to tell).
   */
  private async observeWorkers(
    control: WorkerInspector,
    describing?: Promise<Outcome<ComputeObservation>>,
    passiveing?: Promise<Outcome<PassiveFigures>>,
    managing?: Promise<Outcome<{ unacked: number }>>,
  ): Promise<WorkersOutcome> {
    const expectation = this.expectation(control, describing);
    const options = { ...expectation, timeoutMs: this.timeouts.workersMs };
    const discovering = !expectation.expectFrom && (expectation.expect ?? []).length === 0;
    const limit = this.timeouts.workersMs + 3000;
    // `reserved` goes out beside `active` when the last cycle needed it (or on the first cycle), so that a
    // cycle that needs it waits one round, not two; otherwise only when this cycle's figures call for it.
    const askReservedNow = this.reservedNeeded;
    const [active, broadStats, early] = await Promise.all([
      settle('workers (active)', () => control.active(options), limit),
      discovering ? settle('workers (stats)', () => control.stats(options), limit) : undefined,
      askReservedNow ? settle('workers (reserved)', () => control.reserved(options), limit) : undefined,
    ]);
    const management = managing ? await managing : undefined;
    const activeTasks = active.ok ? [...active.value.replies.values()].reduce((n, l) => n + l.length, 0) : 0;
    const noneReserved = reservedIsEmpty({
      activeOk: active.ok,
      activeRepliers: active.ok ? active.value.replies.size : 0,
      activeTasks,
      activeMissing: active.ok ? active.value.missing.length : 0,
      ...(management?.ok ? { managementUnacked: management.value.unacked } : {}),
    });
    this.reservedNeeded = !noneReserved;
    const reserved: Outcome<BroadcastReplies<TaskInfo[]>> =
      early ??
      // (noneReserved implies active.ok; the test repeats it for the type checker)
      (noneReserved && active.ok
        ? {
            ok: true,
            value: {
              replies: new Map([...active.value.replies.keys()].map((h) => [h, []])),
              missing: [],
              errors: [],
            },
          }
        : await settle('workers (reserved)', () => control.reserved(options), limit));
    const errors: string[] = [];
    if (!active.ok || !reserved.ok) {
      // Without `active` and `reserved` nothing about the workers' load is known: the whole part is missing.
      for (const o of [active, reserved]) if (!o.ok) errors.push(o.error);
      return { errors, partial: [] };
    }
    const answered = new Set([...active.value.replies.keys(), ...reserved.value.replies.keys()]);
    const full = [...answered].filter((h) => active.value.replies.has(h) && reserved.value.replies.has(h));
    const missed = new Set([...active.value.missing, ...reserved.value.missing]);
    const heardStats = (h: string) => broadStats?.ok === true && broadStats.value.replies.has(h);
    const passive = passiveing ? await passiveing : undefined;
    const { statsFor, missedNow, askQueues } = planSecondRound({
      answered,
      full,
      missed,
      heardStats,
      poolSizeKnown: (h) => this.poolSizes.has(h),
      consuming: (h) => this.consuming.get(h),
      ...(passive?.ok ? { passiveConsumers: passive.value.consumers } : {}),
    });
    // A silent expected worker has already cost one whole timeout; the check that it is alive gets a short
    // one (a live worker answers `stats` in milliseconds, as the bench's replies show).
    const addressed = (destination: string[], short = false) => ({
      destination,
      expect: destination,
      timeoutMs: short ? Math.min(this.timeouts.workersMs, 500) : this.timeouts.workersMs,
    });
    const [stats, queues] = await Promise.all([
      statsFor.length > 0
        ? settle('workers (stats)', () => control.stats(addressed(statsFor, missedNow.length > 0)), limit)
        : broadStats,
      askQueues
        ? settle('workers (active_queues)', () => control.activeQueues(addressed(full)), limit)
        : undefined,
    ]);
    this.commands = [
      'active',
      ...(early || !noneReserved ? ['reserved'] : []),
      ...(discovering ? ['stats (all)'] : []),
      ...(statsFor.length > 0 ? [`stats (${statsFor.length})`] : []),
      ...(askQueues ? [`active_queues (${full.length})`] : []),
    ];
    // `stats` may be the first round's broadcast itself: a Set reports each outcome once.
    for (const o of new Set([broadStats, stats, queues])) if (o && !o.ok) errors.push(o.error);
    for (const o of new Set([active, reserved, broadStats, stats, queues]))
      if (o?.ok) errors.push(...o.value.errors);
    for (const o of [broadStats, stats])
      if (o?.ok)
        for (const [h, reply] of o.value.replies)
          if (reply.poolSize !== undefined) this.poolSizes.set(h, reply.poolSize);

    const observedAt = this.clock.now();
    const hostnames = new Set<string>(answered);
    for (const o of [broadStats, stats, queues])
      if (o?.ok) for (const h of o.value.replies.keys()) hostnames.add(h);
    const workers: WorkerObservation[] = [];
    const partial: string[] = [];
    for (const hostname of [...hostnames].sort()) {
      const tasks = active.value.replies.get(hostname);
      const held = reserved.value.replies.get(hostname);
      if (tasks === undefined || held === undefined) {
        partial.push(hostname);
        const lacking = [tasks === undefined ? 'active' : '', held === undefined ? 'reserved' : ''].filter(
          Boolean,
        );
        errors.push(
          `worker ${hostname} answered but not ${lacking.join(' or ')} within ${this.timeouts.workersMs} ms: its ` +
            `tasks are unknown, so it is left out (never counted idle)`,
        );
        continue;
      }
      const queueNames = queues?.ok ? queues.value.replies.get(hostname) : undefined;
      const consuming = queueNames ? queueNames.includes(this.queue) : (this.consuming.get(hostname) ?? true);
      this.consuming.set(hostname, consuming);
      const poolSize = this.poolSizes.get(hostname);
      workers.push({
        hostname,
        ...(poolSize !== undefined ? { poolSize } : {}),
        active: tasks.map(({ id, name, startedAt, calculationId }) => ({
          id,
          name,
          ...(startedAt !== undefined ? { startedAt } : {}),
          ...(calculationId !== undefined ? { calculationId } : {}),
        })),
        reserved: held.length,
        consuming,
        observedAt,
      });
    }
    // A worker that stopped answering is forgotten: a new one under its name is asked again.
    for (const h of this.consuming.keys()) if (!hostnames.has(h)) this.consuming.delete(h);
    for (const h of this.poolSizes.keys()) if (!hostnames.has(h)) this.poolSizes.delete(h);
    return { workers, errors, partial };
  }
}

type PassiveFigures = { ready: number; consumers: number; observedAt: number };

interface WorkersOutcome {
  /** Undefined when remote control failed as a whole. */
  readonly workers?: WorkerObservation[];
  readonly errors: string[];
  /** Workers that answered only in part (left out of `workers`). */
  readonly partial: string[];
}
