/**
 * The master's CalculationsExecuting publisher run for real: the Python script the boot installs, with the
 * environment its systemd unit sets, against an sqlite database built with engine 3.11.5's `job` table and
 * the moto server's CloudWatch (PutMetricData, then GetMetricData by the dashboard's namespace, name and
 * dimension).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { afterAll, expect, it } from 'vitest';
import { CLUSTER_DIMENSION, METRIC_NAMESPACE } from '../../contract/metric-names.ts';
import {
  CALCULATIONS_METRIC,
  CALCULATIONS_METRIC_SCRIPT,
  renderCalculationsMetricUnits,
} from '../../cdk/lib/master/calculations-metric.ts';
import { runAsUnit, type ScriptRun } from '../support/master-unit-run.ts';
import { AWS_ENDPOINT_URL, describeWithMoto, PYTHON } from '../support/services.ts';

/**
 * Engine 3.11.5's `job` table as its schema upgrades leave it (openquake/server/db/schema/upgrades:
 * 0000-base_schema.sql, then 0001/0002/0004-job.py rewrite it to this).
 */
const ENGINE_JOB_TABLE = `CREATE TABLE job(
  id INTEGER PRIMARY KEY AUTOINCREMENT, description TEXT NOT NULL, user_name TEXT NOT NULL,
  calculation_mode TEXT NOT NULL, hazard_calculation_id INTEGER REFERENCES job (id) ON DELETE CASCADE,
  status TEXT NOT NULL DEFAULT 'created', is_running BOOL NOT NULL DEFAULT 1,
  start_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, stop_time TIMESTAMP,
  relevant BOOL NOT NULL DEFAULT 1, ds_calc_dir TEXT NOT NULL, pid INTEGER NOT NULL DEFAULT 0, size_mb FLOAT)`;

const dir = mkdtempSync(join(tmpdir(), 'oqe-master-calcs-'));
const region = 'eu-west-1';
const clusterName = `oqe-calcs-${randomBytes(4).toString('hex')}`;

/** Builds a database whose jobs have these statuses (the engine's status strings, actions.set_status). */
function engineDatabase(name: string, statuses: readonly string[]): string {
  const path = join(dir, name);
  const rows = statuses
    .map(
      (status, i) =>
        `INSERT INTO job (description, user_name, calculation_mode, status, is_running, ds_calc_dir) ` +
        `VALUES ('calc ${i}', 'alice', 'classical', '${status}', ${status === 'executing' ? 1 : 0}, '/tmp/calc_${i}');`,
    )
    .join('\n');
  const result = spawnSync(
    PYTHON,
    [
      '-c',
      'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.stdin.read()); c.commit()',
      path,
    ],
    { input: `${ENGINE_JOB_TABLE};\n${rows}`, encoding: 'utf8' },
  );
  expect(result.stderr).toBe('');
  return path;
}

/** Runs the publisher with the environment of its rendered unit (and the test's endpoint and keys). */
function publish(database: string): ScriptRun {
  return runAsUnit({
    unit: renderCalculationsMetricUnits({ clusterName, region, python: PYTHON })[
      'oq-calculations-metric.service'
    ],
    scriptPath: join(dir, 'oq-calculations-metric'),
    scriptText: CALCULATIONS_METRIC_SCRIPT,
    python: PYTHON,
    env: {
      OQ_ENGINE_DB: database,
      AWS_ENDPOINT_URL,
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    },
  });
}

async function publishedValues(): Promise<number[]> {
  const client = new CloudWatchClient({
    region,
    endpoint: AWS_ENDPOINT_URL,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const now = Date.now();
  const out = await client.send(
    new GetMetricDataCommand({
      StartTime: new Date(now - 10 * 60_000),
      EndTime: new Date(now + 60_000),
      MetricDataQueries: [
        {
          Id: 'executing',
          MetricStat: {
            Metric: {
              Namespace: METRIC_NAMESPACE,
              MetricName: 'CalculationsExecuting',
              Dimensions: [{ Name: CLUSTER_DIMENSION, Value: clusterName }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        },
      ],
    }),
  );
  client.destroy();
  return out.MetricDataResults?.[0]?.Values ?? [];
}

describeWithMoto('master: CalculationsExecuting published from the engine database', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('publishes the name the dashboard reads', () => {
    expect(CALCULATIONS_METRIC).toBe('CalculationsExecuting');
  });

  it("counts only status 'executing' and puts it under the bridge's namespace and Cluster dimension", async () => {
    const database = engineDatabase('db.sqlite3', [
      'complete',
      'executing',
      'failed',
      'executing',
      'created',
      'aborted',
      'executing',
      'submitted',
    ]);
    const run = publish(database);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe('CalculationsExecuting=3');
    expect(await publishedValues()).toEqual([3]);
  }, 30_000);

  it('publishes 0 before the DbServer has created the database', () => {
    const run = publish(join(dir, 'not-yet.sqlite3'));
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('CalculationsExecuting=0');
  }, 30_000);

  it('fails, publishing nothing, on a database without the engine schema', () => {
    const path = join(dir, 'empty.sqlite3');
    spawnSync(PYTHON, [
      '-c',
      'import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute("CREATE TABLE x(a)")',
      path,
    ]);
    const run = publish(path);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/no such table: job/);
  }, 30_000);
});
