/**
 * When each real engine task ran, read from the celery workers' own logs (the engine has no journal like the
 * synthetic test app), and the calculation's phases found from those times. Pure: logs in, timeline out.
 */
import { RECEIVED, SUCCEEDED, type WorkerLog } from '../../local/engine/worker-task-log.ts';

/** One task as a worker ran it: `Received task` to `succeeded`, epoch seconds. */
export interface TimedTask {
  readonly id: string;
  readonly unitId: string;
  readonly receivedAt: number;
  readonly endedAt: number;
}

/** Tasks the master submitted as one burst, with nothing of the calculation in flight before it. */
export interface TaskPhase {
  readonly tasks: readonly TimedTask[];
  readonly firstReceivedAt: number;
  readonly lastEndedAt: number;
}

// Celery 4's default log format: `[2026-12-01 01:40:12,345: INFO/MainProcess] Received task: name[uuid]`.
const STAMP = /^\[(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d),(\d{3}): \w+\/[\w-]+\]/;

/** Celery's asctime is the worker's local time; `Date` reads a zone-less ISO time as local too. */
function stampSeconds(line: string): number | undefined {
  const m = STAMP.exec(line);
  return m ? new Date(`${m[1]}T${m[2]}.${m[3]}`).getTime() / 1000 : undefined;
}

/**
 * Every task that a worker both received and finished, ordered by reception. A task received twice (a
 * redelivery) keeps its last reception on the worker that finished it.
 */
export function timedTasks(logs: readonly WorkerLog[]): TimedTask[] {
  const tasks: TimedTask[] = [];
  for (const { unitId, text } of logs) {
    const received = new Map<string, number>();
    for (const line of text.split('\n')) {
      const t = stampSeconds(line);
      if (t === undefined) continue;
      const r = RECEIVED.exec(line);
      if (r) {
        received.set(r[1]!, t);
        continue;
      }
      const s = SUCCEEDED.exec(line);
      const from = s ? received.get(s[1]!) : undefined;
      if (s && from !== undefined) tasks.push({ id: s[1]!, unitId, receivedAt: from, endedAt: t });
    }
  }
  return tasks.sort((a, b) => a.receivedAt - b.receivedAt);
}

/**
 * Splits tasks into phases: a new phase starts with a task received after every earlier task had ended, more
 * than `gapSeconds` later (the master working between two Starmaps; a windowed phase always has one in flight).
 */
export function taskPhases(tasks: readonly TimedTask[], gapSeconds = 0.25): TaskPhase[] {
  const phases: TimedTask[][] = [];
  let lastEnd = Number.NEGATIVE_INFINITY;
  for (const task of tasks) {
    if (phases.length === 0 || task.receivedAt > lastEnd + gapSeconds) phases.push([]);
    phases[phases.length - 1]!.push(task);
    lastEnd = Math.max(lastEnd, task.endedAt);
  }
  return phases.map((p) => ({
    tasks: p,
    firstReceivedAt: p[0]!.receivedAt,
    lastEndedAt: Math.max(...p.map((t) => t.endedAt)),
  }));
}

// Celery's own line when the worker consumes: `[...: INFO/MainProcess] celery@oq@p1234 ready.` (celery 4.4).
const READY = /\] \S+ ready\.\s*$/;

/** When each worker logged that it was ready to consume, epoch seconds (units that never got there are absent). */
export function workerReadyTimes(logs: readonly WorkerLog[]): Map<string, number> {
  const ready = new Map<string, number>();
  for (const { unitId, text } of logs) {
    for (const line of text.split('\n')) {
      const t = READY.test(line) ? stampSeconds(line) : undefined;
      if (t !== undefined) {
        ready.set(unitId, t);
        break;
      }
    }
  }
  return ready;
}
