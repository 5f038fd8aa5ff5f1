/**
 * RabbitMQ's own CPU figure: the CPU time of its Erlang VM process (beam.smp), read from /proc. The
 * management API has no CPU figure of its own, and the node's process is what the master's core pays.
 * What the bridge adds to it is measured in alternating windows without and with the bridge polling.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const CLOCK_TICKS = 100; // USER_HZ on Linux, the unit of utime/stime in /proc/<pid>/stat

/**
 * The pid of the shared local RabbitMQ node: a beam.smp that boots `rabbit` (not a rabbitmqctl run) and is
 * not a test's private node (whose state lives in a temporary directory, test/support/private-rabbit.ts).
 */
export function beamPid(): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'beam.smp') continue;
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('rabbit\0boot') && !cmd.includes(tmpdir())) return Number(entry);
    } catch {
      // process gone
    }
  }
  throw new Error('no beam.smp process found: is the local RabbitMQ running (scripts/services.sh status)?');
}

/** The broker's CPU ms in total over the windows without the bridge and over those with it. */
export interface BrokerCpuWindows {
  readonly baselineMs: number;
  readonly pollingMs: number;
}

/**
 * The broker's CPU over `pairs` pairs of `windowSeconds` windows: one in which nothing of the benchmark runs
 * (the baseline), then one in which `poll(until)` runs the bridge until `until` (ms since the epoch). The
 * alternation cancels most, not all, of the noise of other clients of a shared broker.
 */
export async function brokerCpuInAlternatingWindows(
  pid: number,
  pairs: number,
  windowSeconds: number,
  poll: (until: number) => Promise<void>,
): Promise<BrokerCpuWindows> {
  let baselineMs = 0;
  let pollingMs = 0;
  for (let i = 0; i < pairs; i++) {
    const b0 = cpuMsOf(pid);
    await sleep(windowSeconds * 1000);
    baselineMs += cpuMsOf(pid) - b0;
    const p0 = cpuMsOf(pid);
    await poll(Date.now() + windowSeconds * 1000);
    pollingMs += cpuMsOf(pid) - p0;
  }
  return { baselineMs, pollingMs };
}

/** CPU ms (user + system) the process has used so far. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
