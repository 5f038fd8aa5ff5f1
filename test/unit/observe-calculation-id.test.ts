import { describe, expect, it } from 'vitest';
import { parseCalculationId } from '../../bridge/src/observe/calculation-id.ts';
import { parseTaskInfo, parseWorkerStats } from '../../bridge/src/observe/celery-remote-control.ts';

describe('parseCalculationId', () => {
  it.each([
    // celery's argsrepr of an engine 3.11 safely_call: (func, [Pickled...], task_no, monitor)
    [
      '(<function classical at 0x7f>, [<Pickled SourceGroup #123 1.2 MB>, <Pickled dict #123 5 KB>], 4, <Monitor #123 classical[alice]>)',
      123,
    ],
    // the test app's Pickled repr (size in bytes) and a None monitor
    ['(<function hazard_like at 0x7f>, [<Pickled dict #42 47B>], 0, None)', 42],
    // only the monitor carries it (Monitor.__repr__ with a calc id and a duration)
    ['(<function f at 0x1>, [], 0, <Monitor #9 total[bob], duration=1.5s, counts=3>)', 9],
    // a list of reprs, as a worker that serialises argument reprs one by one would send
    [['<function f at 0x1>', ['<Pickled Cls #77 10B>'], 1, null], 77],
  ])('finds the calculation id in %j', (args, id) => {
    expect(parseCalculationId(args)).toBe(id);
  });

  it.each([
    ['(<function f at 0x1>, [<Pickled dict # 1B>], 0, <Monitor total[bob]>)'], // calc id unset: no "#<id>"
    ['(1, 2, 3)'],
    [undefined],
    [{ args: '#5' }],
  ])('finds none in %j', (args) => {
    expect(parseCalculationId(args)).toBeUndefined();
  });
});

describe('reply parsers', () => {
  it('turns an active entry into a task with start time in ms and calculation id', () => {
    expect(
      parseTaskInfo({
        id: 'abc',
        name: 'openquake.baselib.parallel.safely_call',
        args: '(<function f at 0x1>, [<Pickled dict #8 3B>], 0, None)',
        time_start: 1790000000.25,
        worker_pid: 321,
        acknowledged: false,
      }),
    ).toEqual({
      id: 'abc',
      name: 'openquake.baselib.parallel.safely_call',
      startedAt: 1790000000250,
      calculationId: 8,
      args: '(<function f at 0x1>, [<Pickled dict #8 3B>], 0, None)',
      workerPid: 321,
    });
    expect(parseTaskInfo({ name: 'no id' })).toBeUndefined();
  });

  it('reads the pool size from stats and tolerates a reply without it', () => {
    expect(
      parseWorkerStats({ pid: 10, uptime: 5, pool: { 'max-concurrency': 8, processes: [1, 2] } }),
    ).toMatchObject({
      poolSize: 8,
      pid: 10,
      uptimeSeconds: 5,
    });
    expect(parseWorkerStats({ error: 'x' }).poolSize).toBeUndefined();
  });
});
