/**
 * The master's calculation events end to end on real parts: an engine database created by engine 3.11.5 itself
 * (its schema upgrades, then its own `create_job`, `set_status` and `log` actions), the master's publisher
 * (cdk/assets/master/publish-calculation-events.py, the engine venv's Python and kombu) on a vhost provisioned by
 * the master's own provision-rabbitmq.sh, and the bridge's consumer logged in as the provisioned bridge user,
 * which may read the snapshots and can neither publish nor declare there. The control loop then decides on
 * what it read: pre-warm on a started calculation, idle workers retired at once when it ended.
 *
 * One loop test stubs the celery side (queue, workers, compute) to show `CalculationsEnded` beating the idle
 * grace; the last test runs the bridge as deployed (its runtime, the provisioned bridge user, real celery workers
 * of the local process backend) through pre-warm, hold and retirement.
 *
 * Needs RabbitMQ and the engine's environment (scripts/setup.sh); skipped without them outside CI, failing in
 * CI. Runtime: about 35 s (engine-Python runs of about 2 s each, rabbitmqctl, two celery worker starts).
 */
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALCULATION_EVENTS_QUEUE } from '../../contract/cluster-constants.ts';
import {
  calculationEventsPublisherText,
  renderCalculationEventsUnit,
} from '../../cdk/lib/master/calculation-events.ts';
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { ControlLoop } from '../../bridge/src/loop/control-loop.ts';
import { createBridgeRuntime } from '../../bridge/src/cli/bridge-runtime.ts';
import { loadBridgeConfig } from '../../bridge/src/config/bridge-config.ts';
import { processFleet } from '../../local/fleet/process-runtime.ts';
import { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import { CalculationEvents, withCalculationEvents } from '../../bridge/src/observe/calculation-events.ts';
import type { Observation } from '../../bridge/src/observe/observation.ts';
import { DECIDE_TEST_POLICY } from '../support/decide-test-policy.ts';
import { ENGINE_PYTHON, engineEnvAvailable } from '../support/engine-worker.ts';
import { idleFleetObservation } from '../support/idle-fleet-observation.ts';
import { runAsUnit } from '../support/master-unit-run.ts';
import { isMissing, MANAGEMENT_URL, managementApi, REPO_ROOT } from '../support/services.ts';

const run = promisify(execFile);
const inCi = process.env.CI !== undefined;
const enabled = (!isMissing('rabbitmq') && engineEnvAvailable()) || inCi;

const PROVISION = `${REPO_ROOT}cdk/assets/master/provision-rabbitmq.sh`;
const AMQP_PORT = Number(process.env.OQE_AMQP_PORT ?? 5672);
/** rabbitmqctl of the local test node (as in master-rabbitmq-provisioning.test.ts). */
const RABBIT_ENV = {
  HOME: `${process.env.OQE_SERVICES_DIR ?? `${REPO_ROOT}.services`}/rabbitmq`,
  RABBITMQ_NODENAME: process.env.OQE_RABBIT_NODENAME ?? 'oqe-test@localhost',
  RABBITMQCTL: '/usr/lib/rabbitmq/bin/rabbitmqctl',
};

const suffix = randomBytes(4).toString('hex');
const vhost = `openquake-ev-${suffix}`;
const engineUser = `openquake-ev-${suffix}`;
const bridgeUser = `oq-bridge-ev-${suffix}`;
const workerUser = `oq-worker-ev-${suffix}`;
const enginePassword = randomBytes(18).toString('hex');
const bridgePassword = randomBytes(18).toString('hex');
const dir = mkdtempSync(join(tmpdir(), 'oqe-calc-events-'));
const database = join(dir, 'db.sqlite3');

/**
 * Engine 3.11.5 builds and changes its own database: `upgrade_db` creates the schema, `create_job`,
 * `set_status` and `log` are the DbServer's actions the engine calls while a calculation runs. Each argument
 * is `status:line|line` for one job; `stop` gives the ended ones a stop time as the engine's finish does.
 */
function engineWrites(...jobs: string[]): number[] {
  const script = `
import sqlite3, sys
from datetime import datetime
from openquake.server.db import upgrade_manager, actions
from openquake.server.dbapi import Db
conn = sqlite3.connect(sys.argv[1], detect_types=sqlite3.PARSE_DECLTYPES, isolation_level=None)
upgrade_manager.upgrade_db(conn)
db = Db(lambda: conn)
for spec in sys.argv[2:]:
    head, _, lines = spec.partition(':')
    job_id, _, status = head.rpartition('=')
    job_id = int(job_id) if job_id else actions.create_job(db, '${dir}')
    for line in filter(None, lines.split('|')):
        actions.log(db, job_id, datetime.utcnow(), 'INFO', 'MainProcess/1', line)
    if status in ('complete', 'failed', 'aborted'):
        db('UPDATE job SET stop_time=?x WHERE id=?x', datetime.utcnow(), job_id)
    actions.set_status(db, job_id, status)
    print(job_id)
`;
  const result = spawnSync(ENGINE_PYTHON, ['-c', script, database, ...jobs], { encoding: 'utf8' });
  expect(result.stderr).toBe('');
  return result.stdout.trim().split('\n').map(Number);
}

/**
 * One publish by the master's publisher as the boot installs it (the SSM parameter's text, comments stripped),
 * with its unit's environment and the engine's openquake.cfg.
 */
function publishOnce(): string {
  const config = join(dir, 'openquake.cfg');
  writeFileSync(
    config,
    `[amqp]\nhost = 127.0.0.1\nport = ${AMQP_PORT}\nuser = ${engineUser}\npassword = ${enginePassword}\nvhost = ${vhost}\n`,
  );
  const result = runAsUnit({
    unit: renderCalculationEventsUnit(),
    scriptPath: join(dir, 'oq-calculation-events'),
    scriptText: calculationEventsPublisherText(),
    python: ENGINE_PYTHON,
    env: { OQ_ENGINE_DB: database, OQ_CONFIG_FILE: config, OQ_EVENTS_ONCE: '1' },
    timeoutMs: 60_000,
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return result.stdout;
}

function bridgeSession(user = bridgeUser, password = bridgePassword): BrokerSession {
  return new BrokerSession({ host: '127.0.0.1', port: AMQP_PORT, vhost, username: user, password });
}

const POLICY: ScalingPolicy = { ...DECIDE_TEST_POLICY, prewarmWorkers: 2, calculationHoldSeconds: 900 };

/** Stub of the celery side (see the header): `idle` idle workers, an empty queue, a desired count to match. */
function celerySide(idle: number): { observe(): Promise<Observation> } {
  return {
    observe: async () =>
      idleFleetObservation(
        Date.now(),
        0,
        Array.from({ length: idle }, (_, i) => `w${i}`),
        'stub',
      ),
  };
}

describe.skipIf(!enabled)('calculation events: engine database -> master publisher -> bridge', () => {
  const sessions: BrokerSession[] = [];
  const problems: string[] = [];
  let events: CalculationEvents;
  let ids: number[];

  beforeAll(async () => {
    await run('bash', [PROVISION], {
      env: {
        ...process.env,
        ...RABBIT_ENV,
        OQ_AMQP_USER: engineUser,
        OQ_BRIDGE_USER: bridgeUser,
        OQ_WORKER_USER: workerUser,
        OQ_WORKER_PASSWORD: randomBytes(18).toString('hex'),
        OQ_AMQP_VHOST: vhost,
        OQ_AMQP_PASSWORD: enginePassword,
        OQ_BRIDGE_PASSWORD: bridgePassword,
      },
    });
    const session = bridgeSession();
    sessions.push(session);
    events = new CalculationEvents({ session, queue: CALCULATION_EVENTS_QUEUE, retryMs: 0 });
  }, 60_000);

  afterAll(async () => {
    await events?.close();
    for (const s of sessions) await s.close();
    await managementApi('DELETE', `/api/vhosts/${encodeURIComponent(vhost)}`);
    await managementApi('DELETE', `/api/users/${engineUser}`);
    await managementApi('DELETE', `/api/users/${bridgeUser}`);
    await managementApi('DELETE', `/api/users/${workerUser}`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('before the master publishes: no signal, and the problem names the queue and the service', async () => {
    const missing = new CalculationEvents({
      session: sessions[0]!,
      queue: CALCULATION_EVENTS_QUEUE,
      onProblem: (m) => problems.push(m),
    });
    expect(await missing.latest()).toBeUndefined();
    expect(problems.join('\n')).toMatch(/oq-elastic\.calculations.*NOT_FOUND.*oq-calculation-events/s);
    await missing.close();
  });

  it('the bridge reads every status the engine records: started, running with tasks held, between phases, ended', async () => {
    ids = engineWrites(
      '=executing:Reading the source model',
      '=executing:preclassical  50% [10 submitted, 0 queued]|classical  20% [8 submitted, 40 queued]',
      "=executing:classical  90% [48 submitted, 0 queued]|Received {'tot': '1 MB'} in 12 seconds",
      '=complete:',
    );
    const journal = publishOnce();
    expect(journal).toContain(`calculation ${ids[1]} running classical held=40`);
    const before = Date.now();
    let seen = await events.latest();
    for (let i = 0; i < 50 && seen === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      seen = await events.latest();
    }
    expect(seen?.calculations.map((c) => [c.id, c.status, c.tasksHeldByMaster])).toEqual([
      [ids[0], 'started', undefined],
      [ids[1], 'running', 40],
      [ids[2], 'between-phases', undefined],
      [ids[3], 'ended', undefined],
    ]);
    expect(Math.abs((seen?.observedAt ?? 0) - before)).toBeLessThan(30_000);
  }, 60_000);

  it('the bridge user can read the snapshots but neither publish to their queue nor declare it', async () => {
    const connection = await connect({
      protocol: 'amqp',
      hostname: '127.0.0.1',
      port: AMQP_PORT,
      vhost,
      username: bridgeUser,
      password: bridgePassword,
    });
    try {
      const publishing = await connection.createConfirmChannel();
      const closed = new Promise<string>((resolve) =>
        publishing.on('error', (e: Error) => resolve(e.message)),
      );
      publishing.publish(
        '',
        CALCULATION_EVENTS_QUEUE,
        Buffer.from('{"version":1,"publishedAt":0,"calculations":[]}'),
      );
      expect(await closed).toMatch(/ACCESS_REFUSED.*amq\.default/);
      const declaring = await connection.createChannel();
      declaring.on('error', () => undefined);
      await expect(declaring.assertQueue(CALCULATION_EVENTS_QUEUE, { durable: true })).rejects.toThrow(
        /ACCESS_REFUSED/,
      );
    } finally {
      await connection.close().catch(() => undefined);
    }
  });

  it('the loop pre-warms on a started calculation and retires idle workers at once when it has ended', async () => {
    // Only a fresh start: every other calculation ended.
    engineWrites(`${ids[0]}=complete:`, `${ids[1]}=complete:`, `${ids[2]}=failed:`);
    const started = engineWrites('=executing:')[0]!;
    publishOnce();
    const waitFor = async (status: string): Promise<void> => {
      for (let i = 0; i < 50; i++) {
        const s = await events.latest();
        if (s?.calculations.find((c) => c.id === started)?.status === status) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`calculation ${started} never read as ${status}`);
    };
    // One cycle of a new loop (so no idle history) over `idle` stub workers and the master's events.
    const cycleOnStub = (idle: number, policy: ScalingPolicy) =>
      new ControlLoop({
        observer: withCalculationEvents(celerySide(idle), events),
        policy,
        pollSeconds: 5,
        clusterName: 'test',
      }).runOnce();
    await waitFor('started');
    const prewarm = await cycleOnStub(0, POLICY);
    expect(prewarm.decision.reason).toBe('PrewarmForCalculation');
    expect(prewarm.decision.desired).toBe(2);

    // Two idle workers while it pre-processes: kept (within calculationHoldSeconds), not retired by the grace.
    const held = await cycleOnStub(2, { ...POLICY, idleGraceSeconds: 0 });
    expect(held.decision.reason).toBe('HoldForCalculation');
    expect(held.decision.retire).toEqual([]);

    engineWrites(`${started}=complete:`);
    publishOnce();
    await waitFor('ended');
    // The idle grace is 60 s and the workers have just turned idle: only the ended signal retires them now.
    const ended = await cycleOnStub(2, POLICY);
    expect(ended.decision.reason).toBe('CalculationsEnded');
    expect(ended.decision.retire).toHaveLength(2);
  }, 60_000);
  it('on real celery workers: the bridge launches 2 on a started calculation, holds them idle at a 0 s grace, retires both once it ends', async () => {
    // One reader of the queue at a time: the bridge below has its own consumer.
    await events.close();
    const started = engineWrites('=executing:')[0]!;
    const backend = processFleet({
      brokerUrl: `amqp://${engineUser}:${enginePassword}@127.0.0.1:${AMQP_PORT}/${encodeURIComponent(vhost)}`,
      stateDir: join(dir, 'fleet'),
      concurrency: 2,
      retireTimeoutMs: 30_000,
    });
    // The bridge as deployed, logged in as the provisioned bridge user; an idle grace of 0 so that only the
    // calculation's hold can keep an idle worker.
    const runtime = createBridgeRuntime(
      loadBridgeConfig({
        OQE_BACKEND: 'process',
        OQE_BROKER_HOST: '127.0.0.1',
        OQE_BROKER_PORT: String(AMQP_PORT),
        OQE_BROKER_VHOST: vhost,
        OQE_BROKER_USER: bridgeUser,
        OQE_BROKER_PASSWORD: bridgePassword,
        OQE_MANAGEMENT_URL: MANAGEMENT_URL,
        OQE_REMOTE_CONTROL_SERIALIZER: 'pickle', // the test app's celery 5 workers
        OQE_IDLE_GRACE_SECONDS: '0',
        OQE_PREWARM_WORKERS: '2',
        OQE_ACTIVATION_CHECK_MS: '0',
      }),
      { backend },
    );
    const loop = runtime.loop();
    const reasons: string[] = [];
    const cycle = async () => {
      const r = await loop.runOnce();
      reasons.push(r.decision.reason);
      return r;
    };
    try {
      // The first cycle subscribes; the snapshot arrives just after it.
      let first = await cycle();
      for (let i = 0; i < 10 && first.decision.reason !== 'PrewarmForCalculation'; i++) {
        publishOnce();
        await new Promise((r) => setTimeout(r, 200));
        first = await cycle();
      }
      expect(first.decision).toMatchObject({ reason: 'PrewarmForCalculation', desired: 2 });
      // Until both workers answer, then a few cycles more: idle, held, none retired.
      let answered = 0;
      for (let i = 0; i < 60 && answered < 2; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        publishOnce();
        answered = (await cycle()).observation.workers?.length ?? 0;
      }
      expect(answered).toBe(2);
      for (let i = 0; i < 3; i++) {
        const held = await cycle();
        expect(held.decision.reason).toBe('HoldForCalculation');
        expect(held.decision.retire).toEqual([]);
      }
      engineWrites(`${started}=complete:`);
      publishOnce();
      await new Promise((r) => setTimeout(r, 500));
      // With a grace of 0 the retirement is plain DrainingIdle (the test above shows CalculationsEnded beating a
      // grace); here the point is the real drain of both workers once the hold is gone.
      const ended = await cycle();
      expect(ended.decision.reason).toBe('DrainingIdle');
      expect(ended.decision.retire).toHaveLength(2);
      for (let i = 0; i < 30 && (await backend.describe()).units.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect((await backend.describe()).units).toEqual([]);
    } finally {
      await runtime.close();
      await backend.shutdownAll(30_000);
    }
  }, 150_000);
});
