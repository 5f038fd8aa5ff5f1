/**
 * RabbitMQ's own CPU figure: the CPU time of its Erlang VM process (beam.smp), read from /proc. The
 * management API has no CPU figure of its own, and the node's process is what the master's core pays.
 */
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

/** CPU ms (user + system) the process has used so far. */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
