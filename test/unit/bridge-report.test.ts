import { describe, expect, it } from 'vitest';
import { actionResult } from '../../bridge/src/act/action-result.ts';
import type { Decision } from '../../bridge/src/decide/decision.ts';
import type { Observation } from '../../bridge/src/observe/observation.ts';
import { cycleMetrics, cycleMetricsEmf } from '../../bridge/src/report/cycle-metrics.ts';
import { ClusterMetrics } from '../../cdk/lib/dashboard/cluster-metrics.ts';
import * as dashboardRates from '../../cdk/lib/dashboard/cost-rates.ts';
import { evaluateMath } from '../../tools/dashboard-preview/metric-math.ts';
import { DEFAULT_PRICES } from '../../contract/prices.ts';
import { createJsonLogger, redact } from '../../bridge/src/report/json-logger.ts';
import { METRIC_NAMES, METRIC_NAMESPACE } from '../../contract/metric-names.ts';

const NOW = 1_800_000_000_000;
const busy = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `t${i}`, name: 'safely_call' }));
const OBSERVATION: Observation = {
  queue: { ready: 5, unacked: 3, consumers: 2, observedAt: NOW, source: 'test' },
  workers: [
    { hostname: 'oq@a', poolSize: 4, active: busy(3), reserved: 0, consuming: true, observedAt: NOW },
    { hostname: 'oq@b', poolSize: 4, active: [], reserved: 0, consuming: true, observedAt: NOW },
  ],
  compute: { desired: 3, running: 2, pending: 1, units: [], observedAt: NOW },
  sharedDir: { available: true, mountTargetsReady: true, sizeBytes: 730 * 2 ** 30, observedAt: NOW },
  errors: [],
};
const DECISION: Decision = {
  desired: 3,
  retire: [],
  reason: 'Steady',
  detail: 'steady',
  demand: 8,
  current: 3,
  slotsPerWorker: 4,
  history: { idleSince: {} },
};

describe('cycle metrics (EMF)', () => {
  it('computes every figure from the observation', () => {
    const m = cycleMetrics({
      observation: OBSERVATION,
      decision: DECISION,
      action: actionResult('scaleOut', 'x', { from: 1, to: 3 }),
      durationMs: 42,
      workerHourlyCost: 0.1,
      storageGbMonthCost: 0.3,
    });
    expect(m).toMatchObject({
      QueueReady: 5,
      QueueUnacked: 3,
      Consumers: 2,
      WorkersDesired: 3,
      WorkersRunning: 2,
      WorkersBusy: 1,
      ActiveTasks: 3,
      WorkerSlots: 8,
      // 3 active / 8 slots = 37.5 %
      Utilisation: 37.5,
      ScaleOut: 2,
      ScaleIn: 0,
      CycleDuration: 42,
      Heartbeat: 1,
    });
    // (2 running + 1 pending) x 0.1 + 730 GiB x 0.3 / 730 h = 0.3 + 0.3
    expect(m.EstimatedCostPerHour).toBeCloseTo(0.6, 9);
  });

  it('prices EFS storage as the dashboard does: per GB-month of 2^30 bytes over 730 hours', () => {
    const rates = dashboardRates.resolveCostRates({
      prices: DEFAULT_PRICES,
      workerCpuArchitecture: 'x86_64',
      workerVcpu: 4,
      workerMemoryGiB: 16,
      workerSpot: false,
      masterInstanceType: 'm7i.large',
    });
    const source = {
      clusterDimension: 'c',
      workerClusterName: 'c',
      workerServiceName: 's',
      masterInstanceId: 'i',
      fileSystemId: 'fs',
    };
    const efs = new ClusterMetrics(source, rates).efsCostPerHour();
    for (const sizeBytes of [0, 1e9, 2 ** 30, 123_456_789_012]) {
      // The dashboard's own expression, evaluated on one StorageBytes point.
      const dashboard = evaluateMath(efs.expression, {
        length: 1,
        periodSeconds: 300,
        lookup: () => [{ values: [sizeBytes] }],
        search: () => [],
      });
      const bridge = cycleMetrics({
        observation: {
          ...OBSERVATION,
          compute: { desired: 0, running: 0, pending: 0, units: [], observedAt: NOW },
          sharedDir: { available: true, mountTargetsReady: true, sizeBytes, observedAt: NOW },
        },
        decision: DECISION,
        action: actionResult('none', 'x'),
        durationMs: 1,
        workerHourlyCost: 0.1,
        storageGbMonthCost: DEFAULT_PRICES.efsStandardGbMonth,
      }).EstimatedCostPerHour;
      expect(typeof dashboard === 'number' ? dashboard : dashboard[0]?.values[0]).toBeCloseTo(
        bridge ?? NaN,
        12,
      );
    }
    // One GiB for a month costs the table's GB-month price.
    expect(
      (cycleMetrics({
        observation: {
          ...OBSERVATION,
          compute: { desired: 0, running: 0, pending: 0, units: [], observedAt: NOW },
          sharedDir: { available: true, mountTargetsReady: true, sizeBytes: 2 ** 30, observedAt: NOW },
        },
        decision: DECISION,
        action: actionResult('none', 'x'),
        durationMs: 1,
        workerHourlyCost: 0.1,
        storageGbMonthCost: 0.3,
      }).EstimatedCostPerHour ?? 0) * 730,
    ).toBeCloseTo(0.3, 12);
  });

  it('leaves out what was not observed instead of publishing zeros', () => {
    const m = cycleMetrics({
      observation: { errors: ['broker down'] },
      decision: { ...DECISION, reason: 'HoldOnMissingData' },
      action: actionResult('none', 'hold'),
      durationMs: 5,
      workerHourlyCost: 0.1,
    });
    expect(Object.keys(m).sort()).toEqual([
      'CycleDuration',
      'Heartbeat',
      'ScaleIn',
      'ScaleOut',
      'WorkersDesired',
    ]);
  });

  it('is a valid EMF document with the shared metric names and the Cluster dimension', () => {
    const m = cycleMetrics({
      observation: OBSERVATION,
      decision: DECISION,
      action: actionResult('scaleIn', 'x', { retired: ['b'] }),
      durationMs: 7,
      workerHourlyCost: 0.1,
    });
    const doc = cycleMetricsEmf(m, 'oq-prod', NOW) as {
      _aws: {
        Timestamp: number;
        CloudWatchMetrics: {
          Namespace: string;
          Dimensions: string[][];
          Metrics: { Name: string; Unit: string }[];
        }[];
      };
      [k: string]: unknown;
    };
    const directive = doc._aws.CloudWatchMetrics[0]!;
    expect(doc._aws.Timestamp).toBe(NOW);
    expect(directive.Namespace).toBe(METRIC_NAMESPACE);
    expect(directive.Dimensions).toEqual([['Cluster']]);
    expect(doc.Cluster).toBe('oq-prod');
    for (const { Name } of directive.Metrics) {
      expect(METRIC_NAMES).toContain(Name);
      expect(typeof doc[Name]).toBe('number');
    }
    expect(directive.Metrics.find((x) => x.Name === 'Utilisation')?.Unit).toBe('Percent');
    expect(doc.ScaleIn).toBe(1);
  });
});

