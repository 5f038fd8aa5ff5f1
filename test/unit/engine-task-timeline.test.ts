/**
 * The real-engine calibration's reading of celery worker logs: task times, phases split at the master's gaps,
 * and the simulator trace built from them. Pure functions on hand-written celery 4 log lines.
 */
import { describe, expect, it } from 'vitest';
import { traceOfPhases } from '../../bench/real/engine-calibration.ts';
import { taskPhases, timedTasks, workerReadyTimes } from '../../bench/real/engine-task-timeline.ts';

const ID = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const line = (time: string, what: string) => `[2026-12-01 01:40:${time}: INFO/MainProcess] ${what}`;
const received = (time: string, n: number) =>
  line(time, `Received task: openquake.baselib.parallel.safely_call[${ID(n)}]`);
const succeeded = (time: string, n: number) =>
  line(time, `Task openquake.baselib.parallel.safely_call[${ID(n)}] succeeded in 0.5s: None`);

describe('timedTasks and taskPhases', () => {
  const logs = [
    {
      unitId: 'a',
      text: [
        'oq-worker: starting celery',
        received('00,000', 1),
        received('00,100', 2),
        succeeded('01,000', 1),
        succeeded('01,500', 2),
        // the master's gap: nothing in flight for 2 s, then the windowed phase
        received('03,500', 3),
        succeeded('05,000', 3),
        received('09,000', 9), // never finished here: not a timed task
      ].join('\n'),
    },
    {
      unitId: 'b',
      text: [
        received('03,600', 4),
        received('04,000', 5),
        succeeded('04,500', 4),
        succeeded('06,250', 5),
      ].join('\n'),
    },
  ];

  it('times each finished task from its reception to its success on the worker that ran it, in reception order', () => {
    const tasks = timedTasks(logs);
    expect(tasks.map((t) => t.id)).toEqual([ID(1), ID(2), ID(3), ID(4), ID(5)]);
    expect(tasks.map((t) => +(t.endedAt - t.receivedAt).toFixed(3))).toEqual([1, 1.4, 1.5, 0.9, 2.25]);
    expect(tasks.map((t) => t.unitId)).toEqual(['a', 'a', 'a', 'b', 'b']);
  });

  it('starts a new phase only after a gap with nothing in flight', () => {
    const phases = taskPhases(timedTasks(logs));
    expect(phases.map((p) => p.tasks.length)).toEqual([2, 3]);
    expect(+(phases[1]!.firstReceivedAt - phases[0]!.lastEndedAt).toFixed(3)).toBe(2);
  });

  it('builds a trace: earlier phases at once with the measured gap, the last one windowed by num_cores', () => {
    const trace = traceOfPhases(taskPhases(timedTasks(logs)), 8, 't');
    const calc = trace.calculations[0]!;
    expect(calc.submission).toBe('windowed');
    expect(calc.numCores).toBe(8);
    expect(calc.durations.map((d) => +d.toFixed(3))).toEqual([1.5, 0.9, 2.25]);
    expect(calc.leadPhases?.map((p) => p.durations.length)).toEqual([2]);
    expect(+calc.leadPhases![0]!.gapAfterSeconds.toFixed(3)).toBe(2);
  });
});

describe('workerReadyTimes', () => {
  it("takes celery's first `ready.` line of each worker, and leaves out a worker that never logged it", () => {
    const ready = workerReadyTimes([
      {
        unitId: 'a',
        text: [
          'oq-worker: starting',
          line('02,250', 'celery@oq@pa ready.'),
          line('09,000', 'celery@oq@pa ready.'),
        ].join('\n'),
      },
      { unitId: 'b', text: line('01,000', 'Connected to amqp://u:**@127.0.0.1:5672/v') },
    ]);
    expect([...ready.keys()]).toEqual(['a']);
    expect(ready.get('a')! - new Date('2026-12-01T01:40:00.000').getTime() / 1000).toBeCloseTo(2.25, 6);
  });
});
