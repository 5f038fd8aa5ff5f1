/**
 * What the engine's celery workers did, read from their own logs (the entrypoint runs celery at INFO, whose
 * `Received task:` and `Task ...[id] succeeded` lines name every task): the real engine has no journal like the
 * synthetic test app, and its master only counts each task once, so the workers are the witnesses of a task
 * that ran twice, never finished, or was running on a worker the bridge stopped.
 */

/** One worker's log, in order (stdout and stderr of the entrypoint and celery, unbuffered, in one file). */
export interface WorkerLog {
  readonly unitId: string;
  readonly text: string;
}

/** Counted over every worker's log. */
export interface WorkerTaskAnalysis {
  /** Distinct celery task ids received. */
  readonly tasksReceived: number;
  /** Distinct task ids that succeeded somewhere. */
  readonly tasksSucceeded: number;
  /** Received but never succeeded anywhere: lost (the engine would wait forever, or was aborted). */
  readonly unfinished: readonly string[];
  /** Received more than once (redelivered after a worker died, or a bug). */
  readonly receivedTwice: readonly string[];
  /** Units that were asked to stop (the entrypoint's `SIGTERM:` line) while one of their tasks was running. */
  readonly busyWhenStopped: readonly string[];
  /** Tasks each unit received. */
  readonly perUnit: Readonly<Record<string, number>>;
}

/** Celery's INFO line when a worker takes a task; group 1 is the task id. */
export const RECEIVED = /Received task: [\w.]+\[([0-9a-f-]{36})\]/;
/** Celery's INFO line when a task returned; group 1 is the task id. */
export const SUCCEEDED = /Task [\w.]+\[([0-9a-f-]{36})\] succeeded/;
const FAILED = /Task [\w.]+\[([0-9a-f-]{36})\] raised/;
/** The worker entrypoint's own line when it receives SIGTERM (worker-image/entrypoint/oq_worker_entrypoint.py). */
const STOP_REQUESTED = /oq-worker: SIGTERM: /;

/** Reads every worker log and counts what happened to each task. Pure: the logs in, the counts out. */
export function analyzeWorkerLogs(logs: readonly WorkerLog[]): WorkerTaskAnalysis {
  const receivedBy = new Map<string, number>();
  const succeeded = new Set<string>();
  const busyWhenStopped: string[] = [];
  const perUnit: Record<string, number> = {};
  for (const { unitId, text } of logs) {
    const running = new Set<string>();
    let stopSeen = false;
    perUnit[unitId] = 0;
    for (const line of text.split('\n')) {
      const received = RECEIVED.exec(line);
      if (received) {
        receivedBy.set(received[1]!, (receivedBy.get(received[1]!) ?? 0) + 1);
        running.add(received[1]!);
        perUnit[unitId]!++;
        continue;
      }
      const ended = SUCCEEDED.exec(line) ?? FAILED.exec(line);
      if (ended) {
        running.delete(ended[1]!);
        if (SUCCEEDED.test(line)) succeeded.add(ended[1]!);
        continue;
      }
      if (!stopSeen && STOP_REQUESTED.test(line)) {
        stopSeen = true;
        if (running.size > 0) busyWhenStopped.push(unitId);
      }
    }
  }
  return {
    tasksReceived: receivedBy.size,
    tasksSucceeded: succeeded.size,
    unfinished: [...receivedBy.keys()].filter((id) => !succeeded.has(id)),
    receivedTwice: [...receivedBy.entries()].filter(([, n]) => n > 1).map(([id]) => id),
    busyWhenStopped,
    perUnit,
  };
}
