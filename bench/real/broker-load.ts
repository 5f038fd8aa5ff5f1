/**
 * The load the bridge's observation puts on the broker, and the bridge's own CPU and memory per cycle, with
 * N idle celery workers of the engine-like test app. Workers run `-P solo` (one process each, about 45 MB) so
 * that 100 of them fit on a small machine; the broker sees the same one connection, one control queue and one
 * `celery` consumer per worker as with a prefork pool. Gossip, mingle and heartbeats are off so that the
 * baseline is the workers' own idle traffic only, not worker-to-worker events that have nothing to do with the
 * bridge. RabbitMQ's CPU comes from /proc/<beam.smp pid>/stat, in alternating windows with and without the
 * bridge polling, to cancel the noise of other clients of the shared broker.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import { ControlLoop } from '../../bridge/src/loop/control-loop.ts';
import { BrokerSession, type BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import type { ComputeObservation } from '../../bridge/src/observe/observation.ts';
import { beamPid, brokerCpuInAlternatingWindows } from './broker-cpu.ts';
import type { BrokerLoadPoint, CycleCostResult } from './bench-results.ts';
import { bridgeObserver } from './bridge-observer.ts';
import { benchPolicy } from './decision-latency.ts';

export interface BrokerLoadOptions {
  readonly broker: BrokerEndpoint;
  /** amqp:// URL of the same vhost for the workers (holds a password: passed in their environment only). */
  readonly workerBrokerUrl: string;
  readonly managementUrl: string;
  readonly repoRoot: string;
  /** Worker counts to measure at, ascending. */
  readonly levels: readonly number[];
  /** Seconds per measurement window. */
  readonly windowSeconds: number;
  /** Alternating baseline/polling window pairs per level. */
  readonly repetitions: number;
  readonly log?: (line: string) => void;
}

export interface BrokerLoadResult {
  readonly points: readonly BrokerLoadPoint[];
  /** The bridge's own cost per cycle at the largest level. */
  readonly cycle: CycleCostResult;
}

export async function measureBrokerLoad(o: BrokerLoadOptions): Promise<BrokerLoadResult> {
  const pid = beamPid();
  const session = new BrokerSession(o.broker);
  // The test app runs celery 5.5 with task_serializer pickle: its mailbox speaks pickle (celery PR #6757).
  const control = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 3000 });
  const workers: ChildProcess[] = [];
  const hostnames: string[] = [];
  // The units of the fleet, as a backend would list them (the workers are started here, not by a backend).
  const compute: ComputeBackend = {
    name: 'bench',
    scaleTo: async () => undefined,
    retire: async () => undefined,
    protect: async () => undefined,
    release: async () => undefined,
    close: async () => undefined,
    describe: async (): Promise<ComputeObservation> => ({
      desired: hostnames.length,
      running: hostnames.length,
      pending: 0,
      units: hostnames.map((h) => ({
        unitId: h.slice(3),
        celeryHostname: h,
        state: 'running' as const,
        startedAt: 0,
      })),
      observedAt: Date.now(),
    }),
  };
  const channel = await (await session.connection()).createChannel();
  await channel.assertQueue('celery', { durable: true });
  await channel.close();
  const { observer } = bridgeObserver({
    session,
    control,
    compute,
    queue: 'celery',
    managementUrl: o.managementUrl,
  });
  const loop = new ControlLoop({ observer, policy: benchPolicy(), pollSeconds: 1, clusterName: 'bench' });
  const points: BrokerLoadPoint[] = [];
  let cycle: CycleCostResult | undefined;
  try {
    for (const level of o.levels) {
      while (hostnames.length < level) {
        const hostname = `oq@bench-${hostnames.length + 1}`;
        const child = spawn(
          join(o.repoRoot, '.venv/bin/celery'),
          ['-A', 'oq_testapp', 'worker', '-n', hostname, '-P', 'solo', '-O', 'fair', '-l', 'WARNING'].concat([
            '--without-gossip',
            '--without-mingle',
            '--without-heartbeat',
          ]),
          {
            cwd: join(o.repoRoot, 'worker-image/testapp'),
            env: { ...process.env, C_FORCE_ROOT: '1', OQ_TESTAPP_BROKER: o.workerBrokerUrl },
            detached: true,
            stdio: 'ignore',
          },
        );
        workers.push(child);
        hostnames.push(hostname);
        // Stagger the starts: two shared cores, and celery's import is CPU-heavy.
        await sleep(250);
      }
      const deadline = Date.now() + 180_000;
      for (;;) {
        const ping = await control.ping({ expect: hostnames, timeoutMs: 3000 });
        if (ping.missing.length === 0) break;
        if (Date.now() > deadline)
          throw new Error(`${ping.missing.length} of ${level} workers never answered ping`);
        await sleep(1000);
      }
      await sleep(3000);
      o.log?.(`${level} workers up`);
      let cycles = 0;
      let cycleWall = 0;
      let replies = 0;
      let nodeCpu = 0;
      let commands: readonly string[] = [];
      const heapBefore = process.memoryUsage().heapUsed;
      const { baselineMs: base, pollingMs: polled } = await brokerCpuInAlternatingWindows(
        pid,
        o.repetitions,
        o.windowSeconds,
        async (until) => {
          const c0 = process.cpuUsage();
          while (Date.now() < until) {
            const started = Date.now();
            const result = await loop.runOnce();
            cycles++;
            cycleWall += result.durationMs;
            replies += result.observation.workers?.length ?? 0;
            commands = observer.lastCommands;
            await sleep(Math.max(0, 1000 - (Date.now() - started)));
          }
          const c1 = process.cpuUsage(c0);
          nodeCpu += (c1.user + c1.system) / 1000;
        },
      );
      const seconds = o.windowSeconds * o.repetitions;
      points.push({
        workers: level,
        brokerCpuMsPerSecond: polled / seconds,
        baselineCpuMsPerSecond: base / seconds,
        cycleMs: cycleWall / cycles,
        replies: Math.round(replies / cycles),
        commands,
      });
      cycle = {
        cycles,
        cpuMsPerCycle: nodeCpu / cycles,
        rssMiB: process.memoryUsage().rss / 2 ** 20,
        heapKiBPerCycle: (process.memoryUsage().heapUsed - heapBefore) / 1024 / cycles,
        wallMsPerCycle: cycleWall / cycles,
        path: `ControlLoop.runOnce (CeleryObserver: passive declare, management API, remote control to ${level} workers (steady state: ${commands.join(', ')}); decide), the benchmark process's CPU during the polling windows`,
      };
      o.log?.(
        `${level} workers: broker ${(polled / seconds).toFixed(1)} vs ${(base / seconds).toFixed(1)} ms/s, cycle ${(cycleWall / cycles).toFixed(0)} ms, ${(nodeCpu / cycles).toFixed(1)} ms CPU`,
      );
    }
  } finally {
    for (const w of workers) {
      try {
        if (w.pid !== undefined) process.kill(-w.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await control.close();
    await session.close();
  }
  return { points, cycle: cycle! };
}
