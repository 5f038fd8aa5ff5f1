/**
 * The bridge at N workers on real parts: the real RabbitMQ, the emulated celery fleet (bench/fleet-emulator),
 * the moto ECS service with N task records behind the task-protection stub proxy, and the bridge's own
 * ControlLoop, CeleryObserver, ScaleActor and EcsBackend, wired as its CLI wires them.
 *
 * Three phases at each N:
 * 1. steady state: every worker busy with long tasks (2 of 2 slots); cycles at the bridge's default 5 s poll;
 *    RabbitMQ's CPU from its own process (beam.smp, /proc) in alternating windows without and with the bridge
 *    polling, the bridge's CPU, memory and ECS calls per cycle;
 * 2. bursts: messages published to the full fleet's queue, time until UpdateService returns;
 * 3. drain: 100 workers go idle, time until the last of them is retired, ECS calls per scale-in, busy stopped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RemoteControlWorkerControl } from '../../bridge/src/act/remote-control-worker-control.ts';
import { ScaleActor } from '../../bridge/src/act/scale-actor.ts';
import { EcsBackend } from '../../bridge/src/compute/ecs-backend.ts';
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { ControlLoop } from '../../bridge/src/loop/control-loop.ts';
import { BrokerSession, type BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { EmulatedFleet } from '../fleet-emulator/emulated-fleet.ts';
import { afterScaleTo } from './after-scale-to.ts';
import { bridgeObserver } from './bridge-observer.ts';
import { beamPid, brokerCpuInAlternatingWindows } from './broker-cpu.ts';
import { percentile } from '../../common/percentile.ts';

export interface ScaleBenchOptions {
  readonly broker: BrokerEndpoint;
  /** amqp:// URL of the same vhost for the emulated workers. */
  readonly amqpUrl: string;
  readonly managementUrl: string;
  readonly awsEndpoint: string;
  readonly python: string;
  readonly workers: number;
  /** Steady-state window pairs (without / with the bridge), each `windowSeconds` long. */
  readonly windows: number;
  readonly windowSeconds: number;
  readonly bursts: number;
  /** Workers that go idle in the drain phase. @default 100 */
  readonly drainWorkers?: number;
  readonly log?: (line: string) => void;
}

/** The figures of one N, as docs/bench-scale.json stores them. */
export interface ScalePoint {
  readonly workers: number;
  /** Broker CPU the bridge's observation adds, as a share of one core (0-1). */
  readonly broker_core_share: number;
  /** Broker CPU the bridge adds per cycle, ms. */
  readonly broker_cpu_ms_per_cycle: number;
  /** Broker CPU of the idle fleet alone (no bridge), share of one core. */
  readonly broker_baseline_core_share: number;
  /** CPU of the bench process per steady-state cycle (the bridge's loop; includes the in-process stub proxy). */
  readonly bridge_cycle_cpu_ms: number;
  readonly bridge_cycle_wall_ms: number;
  readonly bridge_rss_mib: number;
  readonly bridge_heap_mib: number;
  readonly ecs_calls_per_cycle: number;
  /** ECS calls of the actions that retired workers, per such action (protection upkeep included). */
  readonly ecs_calls_per_scale_in: number;
  readonly retired_per_scale_in: number;
  readonly burst_p50_ms: number;
  readonly burst_p99_ms: number;
  readonly bursts: number;
  /** Seconds from 100 workers going idle to the last of them retired (the 10 s idle grace included). */
  readonly drain_100_idle_s: number | null;
  readonly drained: number;
  readonly busy_stopped: number;
  /** Remote-control commands of a steady-state cycle. */
  readonly commands: readonly string[];
  readonly notes: readonly string[];
}

const POLL_SECONDS = 5;
const DRAIN_GRACE_SECONDS = 10;

/** The bridge's defaults, with room above the fleet for scale-out and the phase's idle grace. */
function policy(idleGraceSeconds: number): ScalingPolicy {
  return {
    minWorkers: 0,
    maxWorkers: 5000,
    slotsPerWorkerFallback: 2,
    maxStepOut: 500,
    idleGraceSeconds,
    staleAfterSeconds: 30,
    maxHourlyCost: Number.POSITIVE_INFINITY,
    workerHourlyCost: 0.1,
    workerStartupSeconds: 120,
  };
}

