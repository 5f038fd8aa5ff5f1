/**
 * The discrete-event fleet simulator: an engine master submitting tasks to the `celery` queue, workers on
 * Fargate taking them one per free process (acks_late, prefetch 1, -Ofair), and one scaling policy changing
 * the service's desired count. Deterministic for a given trace, policy and seed.
 */
import { EventQueue } from './event-queue.ts';
import { billedSeconds, drawStartupSeconds, type FargateModel } from './fargate-model.ts';
import { Prng } from '../../common/prng.ts';
import type {
  FleetView,
  PolicyFactory,
  SimAction,
  SimCalculationView,
  SimPolicy,
  SimUnitView,
} from './sim-policy.ts';
import type { CalculationSpec, Trace } from './trace.ts';

interface SimTask {
  readonly calc: CalcState;
  readonly duration: number;
}

interface TaskRun {
  readonly task: SimTask;
  readonly startAt: number;
  readonly endAt: number;
  cancelled: boolean;
}

interface Unit {
  readonly id: string;
  readonly launchedAt: number;
  state: 'pending' | 'running' | 'stopping' | 'stopped';
  consuming: boolean;
  stoppedAt?: number;
  runs: TaskRun[];
  completed: UnitRun[];
}

interface CalcState {
  readonly spec: CalculationSpec;
  /** Index into `leadPhases`; equal to their count once the main phase is submitted. */
  phase: number;
  /** Tasks of the current lead phase not yet ended. */
  phaseLeft: number;
  /** Next task of the main phase to submit. */
  nextIndex: number;
  ended: number;
  firstQueuedAt?: number;
  firstStartAt?: number;
  lastEndAt?: number;
  /** What the master would report about it (absent before its submission). */
  status?: { state: SimCalculationView['status']; since: number };
}

/** One point of the fleet's timeline, for the charts. */
export interface TimelinePoint {
  readonly t: number;
  readonly workers: number;
  readonly busySlots: number;
  readonly ready: number;
}

/** The outcome of one policy on one trace. */
export interface SimResult {
  readonly policy: string;
  readonly trace: string;
  /** False when some task had not ended by the time limit. */
  readonly finished: boolean;
  /** Mean over calculations of (last task end - submission), seconds. */
  readonly makespanSeconds: number;
  /** Billed worker-hours (per second, one-minute minimum per task). */
  readonly workerHours: number;
  /** USD, billed worker-hours times the worker's hourly price. */
  readonly cost: number;
  /** Billed worker-hours not spent running a task (idle processes, start-up, shutdown). */
  readonly idleWorkerHours: number;
  /** Seconds of task execution thrown away by killed tasks (run again from the start). */
  readonly lostTaskSeconds: number;
  readonly killedTasks: number;
  /**
   * Mean over calculations of (first task start - first task queued), seconds: the wait the scaler causes,
   * without the master's pre-processing before it.
   */
  readonly timeToFirstWorkerSeconds: number;
  readonly peakWorkers: number;
  readonly launches: number;
  /** Retire requests naming a busy unit (refused by the simulator, as the bridge's actor refuses them). */
  readonly refusedRetires: number;
  readonly timeline: readonly TimelinePoint[];
  /** Per unit, in launch order, the [start, end] of every task run it completed. */
  readonly unitRuns: readonly (readonly UnitRun[])[];
}

/** One completed task run on a unit, simulated seconds. */
export type UnitRun = readonly [start: number, end: number];

export interface SimulateOptions {
  readonly seed: number;
  /** Keep simulating (and billing) this long after the last task ends, so that scale-in shows in the cost. */
  readonly tailSeconds?: number;
  /** Give up (finished = false) after this much simulated time. */
  readonly limitSeconds?: number;
  readonly timelineEverySeconds?: number;
}

/** Every task of a calculation, all phases. */
function calcTaskCount(spec: CalculationSpec): number {
  return spec.durations.length + (spec.leadPhases ?? []).reduce((m, p) => m + p.durations.length, 0);
}

