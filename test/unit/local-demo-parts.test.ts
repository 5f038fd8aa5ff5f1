import { describe, expect, it } from 'vitest';
import type { LifecycleEvent } from '../../local/fleet/lifecycle-log.ts';
import { chartSvg } from '../../local/cluster/chart-svg.ts';
import { analyzeRun, type JournalEntry, workerTime } from '../../local/cluster/journal-analysis.ts';
import { hazardLikeDurations } from '../../local/cluster/workload.ts';
import { decisionLineJoiner } from '../../local/cluster/decision-lines.ts';
import type { DecisionLine } from '../../local/cluster/live-view.ts';

const T0 = 1_700_000_000; // seconds
function entry(event: JournalEntry['event'], taskNo: number, worker: string, t: number, id = `t${taskNo}`) {
  return { event, t: T0 + t, task_id: id, task_no: taskNo, calc_id: 7, worker, redelivered: false };
}
const ms = (t: number) => (T0 + t) * 1000;

describe('hazard-like workload', () => {
  it('has the requested mean, a heavy tail under the cap, and is repeatable', () => {
    const d = hazardLikeDurations({ count: 300, meanSeconds: 2 });
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    expect(mean).toBeGreaterThan(1.9);
    expect(mean).toBeLessThan(2.1);
    const sorted = [...d].sort((a, b) => a - b);
    const median = sorted[150];
    // Heavy tail: the longest tasks are several times the median, the median is below the mean.
    expect(sorted[299] / median).toBeGreaterThan(4);
    expect(median).toBeLessThan(mean);
    expect(Math.max(...d)).toBeLessThanOrEqual(6 * 2 * 1.2);
    expect(hazardLikeDurations({ count: 300, meanSeconds: 2 })).toEqual(d);
    expect(hazardLikeDurations({ count: 300, meanSeconds: 2, seed: 1 })).not.toEqual(d);
  });

  it('rejects a bad count or mean naming the value', () => {
    expect(() => hazardLikeDurations({ count: 0, meanSeconds: 1 })).toThrow(/count is 0/);
    expect(() => hazardLikeDurations({ count: 5, meanSeconds: -1 })).toThrow(/meanSeconds is -1/);
  });
});

describe('journal analysis (from what workers and the backend recorded)', () => {
  it('counts a clean run as no loss, no duplicate, no busy retirement', () => {
    const journal = [entry('start', 0, 'oq@a', 0), entry('end', 0, 'oq@a', 2), entry('start', 1, 'oq@b', 1)];
    journal.push(entry('end', 1, 'oq@b', 4));
    const lifecycle: LifecycleEvent[] = [
      { event: 'spawn', unitId: 'a', t: ms(-1) },
      { event: 'spawn', unitId: 'b', t: ms(-1) },
      { event: 'retire', unitId: 'a', t: ms(3) }, // a was idle from 2
      { event: 'exit', unitId: 'a', t: ms(3.5) },
      { event: 'exit', unitId: 'b', t: ms(9) },
    ];
    const r = analyzeRun({
      calcId: 7,
      taskCount: 2,
      journal,
      lifecycle,
      window: { from: ms(-1), to: ms(9) },
    });
    expect(r.lost).toEqual([]);
    expect(r.runTwice).toEqual([]);
    expect(r.busyRetired).toEqual([]);
    expect(r.makespanSeconds).toBeCloseTo(4);
    expect(r.workerSeconds).toBeCloseTo(4.5 + 10);
    expect(r.peakWorkers).toBe(2);
    expect(r.taskSeconds).toBeCloseTo(2 + 3);
  });

  it('finds lost tasks, tasks run twice and a retire signal sent to a busy worker', () => {
    const journal = [entry('start', 0, 'oq@a', 0), entry('end', 0, 'oq@a', 5), entry('start', 1, 'oq@b', 0)];
    journal.push(
      entry('end', 1, 'oq@b', 1),
      entry('start', 1, 'oq@c', 2, 't1'),
      entry('end', 1, 'oq@c', 3, 't1'),
    );
    const lifecycle: LifecycleEvent[] = [{ event: 'retire', unitId: 'a', t: ms(2) }];
    const r = analyzeRun({ calcId: 7, taskCount: 3, journal, lifecycle });
    expect(r.lost).toEqual([2]);
    expect(r.runTwice).toEqual([1]);
    expect(r.startedTwiceUnexplained).toEqual([1]);
    expect(r.busyRetired).toEqual([{ unitId: 'a', taskNo: 0 }]);
  });

  it('explains a second start by a kill of the first worker, and ignores other calculations', () => {
    const journal = [entry('start', 0, 'oq@a', 0), entry('start', 0, 'oq@b', 3), entry('end', 0, 'oq@b', 4)];
    journal.push({ ...entry('start', 0, 'oq@z', 0), calc_id: 8 });
    const lifecycle: LifecycleEvent[] = [{ event: 'kill', unitId: 'a', t: ms(1), signal: 'SIGKILL' }];
    const r = analyzeRun({ calcId: 7, taskCount: 1, journal, lifecycle });
    expect(r.startedTwiceUnexplained).toEqual([]);
    expect(r.redeliveredAfterFailure).toEqual([0]);
    expect(r.runTwice).toEqual([]);
  });

  it('bills a worker still alive up to the end of the window', () => {
    const { workerSeconds } = workerTime([{ event: 'spawn', unitId: 'a', t: 1000 }], { from: 0, to: 11_000 });
    expect(workerSeconds).toBe(10);
  });
});

