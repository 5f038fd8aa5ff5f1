/**
 * The pure parts of the real-engine runs (scripts/engine): the exact comparison with the single-machine
 * reference, the reading of the workers' celery logs, and the local openquake.cfg moved from the master's own.
 */
import { describe, expect, it } from 'vitest';
import { compareEngineResults, type EngineResults } from '../../local/engine/engine-results.ts';
import { moveKeys, renderLocalOpenquakeCfg } from '../../local/engine/local-openquake-cfg.ts';
import { analyzeWorkerLogs } from '../../local/engine/worker-task-log.ts';

const reference: EngineResults = {
  csv: {
    'hazard_curve-mean-PGA.csv': [
      ['lon', 'lat', 'poe-0.005'],
      ['-122.34', '37.72', '1.201086E-01'],
    ],
  },
  datasets: { 'hcurves-stats': { shape: [1, 1, 1], values: [0.1201086] } },
  tasks: { classical: 17 },
};

describe('compareEngineResults', () => {
  it('finds an identical run equal', () => {
    expect(compareEngineResults(reference, structuredClone(reference))).toEqual({
      equal: true,
      differences: [],
    });
  });

  it('names a changed CSV cell with its deviation, a changed dataset value, and a missing file', () => {
    const run = structuredClone(reference) as { -readonly [K in keyof EngineResults]: EngineResults[K] };
    run.csv['hazard_curve-mean-PGA.csv']![1]![2] = '1.201087E-01';
    run.datasets['hcurves-stats']!.values[0] = 0.12;
    run.csv['hazard_map-mean.csv'] = [['lon']];
    const verdict = compareEngineResults(reference, run);
    expect(verdict.equal).toBe(false);
    expect(verdict.differences).toEqual([
      expect.stringMatching(
        /^hazard_curve-mean-PGA\.csv: 1 of 2 rows differ \(largest difference 1\.0000\d*e-7\)$/,
      ),
      'hazard_map-mean.csv: only in the run',
      expect.stringMatching(/^hcurves-stats: 1 of 1 values differ/),
    ]);
  });

  it('never finds an empty reference equal', () => {
    const empty: EngineResults = { csv: {}, datasets: {}, tasks: {} };
    expect(compareEngineResults(empty, empty).equal).toBe(false);
  });
});

const id = (n: number) => `00000000-0000-0000-0000-${String(n).padStart(12, '0')}`;
const received = (n: number) =>
  `[x: INFO/MainProcess] Received task: openquake.baselib.parallel.safely_call[${id(n)}]`;
const succeeded = (n: number) =>
  `[x: INFO/ForkPoolWorker-1] Task openquake.baselib.parallel.safely_call[${id(n)}] succeeded in 1.2s: None`;

describe('analyzeWorkerLogs', () => {
  it('counts a task redelivered after its worker was killed once, as finished, and on both workers', () => {
    const analysis = analyzeWorkerLogs([
      { unitId: 'a', text: [received(1), succeeded(1), received(2)].join('\n') },
      { unitId: 'b', text: [received(2), succeeded(2)].join('\n') },
    ]);
    expect(analysis).toMatchObject({
      tasksReceived: 2,
      tasksSucceeded: 2,
      unfinished: [],
      receivedTwice: [id(2)],
      busyWhenStopped: [],
      perUnit: { a: 2, b: 1 },
    });
  });

  it('flags a worker asked to stop while a task runs, and a task that never finished', () => {
    const analysis = analyzeWorkerLogs([
      {
        unitId: 'busy',
        text: [received(3), 'oq-worker: SIGTERM: oq@busy stopped consuming', succeeded(3)].join('\n'),
      },
      {
        unitId: 'idle',
        text: [received(4), succeeded(4), 'oq-worker: SIGTERM: oq@idle stopped consuming'].join('\n'),
      },
      { unitId: 'lost', text: received(5) },
    ]);
    expect(analysis.busyWhenStopped).toEqual(['busy']);
    expect(analysis.unfinished).toEqual([id(5)]);
  });
});

describe('renderLocalOpenquakeCfg', () => {
  const cfg = renderLocalOpenquakeCfg({
    amqpHost: '127.0.0.1',
    amqpPort: 5673,
    amqpUser: 'admin',
    amqpPassword: 'secret',
    amqpVhost: 'v1',
    dbserverAuthkey: 'key',
    numCores: 6,
    dbserverPort: 30001,
    receiverPorts: { from: 30002, to: 30010 },
    databaseFile: '/tmp/x/db.sqlite3',
    sharedDir: '/tmp/x/shared',
  });

  it("moves ports and paths of the master's own file and keeps the rest as production renders it", () => {
    expect(cfg).toContain(
      '[amqp]\nhost = 127.0.0.1\nport = 5673\nuser = admin\npassword = secret\nvhost = v1\n',
    );
    expect(cfg).toMatch(/\[dbserver\]\nmulti_user = true\nfile = \/tmp\/x\/db\.sqlite3\n/);
    expect(cfg).toContain('port = 30001\nreceiver_ports = 30002-30010\n');
    expect(cfg).toContain('shared_dir = /tmp/x/shared');
    expect(cfg).toContain('num_cores = 6');
    expect(cfg).toContain('[zworkers]\nhost_cores =\n');
    expect(cfg).not.toMatch(/1908|1912|\/opt\/openquake\/shared|\/var\/lib\/openquake/);
  });

  it('refuses to leave a production value in place when the key is gone from the rendered file', () => {
    expect(() => moveKeys('[dbserver]\nport = 1908\n', { dbserver: { port: '1', file: '/x' } })).toThrow(
      "the master's openquake.cfg has no dbserver.file",
    );
  });
});