/** Run one policy over one trace. */
export function simulate(
  trace: Trace,
  makePolicy: PolicyFactory,
  model: FargateModel,
  options: SimulateOptions,
): SimResult {
  const policy: SimPolicy = makePolicy();
  const prng = new Prng(options.seed);
  const tail = options.tailSeconds ?? 1800;
  const limit = options.limitSeconds ?? 7 * 24 * 3600;
  const every = options.timelineEverySeconds ?? 60;
  const agenda = new EventQueue();
  const units: Unit[] = [];
  const ready: SimTask[] = [];
  const calcs: CalcState[] = trace.calculations.map((spec) => ({
    spec,
    phase: 0,
    phaseLeft: 0,
    nextIndex: 0,
    ended: 0,
  }));
  const totalTasks = trace.calculations.reduce((n, c) => n + calcTaskCount(c), 0);
  const stopTimeoutSeconds = policy.stopTimeoutSeconds ?? model.stopTimeoutSeconds;
  const launchTimes: number[] = [];
  const timeline: TimelinePoint[] = [];
  let now = 0;
  let desired = 0;
  let endedTasks = 0;
  let doneAt: number | undefined;
  let endAt = limit;
  let lostTaskSeconds = 0;
  let killedTasks = 0;
  let busySeconds = 0;
  let refusedRetires = 0;
  let nextUnit = 1;
  let peakWorkers = 0;
  let reconcileScheduled = false;

  const alive = (): Unit[] => units.filter((u) => u.state === 'pending' || u.state === 'running');
  const inFlight = (): number => units.reduce((n, u) => n + u.runs.length, 0);

  const leadCount = (calc: CalcState): number => calc.spec.leadPhases?.length ?? 0;
  const inMainPhase = (calc: CalcState): boolean => calc.phase >= leadCount(calc);

  const submit = (calc: CalcState, count: number): void => {
    const d = calc.spec.durations;
    for (let i = 0; i < count && calc.nextIndex < d.length; i++) {
      ready.push({ calc, duration: d[calc.nextIndex++]! });
    }
  };

  /**
   * The master submits phase `calc.phase`: a lead phase all at once (a Starmap over a list), the main phase
   * in a window of num_cores (engine 3.x) or all at once (2.x).
   */
  const startPhase = (calc: CalcState): void => {
    calc.firstQueuedAt ??= now;
    calc.status = { state: 'running', since: now };
    const lead = calc.spec.leadPhases?.[calc.phase];
    if (lead) {
      calc.phaseLeft = lead.durations.length;
      for (const duration of lead.durations) ready.push({ calc, duration });
    } else {
      submit(calc, calc.spec.submission === 'windowed' ? calc.spec.numCores : calc.spec.durations.length);
    }
    dispatch();
  };

  const dispatch = (): void => {
    while (ready.length > 0) {
      // RabbitMQ round-robins over consumers; with prefetch 1 per process that is "most free slots first".
      let best: Unit | undefined;
      let bestFree = 0;
      for (const u of units) {
        if (u.state !== 'running' || !u.consuming) continue;
        const free = model.slotsPerWorker - u.runs.length;
        if (free > bestFree) {
          best = u;
          bestFree = free;
        }
      }
      if (!best) return;
      const task = ready.shift()!;
      const run: TaskRun = { task, startAt: now, endAt: now + task.duration, cancelled: false };
      best.runs.push(run);
      task.calc.firstStartAt ??= now;
      const unit = best;
      agenda.push(run.endAt, () => endTask(unit, run));
    }
  };

  const stopNow = (u: Unit, at: number): void => {
    u.state = 'stopped';
    u.consuming = false;
    u.stoppedAt = at;
  };

  const endTask = (u: Unit, run: TaskRun): void => {
    if (run.cancelled) return;
    u.runs.splice(u.runs.indexOf(run), 1);
    busySeconds += run.task.duration;
    u.completed.push([run.startAt, now]);
    const calc = run.task.calc;
    calc.ended++;
    calc.lastEndAt = now;
    endedTasks++;
    if (!inMainPhase(calc)) {
      // The last task of a lead phase: the master works for the gap, then submits the next phase.
      if (--calc.phaseLeft === 0) {
        const gap = calc.spec.leadPhases![calc.phase]!.gapAfterSeconds;
        calc.phase++;
        calc.status = { state: 'between-phases', since: now };
        agenda.push(now + gap, () => startPhase(calc));
      }
    } else if (calc.spec.submission === 'windowed') {
      // Engine 3.x: one more task from the master's memory for each task that ends.
      submit(calc, 1);
    }
    if (calc.ended === calcTaskCount(calc.spec)) calc.status = { state: 'ended', since: now };
    if (u.state === 'stopping' && u.runs.length === 0) stopNow(u, now + model.idleShutdownSeconds);
    if (endedTasks === totalTasks) {
      doneAt = now;
      endAt = Math.min(limit, now + (policy.stopWhenDone ? 0 : tail));
      if (policy.stopWhenDone) for (const x of alive()) stopNow(x, now);
    }
    dispatch();
    // Scale-in protection set by the worker: the platform stops a unit above the desired count only now that
    // it is idle (and has not just taken the next message).
    if (policy.victims === 'idle-only') reconcile();
  };

  const stopUnit = (u: Unit): void => {
    if (u.state === 'pending') {
      stopNow(u, now);
      return;
    }
    if (u.state !== 'running') return;
    u.consuming = false;
    if (u.runs.length === 0) {
      stopNow(u, now + model.idleShutdownSeconds);
      return;
    }
    u.state = 'stopping';
    // Celery's warm shutdown on SIGTERM lets running tasks finish; SIGKILL after stopTimeout ends the rest,
    // and with acks_late their messages go back to the queue and run again from the start.
    agenda.push(now + stopTimeoutSeconds, () => {
      if (u.state !== 'stopping') return;
      for (const run of u.runs) {
        run.cancelled = true;
        lostTaskSeconds += now - run.startAt;
        killedTasks++;
        ready.unshift(run.task);
      }
      u.runs = [];
      stopNow(u, now);
      dispatch();
    });
  };

  const launch = (prewarmed: boolean): void => {
    const u: Unit = {
      id: `u${nextUnit++}`,
      launchedAt: now,
      state: 'pending',
      consuming: true,
      runs: [],
      completed: [],
    };
    units.push(u);
    launchTimes.push(now);
    if (prewarmed) {
      u.state = 'running';
      return;
    }
    agenda.push(now + drawStartupSeconds(model, prng), () => {
      if (u.state !== 'pending') return;
      u.state = 'running';
      dispatch();
    });
  };

  const reconcile = (): void => {
    const live = alive();
    if (live.length < desired) {
      // An ECS service starts at most `launchesPerMinute` tasks in any minute.
      let want = desired - live.length;
      while (want > 0) {
        const recent = launchTimes.filter((t) => t > now - 60);
        if (recent.length >= model.launchesPerMinute) {
          if (!reconcileScheduled) {
            reconcileScheduled = true;
            agenda.push(recent[0]! + 60, () => {
              reconcileScheduled = false;
              reconcile();
            });
          }
          break;
        }
        launch(false);
        want--;
      }
    } else if (live.length > desired && policy.victims !== 'none') {
      const victims = chooseVictims(live, live.length - desired);
      for (const v of victims) stopUnit(v);
    }
  };

  const chooseVictims = (live: Unit[], n: number): Unit[] => {
    // Both ECS and Kubernetes stop tasks that are not running yet first.
    const pending = live.filter((u) => u.state === 'pending').reverse();
    const running = live.filter((u) => u.state === 'running');
    const ordered: Unit[] = [...pending];
    if (policy.victims === 'idle-only') {
      // Busy units are protected; among the idle ones ECS picks by zone balance, modelled as random.
      const pool = running.filter((u) => u.runs.length === 0);
      while (pool.length > 0) ordered.push(pool.splice(prng.int(pool.length), 1)[0]!);
    } else if (policy.victims === 'newest-first') {
      ordered.push(...running.slice().reverse());
    } else {
      const pool = running.slice();
      while (pool.length > 0) ordered.push(pool.splice(prng.int(pool.length), 1)[0]!);
    }
    return ordered.slice(0, n);
  };

  const view = (): FleetView => ({
    now,
    ready: ready.length,
    unacked: inFlight(),
    desired,
    units: units
      .filter((u) => u.state !== 'stopped')
      .map((u): SimUnitView => ({
        id: u.id,
        state: u.state as SimUnitView['state'],
        launchedAt: u.launchedAt,
        slots: model.slotsPerWorker,
        taskStarts: u.runs.map((r) => r.startAt),
        consuming: u.consuming,
      })),
    calculations: calcs
      .filter((c) => c.status !== undefined)
      .map((c) => ({
        id: c.spec.id,
        status: c.status!.state,
        since: c.status!.since,
        // Only a running phase has tasks held back; a lead phase is submitted whole.
        tasksHeldByMaster:
          c.status!.state === 'running' && inMainPhase(c) ? c.spec.durations.length - c.nextIndex : 0,
      })),
  });

  const apply = (action: SimAction): void => {
    for (const id of action.retire ?? []) {
      const u = units.find((x) => x.id === id);
      if (!u || u.state !== 'running') continue;
      if (u.runs.length > 0) {
        refusedRetires++;
        continue;
      }
      stopUnit(u);
    }
    desired = Math.max(0, Math.min(5000, Math.round(action.desired)));
    reconcile();
  };

  // The initial fleet, warm before the trace starts.
  desired = policy.initialWorkers;
  for (let i = 0; i < policy.initialWorkers; i++) launch(true);

  for (const calc of calcs) {
    agenda.push(calc.spec.submitAt, () => {
      calc.status = { state: 'started', since: now };
      const pre = calc.spec.preprocessSeconds ?? 0;
      // Without pre-processing the first tasks are queued in the same instant, before any policy looks.
      if (pre > 0) agenda.push(now + pre, () => startPhase(calc));
      else startPhase(calc);
    });
  }
  const tick = (): void => {
    const action = policy.evaluate(view());
    if (action) apply(action);
    if (now + policy.intervalSeconds <= endAt) agenda.push(now + policy.intervalSeconds, tick);
  };
  agenda.push(0, tick);
  const sample = (): void => {
    const live = units.filter((u) => u.state !== 'stopped');
    peakWorkers = Math.max(peakWorkers, live.length);
    timeline.push({ t: now, workers: live.length, busySlots: inFlight(), ready: ready.length });
    if (now + every <= endAt) agenda.push(now + every, sample);
  };
  agenda.push(0, sample);

  for (;;) {
    const ev = agenda.pop();
    if (!ev || ev.at > endAt) break;
    now = ev.at;
    ev.run();
  }
  now = endAt;

  let billed = 0;
  for (const u of units) {
    billed += billedSeconds(model, u.launchedAt, Math.min(u.stoppedAt ?? endAt, endAt));
  }
  const finished = doneAt !== undefined;
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const workerHours = billed / 3600;
  // Work done inside billed time includes the killed runs' lost seconds.
  const usedWorkerHours = (busySeconds + lostTaskSeconds) / model.slotsPerWorker / 3600;
  return {
    policy: policy.name,
    trace: trace.name,
    finished,
    makespanSeconds: finished
      ? mean(calcs.map((c) => c.lastEndAt! - c.spec.submitAt))
      : Number.POSITIVE_INFINITY,
    workerHours,
    cost: workerHours * model.workerHourlyCost,
    idleWorkerHours: Math.max(0, workerHours - usedWorkerHours),
    lostTaskSeconds,
    killedTasks,
    timeToFirstWorkerSeconds: mean(
      calcs.filter((c) => c.firstStartAt !== undefined).map((c) => c.firstStartAt! - c.firstQueuedAt!),
    ),
    peakWorkers,
    launches: launchTimes.length,
    refusedRetires,
    timeline,
    unitRuns: units.map((u) => u.completed),
  };
}
