import { describe, expect, it } from 'vitest';
import {
  buildStatusReport,
  renderStatusReport,
  statusReportJson,
} from '../../bridge/src/cli/status-report.ts';
import type { Observation } from '../../bridge/src/observe/observation.ts';

const at = 1_790_000_000_000;
const observation: Observation = {
  queue: { ready: 6, unacked: 3, consumers: 1, observedAt: at, source: 'ready,consumers: passive declare' },
  workers: [
    {
      hostname: 'oq@task-a',
      poolSize: 4,
      active: [
        { id: 't1', name: 'openquake.baselib.parallel.safely_call', calculationId: 42 },
        { id: 't2', name: 'openquake.baselib.parallel.safely_call', calculationId: 7 },
        { id: 't3', name: 'openquake.baselib.parallel.safely_call', calculationId: 42 },
      ],
      reserved: 0,
      consuming: true,
      observedAt: at,
    },
    { hostname: 'oq@task-b', poolSize: 2, active: [], reserved: 0, consuming: false, observedAt: at },
  ],
  compute: {
    desired: 4,
    running: 3,
    pending: 1,
    units: [
      { unitId: 'task-a', celeryHostname: 'oq@task-a', state: 'running' },
      { unitId: 'task-b', celeryHostname: 'oq@task-b', state: 'running' },
      { unitId: 'task-c', celeryHostname: 'oq@task-c', state: 'running' },
      { unitId: 'task-d', celeryHostname: 'oq@task-d', state: 'pending' },
    ],
    observedAt: at,
  },
  sharedDir: {
    available: true,
    mountTargetsReady: false,
    sizeBytes: 3 * 1024 * 1024,
    detail: 'no available mount target in worker subnet(s) subnet-2',
    observedAt: at,
  },
  errors: ['worker oq@task-c answered but not active within 1500 ms'],
};

describe('status report', () => {
  it('counts hosts, processes, active tasks and utilisation = active / processes', () => {
    const report = buildStatusReport(observation);
    expect(report.hosts.map((h) => [h.hostname, h.status])).toEqual([
      ['oq@task-a', 'Online'],
      ['oq@task-b', 'Draining'],
      ['oq@task-c', 'No reply'],
      ['oq@task-d', 'Starting'],
    ]);
    expect(report.hosts[0]!.calculations).toEqual([7, 42]);
    // 3 active of 4 + 2 processes = 50 %
    expect(report.totals).toEqual({ workers: 2, workerProcesses: 6, activeTasks: 3, utilisation: 0.5 });
    expect(report.queue?.demand).toBe(9);
  });

  it('renders the classic celery-status layout plus queue, fleet and shared dir', () => {
    const text = renderStatusReport(buildStatusReport(observation));
    expect(text).toContain(
      '==========\nHost: oq@task-a (unit task-a)\nStatus: Online\nWorker processes: 4\nActive tasks: 3\nCalculations: #7, #42\n',
    );
    expect(text).toContain('Host: oq@task-b (unit task-b)\nStatus: Draining\n');
    expect(text).toContain(
      'Total workers:       2\nWorker processes:    6\nActive tasks:        3\nCluster utilisation: 50.00%\n',
    );
    expect(text).toContain('Queue celery:        6 ready, 3 unacked, 1 consumers (work in flight 9)');
    expect(text).toContain('Fleet:               4 desired, 3 running, 1 pending');
    expect(text).toContain(
      'Shared dir:          NOT READY (no available mount target in worker subnet(s) subnet-2), 3.0 MiB stored',
    );
    expect(text).toContain(
      'Not observed this time:\n  - worker oq@task-c answered but not active within 1500 ms',
    );
  });

  it('says unknown, not zero, for parts that were not observed', () => {
    const report = buildStatusReport({ errors: ['queue (passive declare): cannot reach RabbitMQ'] });
    expect(report.totals.utilisation).toBeUndefined();
    const text = renderStatusReport(report);
    // Issue 14 item 1: a cluster that could not be asked must not read as an empty one.
    expect(text).not.toContain('No workers.');
    expect(text).toContain('Workers: UNKNOWN');
    expect(text).toContain(
      'Total workers:       unknown\nWorker processes:    unknown\nActive tasks:        unknown',
    );
    expect(text).toContain('Cluster utilisation: n/a');
    expect(text).toContain('Queue celery:        unknown');
    expect(text).toContain('Fleet:               unknown');
    expect(text).toContain('INCOMPLETE: queue, workers, fleet unknown (not zero).');
    expect(JSON.parse(statusReportJson(report))).toEqual({
      hosts: [],
      totals: { workers: 0, workerProcesses: 0, activeTasks: 0 },
      calculations: [],
      missing: ['queue', 'workers', 'fleet'],
      errors: ['queue (passive declare): cannot reach RabbitMQ'],
    });
  });

  it('lists the running calculations with their workers, and the last decisions with their reasons', () => {
    const at = 1_700_000_000_000;
    const task = (id: string, calculationId: number) => ({ id, name: 'safely_call', calculationId });
    const report = buildStatusReport(
      {
        workers: [
          {
            hostname: 'oq@b',
            active: [task('1', 7), task('2', 9)],
            reserved: 0,
            consuming: true,
            observedAt: at,
          },
          { hostname: 'oq@a', active: [task('3', 7)], reserved: 0, consuming: true, observedAt: at },
        ],
        errors: [],
      },
      [
        {
          id: `${at}-1`,
          time: new Date(at).toISOString(),
          reason: 'ScaleOut',
          current: 1,
          desired: 2,
          detail: 'scale out 1 -> 2: demand 3 ready + 1 in flight',
          action: 'scaleOut',
          actionDetail: 'desired 1 -> 2',
        },
      ],
    );
    expect(report.calculations).toEqual([
      { calculationId: 7, activeTasks: 2, workers: ['oq@a', 'oq@b'] },
      { calculationId: 9, activeTasks: 1, workers: ['oq@b'] },
    ]);
    const text = renderStatusReport(report);
    expect(text).toContain('Calculation #7: 2 active task(s) on 2 worker(s): oq@a, oq@b');
    expect(text).toContain('Calculation #9: 1 active task(s) on 1 worker(s): oq@b');
    expect(text).toContain(
      `  ${new Date(at).toISOString()} ScaleOut 1 -> 2 [scaleOut: desired 1 -> 2]\n      scale out 1 -> 2: demand 3 ready`,
    );
  });
});
