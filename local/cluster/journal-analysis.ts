import { readFileSync } from 'node:fs';
import type { LifecycleEvent } from '../fleet/lifecycle-log.ts';

/** One line the test app's workers append to OQ_TESTAPP_JOURNAL (worker-image/testapp/oq_testapp.py). */
export interface JournalEntry {
  readonly event: 'start' | 'partial' | 'end';
  readonly t: number; // seconds since the epoch, from the worker's clock
  readonly task_id: string;
  readonly task_no: number;
  readonly calc_id: number;
  readonly worker: string; // celery hostname, oq@<unitId>
  readonly redelivered: boolean;
  readonly step?: number;
}

/** What the run looked like from the workers' records and the backend's signals. */
export interface RunAnalysis {
  readonly tasks: number;
  /** Tasks with at least one `end`. */
  readonly completed: number;
  /** Tasks submitted that never ended. */
  readonly lost: number[];
  /** Tasks with more than one `end`: their results reached the master twice. */
  readonly runTwice: number[];
  /** Tasks started more than once where no kill or broker outage explains it. */
  readonly startedTwiceUnexplained: number[];
  /** Tasks started more than once, explained by a killed worker or a broker outage. */
  readonly redeliveredAfterFailure: number[];
  /** Retire signals sent to a worker while it was running a task (start before, end after or never). */
  readonly busyRetired: Array<{ unitId: string; taskNo: number }>;
  /** First start to last end, seconds. */
  readonly makespanSeconds: number;
  /** Sum over workers of spawn to exit, seconds, within the run's window. */
  readonly workerSeconds: number;
  /** The most workers alive at once. */
  readonly peakWorkers: number;
  /** Sum of the tasks' run times (start to end on the same worker), seconds: the work actually done. */
  readonly taskSeconds: number;
}

/** Inputs of the analysis: nothing the bridge believes, only what workers and the backend recorded. */
export interface AnalysisInput {
  readonly calcId: number;
  readonly taskCount: number;
  readonly journal: readonly JournalEntry[];
  readonly lifecycle: readonly LifecycleEvent[];
  /** Periods (ms since the epoch) when the broker was deliberately down: redeliveries then are expected. */
  readonly brokerOutages?: ReadonlyArray<{ from: number; to: number }>;
  /** The window to bill worker time in (ms since the epoch); defaults to the first spawn to now. */
  readonly window?: { from: number; to: number };
}

/** Reads a JSON-lines journal, ignoring a torn last line. */
export function readJournal(path: string): JournalEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const entries: JournalEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line) as JournalEntry);
    } catch {
      // a line still being written
    }
  }
  return entries;
}

/** Counts lost, duplicated and interrupted tasks and the worker time used, from the journal and lifecycle. */
export function analyzeRun(input: AnalysisInput): RunAnalysis {
  const mine = input.journal.filter((e) => e.calc_id === input.calcId);
  const starts = groupBy(
    mine.filter((e) => e.event === 'start'),
    (e) => e.task_no,
  );
  const ends = groupBy(
    mine.filter((e) => e.event === 'end'),
    (e) => e.task_no,
  );
  const lost: number[] = [];
  const runTwice: number[] = [];
  const unexplained: number[] = [];
  const explained: number[] = [];
  const kills = input.lifecycle.filter((e) => e.event === 'kill');
  const outages = input.brokerOutages ?? [];
  for (let taskNo = 0; taskNo < input.taskCount; taskNo++) {
    const s = starts.get(taskNo) ?? [];
    const e = ends.get(taskNo) ?? [];
    if (e.length === 0) lost.push(taskNo);
    if (e.length > 1) runTwice.push(taskNo);
    if (s.length > 1) {
      // A restart is explained when an earlier attempt's worker was killed, or the broker was down, before it ended.
      const attempts = [...s].sort((a, b) => a.t - b.t);
      const ok = attempts.slice(0, -1).every((attempt) => {
        const unitId = attempt.worker.replace(/^oq@/, '');
        const killed = kills.some((k) => k.unitId === unitId && k.t >= attempt.t * 1000);
        const outage = outages.some((o) => o.to >= attempt.t * 1000);
        return killed || outage;
      });
      (ok ? explained : unexplained).push(taskNo);
    }
  }

  const busyRetired: Array<{ unitId: string; taskNo: number }> = [];
  for (const retire of input.lifecycle.filter((e) => e.event === 'retire')) {
    const host = `oq@${retire.unitId}`;
    for (const start of mine.filter((e) => e.event === 'start' && e.worker === host)) {
      const end = mine.find((e) => e.event === 'end' && e.task_id === start.task_id && e.worker === host);
      if (start.t * 1000 <= retire.t && (!end || end.t * 1000 >= retire.t)) {
        busyRetired.push({ unitId: retire.unitId, taskNo: start.task_no });
      }
    }
  }

  let taskSeconds = 0;
  const startOf = new Map(
    mine.filter((e) => e.event === 'start').map((e) => [`${e.worker}/${e.task_id}`, e.t]),
  );
  for (const e of mine) {
    const began = e.event === 'end' ? startOf.get(`${e.worker}/${e.task_id}`) : undefined;
    if (began !== undefined) taskSeconds += e.t - began;
  }
  const times = mine.map((e) => e.t);
  const makespanSeconds = times.length ? Math.max(...times) - Math.min(...times) : 0;
  const { workerSeconds, peakWorkers } = workerTime(input.lifecycle, input.window);
  return {
    tasks: input.taskCount,
    completed: input.taskCount - lost.length,
    lost,
    runTwice,
    startedTwiceUnexplained: unexplained,
    redeliveredAfterFailure: explained,
    busyRetired,
    makespanSeconds,
    workerSeconds,
    peakWorkers,
    taskSeconds,
  };
}

/** Worker time billed from each unit's spawn to its first recorded exit, clipped to the window. */
export function workerTime(
  lifecycle: readonly LifecycleEvent[],
  window?: { from: number; to: number },
): { workerSeconds: number; peakWorkers: number } {
  const spans = new Map<string, { from: number; to?: number }>();
  for (const e of lifecycle) {
    if (e.event === 'spawn') spans.set(e.unitId, { from: e.t });
    else if (e.event === 'exit') {
      const span = spans.get(e.unitId);
      if (span && span.to === undefined) span.to = e.t;
    }
  }
  const from = window?.from ?? Math.min(...[...spans.values()].map((s) => s.from));
  const to = window?.to ?? Date.now();
  let ms = 0;
  const edges: Array<[number, number]> = [];
  for (const span of spans.values()) {
    const a = Math.max(span.from, from);
    const b = Math.min(span.to ?? to, to);
    if (b > a) {
      ms += b - a;
      edges.push([a, 1], [b, -1]);
    }
  }
  edges.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  let alive = 0;
  let peakWorkers = 0;
  for (const [, delta] of edges) {
    alive += delta;
    peakWorkers = Math.max(peakWorkers, alive);
  }
  return { workerSeconds: ms / 1000, peakWorkers };
}

function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const map = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}