describe('JSON logs', () => {
  it('never carries a password: secret-named fields and URL credentials are cut', () => {
    const lines: string[] = [];
    const log = createJsonLogger({ write: (l) => lines.push(l), now: () => NOW });
    log('connect-failed', {
      url: 'amqp://oq-bridge:s3cr%40t@10.0.0.5:5672/openquake',
      nested: { password: 's3cr@t', OQE_BROKER_PASSWORD: 's3cr@t', authkey: 'k' },
      note: 'see http://user:pw@host/x',
    });
    const record = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(record).toMatchObject({
      level: 'error',
      event: 'connect-failed',
      time: new Date(NOW).toISOString(),
    });
    expect(lines[0]).not.toMatch(/s3cr|:pw@/);
    expect(record.url).toBe('amqp://oq-bridge:***@10.0.0.5:5672/openquake');
    expect(redact({ a: [{ secret: 'x' }] })).toEqual({ a: [{ secret: '***' }] });
  });

  it('redacts by key, by known secret value and at the depth limit (the 8 synthetic secrets of the review)', () => {
    const known = 'Kn0wnBrokerPassw0rd';
    let deep: Record<string, unknown> = { note: `deep ${known}`, value: 'DeepS3cretValue' };
    for (let i = 0; i < 12; i++) deep = { level: deep };
    const lines: string[] = [];
    createJsonLogger({ write: (line) => lines.push(line), now: () => NOW, knownSecrets: [known] })('probe', {
      password: 'S3cretByKey1',
      headers: { Authorization: 'Basic QWxhZGRpbjpTM2NyZXQy', cookie: 'session=S3cretCookie3' },
      message: `login refused for oq-bridge with ${known}`,
      url: 'amqp://:S3cretEmptyUser4@10.0.0.5:5672/openquake',
      apiKey: 'S3cretApiKey5',
      deep,
      list: [[[[[[[[{ token: 'S3cretToken6' }]]]]]]]],
    });
    const line = lines[0]!;
    for (const leaked of [
      'S3cretByKey1',
      'QWxhZGRpbjpTM2NyZXQy',
      'S3cretCookie3',
      known,
      'S3cretEmptyUser4',
      'S3cretApiKey5',
      'DeepS3cretValue',
      'S3cretToken6',
    ]) {
      expect(line, leaked).not.toContain(leaked);
    }
    const record = JSON.parse(line) as Record<string, unknown>;
    expect(record.message).toBe('login refused for oq-bridge with ***');
    expect(record.url).toBe('amqp://:***@10.0.0.5:5672/openquake');
    expect(JSON.stringify(record.deep)).toContain('[redacted: nested too deep]');
  });
});