describe('chart', () => {
  it('draws one path per series with the run length on the time axis', () => {
    const samples = [0, 1, 2, 30].map((s, i) => ({
      t: 1000 * s,
      queue: 10 - i,
      ready: 5 - i,
      desired: i,
      running: i,
      busy: 1,
    }));
    const svg = chartSvg(samples, 'demo <run>');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<path /g)).toHaveLength(5);
    expect(svg).toContain('demo &lt;run&gt;');
    expect(svg).toContain('>30<');
    expect(() => chartSvg([], 'x')).toThrow(/samples is empty/);
  });
});

describe("the bridge's decision and action lines, joined for the demo's view", () => {
  it('reports a decision with the outcome from the action line of the same id, once', () => {
    const lines: DecisionLine[] = [];
    const log = decisionLineJoiner((l) => lines.push(l), { now: () => 42 });
    log('decision', { id: 'a-1', reason: 'ScaleOut', desired: 3, current: 1, demand: 6, detail: '6 tasks' });
    expect(lines).toEqual([]); // the decision line carries no outcome yet
    log('heartbeat', { id: 'a-1' });
    log('action', { id: 'a-1', reason: 'ScaleOut', action: 'scaleOut', actionDetail: 'desired 1 -> 3' });
    log('action', { id: 'a-1', action: 'scaleOut' });
    expect(lines).toEqual([
      { t: 42, reason: 'ScaleOut', desired: 3, current: 1, demand: 6, detail: '6 tasks', action: 'scaleOut' },
    ]);
  });

  it('drops a decision whose action never came, and an action of another cycle', () => {
    const lines: DecisionLine[] = [];
    const log = decisionLineJoiner((l) => lines.push(l), { now: () => 0 });
    log('decision', { id: 'a-1', reason: 'Steady', desired: 0, demand: 0, detail: '' });
    log('decision', { id: 'a-2', reason: 'DrainingIdle', desired: 0, current: 1, demand: 0, detail: 'idle' });
    log('action', { id: 'a-1', action: 'none' });
    log('action', { id: 'a-2', action: 'scaleIn' });
    expect(lines.map((l) => [l.reason, l.current, l.action])).toEqual([['DrainingIdle', 1, 'scaleIn']]);
  });
});
