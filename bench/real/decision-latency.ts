/**
 * Decision latency on real parts: a burst of messages published to the local RabbitMQ, the bridge's own
 * ControlLoop (observe -> decide -> ScaleActor) running at its poll period, and the ECS backend calling
 * UpdateService on the moto server. Latency is from just before the first message is published until the
 * UpdateService call has returned from moto. Trials start at a random phase of the poll period (seeded), so
 * the figures include the wait for the next cycle, as a real burst would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EcsBackend } from '../../bridge/src/compute/ecs-backend.ts';
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { ScaleActor } from '../../bridge/src/act/scale-actor.ts';
import type { WorkerControl } from '../../bridge/src/act/worker-control.ts';
import { ControlLoop } from '../../bridge/src/loop/control-loop.ts';
import { BrokerSession, type BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { Prng } from '../../common/prng.ts';
import { afterScaleTo } from './after-scale-to.ts';
import { bridgeObserver } from './bridge-observer.ts';
import { createMotoEcsService } from './moto-ecs-service.ts';

export interface LatencyBenchOptions {
  readonly broker: BrokerEndpoint;
  readonly managementUrl: string;
  readonly awsEndpoint: string;
  readonly pollSeconds: number;
  readonly trials: number;
  /** Messages per burst. */
  readonly burst: number;
  readonly seed?: number;
  readonly queue?: string;
  /** The observer's remote-control collection time (ms); its default when absent. */
  readonly workersMs?: number;
  /**
   * The loop's activation path: ms between live queue looks, as OQE_ACTIVATION_CHECK_MS (default 500, the
   * bridge's); 0 runs cycles on the poll period only.
   */
  readonly activationMs?: number;
  readonly log?: (line: string) => void;
}

export interface LatencyBenchResult {
  readonly samplesMs: readonly number[];
  /** Wall time of the cycles that scaled out, ms. */
  readonly cycleMs: readonly number[];
  /** Desired count moto reported after the last trial's scale-out, for the check that the call landed. */
  readonly lastDesiredSeen: number;
  /** Trials in which no scale-out came within 30 s, with the loop's last decision. */
  readonly failures: readonly string[];
  /** Cycles the activation path started before their poll period was up. */
  readonly activations: number;
}

/** The policy of the measured loop: the config loader's defaults, slots 2. */
export function benchPolicy(): ScalingPolicy {
  return {
    minWorkers: 0,
    maxWorkers: 10,
    slotsPerWorkerFallback: 2,
    maxStepOut: 10,
    idleGraceSeconds: 120,
    staleAfterSeconds: 30,
    maxHourlyCost: Number.POSITIVE_INFINITY,
    workerHourlyCost: 0.1,
  };
}

/** Scale-out never drains; the drain half of the actor is never reached in this benchmark. */
const NO_DRAIN: WorkerControl = {
  cancelConsumer: async () => new Set(),
  addConsumer: async () => new Set(),
  inspect: async () => new Map(),
};

export async function measureDecisionLatency(o: LatencyBenchOptions): Promise<LatencyBenchResult> {
  const queue = o.queue ?? 'celery';
  const prng = new Prng(o.seed ?? 1);
  const session = new BrokerSession(o.broker);
  const control = new CeleryRemoteControl(session, { timeoutMs: 1000 });
  const moto = await createMotoEcsService(o.awsEndpoint);
  const ecs = new EcsBackend({ cluster: moto.cluster, service: moto.service, client: moto.client });
  const scaledAt: number[] = [];
  const backend = afterScaleTo(ecs, () => {
    scaledAt.push(performance.timeOrigin + performance.now());
  });
  const publisher = await (await session.connection()).createChannel();
  await publisher.assertQueue(queue, { durable: true });
  await publisher.purgeQueue(queue);
  const activationMs = o.activationMs ?? 500;
  const { observer, queueProbe } = bridgeObserver({
    session,
    control,
    compute: backend,
    queue,
    managementUrl: o.managementUrl,
    workersMs: o.workersMs,
  });
  const loop = new ControlLoop({
    observer,
    actor: new ScaleActor({ backend, control: NO_DRAIN, queue }),
    policy: benchPolicy(),
    pollSeconds: o.pollSeconds,
    clusterName: 'bench',
    ...(activationMs > 0 ? { activation: { probe: queueProbe, intervalMs: activationMs } } : {}),
  });
  const abort = new AbortController();
  const running = loop.run(abort.signal);
  const samplesMs: number[] = [];
  const cycleMs: number[] = [];
  let lastDesiredSeen = -1;
  const failures: string[] = [];
  try {
    for (let i = 0; i < o.trials; i++) {
      await sleep(prng.next() * o.pollSeconds * 1000);
      const before = scaledAt.length;
      const t0 = performance.timeOrigin + performance.now();
      for (let m = 0; m < o.burst; m++) publisher.sendToQueue(queue, Buffer.from(`bench ${i}.${m}`));
      const deadline = Date.now() + 30_000 + o.pollSeconds * 1000;
      while (scaledAt.length === before && Date.now() <= deadline) await sleep(2);
      if (scaledAt.length === before) {
        // Reported, not hidden: what the loop was deciding while the scale-out did not come.
        const d = loop.lastCycle?.decision;
        failures.push(
          `trial ${i + 1}: no scale-out within 30 s of the burst; last decision ${d?.reason ?? 'none'}: ${d?.detail ?? ''} ${(loop.lastCycle?.observation.errors ?? []).join('; ')}`.trim(),
        );
        o.log?.(failures[failures.length - 1]!);
      } else {
        samplesMs.push(scaledAt[before]! - t0);
        const last = loop.lastCycle;
        if (last) cycleMs.push(last.durationMs);
        lastDesiredSeen = await moto.desiredCount();
        o.log?.(`trial ${i + 1}/${o.trials}: ${samplesMs[samplesMs.length - 1]!.toFixed(0)} ms`);
      }
      // Reset for the next trial: empty queue, desired 0, and one full cycle that saw both.
      await publisher.purgeQueue(queue);
      await moto.setDesired(0);
      const resetAt = Date.now();
      while (!(loop.lastCycle && loop.lastCycle.startedAt > resetAt)) await sleep(20);
    }
  } finally {
    abort.abort();
    await running;
    await publisher.close().catch(() => undefined);
    await control.close();
    await queueProbe.close();
    await session.close();
    await moto.cleanup();
  }
  return { samplesMs, cycleMs, lastDesiredSeen, failures, activations: loop.activations };
}