export async function measureAtScale(o: ScaleBenchOptions): Promise<ScalePoint> {
  const log = o.log ?? (() => undefined);
  const notes: string[] = [];
  const pid = beamPid();
  const fleet = await EmulatedFleet.start({
    awsEndpoint: o.awsEndpoint,
    amqpUrl: o.amqpUrl,
    python: o.python,
    workers: o.workers,
    concurrency: 2,
    taskSeconds: 5,
  });
  log(`${o.workers} task records and emulated workers up`);
  const session = new BrokerSession(o.broker);
  const control = new CeleryRemoteControl(session, { serializer: 'json', timeoutMs: 1500 });
  const ecs = new EcsBackend({ cluster: fleet.cluster, service: fleet.service, client: fleet.client });
  const scaledOut: number[] = [];
  let desiredTarget = o.workers;
  let scaleIns = 0;
  let scaleInCalls = 0;
  let retired = 0;
  const backend = afterScaleTo(ecs, (n) => {
    if (n > desiredTarget) scaledOut.push(performance.timeOrigin + performance.now());
  });
  const queue = 'celery';
  const { observer, queueProbe } = bridgeObserver({
    session,
    control,
    compute: backend,
    queue,
    managementUrl: o.managementUrl,
  });
  let abortsLogged = 0;
  const actor = new ScaleActor({
    backend,
    control: new RemoteControlWorkerControl(control),
    queue,
    // The first few aborted drains in full: an aborted drain is what keeps a scale-in from happening.
    log: (event, fields) => {
      if (event === 'drain-aborted' && abortsLogged++ < 3) log(`drain aborted: ${JSON.stringify(fields)}`);
    },
  });
  let lastDrainLine = '';
  const countingActor = {
    get inFlight() {
      return actor.inFlight;
    },
    act: async (...args: Parameters<ScaleActor['act']>) => {
      const before = fleet.proxy.total();
      const result = await actor.act(...args);
      // Drain-phase decisions and actions, one line each time they change, so that a slow or stuck drain shows why.
      const line = `drain cycle: ${args[0].detail.slice(0, 200)} -> ${result.kind} ${result.detail.slice(0, 120)}`;
      if (desiredTarget === Number.POSITIVE_INFINITY && line !== lastDrainLine) log((lastDrainLine = line));
      if (result.kind === 'scaleIn') {
        scaleIns++;
        scaleInCalls += fleet.proxy.total() - before;
        retired += (result.retired ?? []).length;
      }
      return result;
    },
  };
  let currentPolicy = policy(3600);
  const makeLoop = (withActivation: boolean): ControlLoop =>
    new ControlLoop({
      observer,
      actor: countingActor,
      policy: currentPolicy,
      pollSeconds: POLL_SECONDS,
      clusterName: 'bench-scale',
      ...(withActivation ? { activation: { probe: queueProbe, intervalMs: 500 } } : {}),
    });
  const publisher = await (await session.connection()).createChannel();
  await publisher.assertQueue(queue, { durable: true });
  await publisher.purgeQueue(queue);
  /** A task message in celery's protocol 2 headers; the emulated worker runs it for `seconds`. */
  const publishTask = (id: string, seconds: number): void => {
    publisher.sendToQueue(queue, Buffer.from('[[], {}, {}]'), {
      contentType: 'application/json',
      headers: {
        id,
        task: 'openquake.baselib.parallel.safely_call',
        argsrepr: '()',
        oq_emu_seconds: seconds,
      },
    });
  };
  try {
    // ---- 1. steady state: every slot busy with a long task from the queue (unacked, as in a real run)
    for (let m = 0; m < 2 * o.workers; m++) publishTask(`long-${m}`, 24 * 3600);
    const fullBy = Date.now() + 120_000;
    for (;;) {
      const state = await fleet.emulator.state();
      if (state.busy.length >= o.workers || Date.now() > fullBy) break;
      await sleep(500);
    }
    let loop = makeLoop(false);
    for (let i = 0; i < 3; i++) await loop.runOnce(); // warm-up: pool sizes, protection of busy units
    let cycles = 0;
    let cpu = 0;
    let wall = 0;
    let calls = 0;
    let commands: readonly string[] = [];
    const { baselineMs: base, pollingMs: polled } = await brokerCpuInAlternatingWindows(
      pid,
      o.windows,
      o.windowSeconds,
      async (until) => {
        while (Date.now() < until) {
          const started = Date.now();
          const c0 = process.cpuUsage();
          const calls0 = fleet.proxy.total();
          const result = await loop.runOnce();
          const c1 = process.cpuUsage(c0);
          calls += fleet.proxy.total() - calls0;
          cpu += (c1.user + c1.system) / 1000;
          wall += result.durationMs;
          cycles++;
          commands = observer.lastCommands;
          const errors = result.observation.errors;
          if (errors.length > 0) {
            // One line, however many workers: at thousands of workers a list of them says nothing more.
            notes.push(`steady cycle errors: ${errors.length} (first: ${errors[0]!.slice(0, 200)})`);
          }
          await sleep(Math.max(0, POLL_SECONDS * 1000 - (Date.now() - started)));
        }
      },
    );
    const seconds = o.windows * o.windowSeconds;
    const addedMsPerSecond = Math.max(0, (polled - base) / seconds);
    const mem = process.memoryUsage();
    log(
      `steady: broker +${addedMsPerSecond.toFixed(1)} ms/s (baseline ${(base / seconds).toFixed(1)}), cycle ${(cpu / cycles).toFixed(0)} ms CPU, ${(wall / cycles).toFixed(0)} ms wall, ${(calls / cycles).toFixed(1)} ECS calls`,
    );

    // ---- 2. bursts into the full fleet
    loop = makeLoop(true);
    const abort = new AbortController();
    let running = loop.run(abort.signal);
    const samples: number[] = [];
    for (let b = 0; b < o.bursts; b++) {
      await sleep(1000 + Math.random() * POLL_SECONDS * 1000);
      const before = scaledOut.length;
      const t0 = performance.timeOrigin + performance.now();
      for (let m = 0; m < 20; m++) publishTask(`burst-${b}-${m}`, 60);
      const deadline = Date.now() + 30_000;
      while (scaledOut.length === before && Date.now() < deadline) await sleep(5);
      if (scaledOut.length > before) samples.push(scaledOut[before]! - t0);
      else
        notes.push(
          `burst ${b + 1}: no UpdateService within 30 s (${loop.lastCycle?.decision.reason ?? 'no cycle'})`,
        );
      log(`burst ${b + 1}/${o.bursts}: ${samples.length ? samples[samples.length - 1]!.toFixed(0) : '-'} ms`);
      await publisher.purgeQueue(queue);
      await fleet.setDesired(fleet.hostnames.length);
      const resetAt = Date.now();
      while (!(loop.lastCycle && loop.lastCycle.startedAt > resetAt + 100)) await sleep(20);
    }
    abort.abort();
    await running;

    // ---- 3. drain 100 idle workers among busy ones
    const drainCount = Math.min(o.drainWorkers ?? 100, fleet.hostnames.length);
    const victims = fleet.hostnames.slice(0, drainCount);
    currentPolicy = policy(DRAIN_GRACE_SECONDS);
    desiredTarget = Number.POSITIVE_INFINITY;
    loop = makeLoop(false);
    const drainAbort = new AbortController();
    running = loop.run(drainAbort.signal);
    await fleet.emulator.idle(victims);
    const idleAt = Date.now();
    const victimSet = new Set(victims);
    let drainS: number | null = null;
    const drainDeadline = idleAt + 300_000;
    while (Date.now() < drainDeadline) {
      const gone = fleet.emulator.removed.filter((r) => victimSet.has(r.worker)).length;
      if (gone >= drainCount) {
        drainS = (Date.now() - idleAt) / 1000;
        break;
      }
      await sleep(200);
    }
    drainAbort.abort();
    await running;
    const drained = fleet.emulator.removed.filter((r) => victimSet.has(r.worker)).length;
    if (drainS === null) notes.push(`drain: ${drained} of ${drainCount} idle workers retired within 300 s`);
    log(
      `drain: ${drained}/${drainCount} in ${drainS ?? '>300'} s, ${scaleIns} scale-ins, ${scaleInCalls} ECS calls`,
    );
    return {
      workers: o.workers,
      broker_core_share: addedMsPerSecond / 1000,
      broker_cpu_ms_per_cycle: addedMsPerSecond * POLL_SECONDS,
      broker_baseline_core_share: base / seconds / 1000,
      bridge_cycle_cpu_ms: cpu / cycles,
      bridge_cycle_wall_ms: wall / cycles,
      bridge_rss_mib: mem.rss / 2 ** 20,
      bridge_heap_mib: mem.heapUsed / 2 ** 20,
      ecs_calls_per_cycle: calls / cycles,
      ecs_calls_per_scale_in: scaleIns > 0 ? scaleInCalls / scaleIns : 0,
      retired_per_scale_in: scaleIns > 0 ? retired / scaleIns : 0,
      burst_p50_ms: samples.length ? percentile(samples, 50) : NaN,
      burst_p99_ms: samples.length ? percentile(samples, 99) : NaN,
      bursts: samples.length,
      drain_100_idle_s: drainS,
      drained,
      busy_stopped: fleet.busyStopped().length,
      commands,
      notes: [...new Set(notes)].slice(0, 10),
    };
  } finally {
    await publisher.close().catch(() => undefined);
    await control.close();
    await queueProbe.close();
    await session.close();
    await ecs.close();
    await fleet.cleanup();
  }
}
