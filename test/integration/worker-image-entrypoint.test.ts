/**
 * The worker entrypoint's validation, one case a variable, run as a real process (the project's Python, which
 * the entrypoint supports like the image's) in `check` mode: validate, render, print, exit.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PYTHON, REPO_ROOT } from '../support/services.ts';
import { describeWithPython } from '../support/python.ts';

const ENTRYPOINT = `${REPO_ROOT}worker-image/entrypoint/oq_worker_entrypoint.py`;
const PASSWORD = 'Pw0rdN0tShown7x';
const AUTHKEY = 'AuthK3yN0tShown9';

const dir = mkdtempSync(join(tmpdir(), 'oqe-entrypoint-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function baseEnv(): Record<string, string> {
  return {
    OQ_MASTER_HOST: '10.0.1.23',
    OQ_AMQP_PORT: '5672',
    OQ_AMQP_USER: 'openquake',
    OQ_AMQP_PASSWORD: PASSWORD,
    OQ_AMQP_VHOST: 'openquake',
    OQ_CELERY_QUEUE: 'celery',
    OQ_DBSERVER_PORT: '1908',
    OQ_DBSERVER_AUTHKEY: AUTHKEY,
    OQ_RECEIVER_PORTS: '1912-1920',
    OQ_SHARED_DIR: dir,
    OQ_CONFIG_FILE: join(dir, 'cfg', 'openquake.cfg'),
    OQ_WORKER_APP: 'engine',
  };
}

function check(env: Record<string, string | undefined>, args: string[] = ['check']) {
  const clean: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  const run = spawnSync(PYTHON, [ENTRYPOINT, ...args], { env: clean, encoding: 'utf8', timeout: 20_000 });
  return { code: run.status, out: `${run.stdout}${run.stderr}` };
}

describeWithPython('worker entrypoint: configuration', () => {
  it('accepts the complete environment, names the worker after the hostname, and prints no secret', () => {
    const run = check({ ...baseEnv(), OQ_WORKER_CONCURRENCY: '3', OQ_MAX_MEMORY_PER_CHILD_KB: '2000000' });
    expect(run.code, run.out).toBe(0);
    expect(run.out).toMatch(
      /hostname oq@[A-Za-z0-9][\w.-]*, concurrency 3, max memory per child 2000000 KiB/,
    );
    expect(run.out).toContain('command: celery worker --config openquake.engine.celeryconfig -n oq@');
    expect(run.out).toContain('-Q celery -Ofair -c 3 --prefetch-multiplier=1 --max-memory-per-child=2000000');
    expect(run.out).toContain('amqp://openquake:***@10.0.1.23:5672/openquake');
    expect(run.out).not.toContain('--purge');
    // The celery 4.x shim goes first on the worker's PYTHONPATH (and only the worker's), then the engine patches.
    expect(run.out).toContain(
      `worker PYTHONPATH ${REPO_ROOT}worker-image/celery4-shim:${REPO_ROOT}worker-image/engine-patches\n`,
    );
    expect(run.out).not.toContain(PASSWORD);
    expect(run.out).not.toContain(AUTHKEY);
    const cfg = readFileSync(join(dir, 'cfg', 'openquake.cfg'), 'utf8');
    expect(cfg).toContain('oq_distribute = celery');
    expect(cfg).toContain(`password = ${PASSWORD}`);
  });

  it('names the worker after OQ_WORKER_ID off ECS (several local workers on one host), and rejects a bad one', () => {
    const named = check({ ...baseEnv(), OQ_WORKER_ID: 'p1a2b3c4' });
    expect(named.code, named.out).toBe(0);
    expect(named.out).toContain('hostname oq@p1a2b3c4,');
    expect(named.out).toContain(' -n oq@p1a2b3c4 ');
    const bad = check({ ...baseEnv(), OQ_WORKER_ID: 'a b' });
    expect(bad.code).toBe(78);
    expect(bad.out).toContain("OQ_WORKER_ID='a b' cannot name a celery worker");
  });

  it('uses the test app when the image was built with it, its broker URL only in the environment', () => {
    const run = check({ ...baseEnv(), OQ_WORKER_APP: 'testapp' });
    expect(run.code, run.out).toBe(0);
    expect(run.out).toContain('command: celery -A oq_testapp worker -n oq@');
    expect(run.out).not.toContain(PASSWORD);
  });

  it('passes no secret to the celery worker: the password and authkey stay in the 0600 files only', () => {
    for (const app of ['engine', 'testapp']) {
      const env = { ...baseEnv(), OQ_WORKER_APP: app, PATH: process.env.PATH ?? '/usr/bin:/bin' };
      const run = spawnSync(
        PYTHON,
        [
          '-c',
          'import json, os, sys; sys.path.insert(0, sys.argv[1]); import oq_worker_entrypoint as e\n' +
            'argv, child_env, *_ = e.prepare(dict(os.environ)); print(json.dumps(child_env))',
          `${REPO_ROOT}worker-image/entrypoint`,
        ],
        { env, encoding: 'utf8', timeout: 20_000 },
      );
      expect(run.status, run.stderr).toBe(0);
      const childEnv = JSON.parse(run.stdout) as Record<string, string>;
      expect(Object.keys(childEnv)).not.toContain('OQ_AMQP_PASSWORD');
      expect(Object.keys(childEnv)).not.toContain('OQ_DBSERVER_AUTHKEY');
      expect(JSON.stringify(childEnv), app).not.toContain(PASSWORD);
      expect(JSON.stringify(childEnv), app).not.toContain(AUTHKEY);
      if (app === 'testapp') {
        expect(readFileSync(childEnv.OQ_TESTAPP_BROKER_FILE!, 'utf8')).toContain(PASSWORD);
      }
    }
  });

  const required = [
    'OQ_MASTER_HOST',
    'OQ_AMQP_PORT',
    'OQ_AMQP_USER',
    'OQ_AMQP_PASSWORD',
    'OQ_AMQP_VHOST',
    'OQ_CELERY_QUEUE',
    'OQ_DBSERVER_PORT',
    'OQ_DBSERVER_AUTHKEY',
    'OQ_RECEIVER_PORTS',
    'OQ_SHARED_DIR',
  ];
  it.each(required)('refuses to start without %s, naming it', (name) => {
    const run = check({ ...baseEnv(), [name]: undefined });
    expect(run.code).toBe(78);
    expect(run.out).toContain(`${name} is missing: `);
    expect(run.out.match(/ is missing/g)).toHaveLength(1);
    expect(run.out).not.toContain(PASSWORD);
    expect(run.out).not.toContain(AUTHKEY);
  });

  const malformed: [string, string, string][] = [
    ['OQ_MASTER_HOST', 'master host!', "OQ_MASTER_HOST='master host!' is not a host name"],
    ['OQ_AMQP_PORT', 'amqp', "OQ_AMQP_PORT='amqp' is not a TCP port"],
    ['OQ_AMQP_PORT', '0', "OQ_AMQP_PORT='0' is not a TCP port"],
    ['OQ_AMQP_PORT', '70000', "OQ_AMQP_PORT='70000' is not a TCP port"],
    ['OQ_DBSERVER_PORT', '19o8', "OQ_DBSERVER_PORT='19o8' is not a TCP port"],
    ['OQ_AMQP_USER', 'open@quake', "OQ_AMQP_USER='open@quake' contains a character"],
    [
      'OQ_CELERY_QUEUE',
      'oq-tasks',
      "OQ_CELERY_QUEUE='oq-tasks': the engine submits every task to the queue 'celery'",
    ],
    ['OQ_RECEIVER_PORTS', '1912', "OQ_RECEIVER_PORTS='1912' is malformed"],
    ['OQ_RECEIVER_PORTS', '1920-1912', "OQ_RECEIVER_PORTS='1920-1912' is malformed"],
    ['OQ_SHARED_DIR', 'shared', "OQ_SHARED_DIR='shared' is not an absolute path"],
    ['OQ_SHARED_DIR', '/nonexistent/oq-shared', "OQ_SHARED_DIR='/nonexistent/oq-shared' does not exist"],
    ['OQ_WORKER_CONCURRENCY', '0', "OQ_WORKER_CONCURRENCY='0' is malformed"],
    ['OQ_WORKER_CONCURRENCY', 'two', "OQ_WORKER_CONCURRENCY='two' is malformed"],
    ['OQ_MAX_MEMORY_PER_CHILD_KB', '-5', "OQ_MAX_MEMORY_PER_CHILD_KB='-5' is malformed"],
    ['OQ_WORKER_APP', 'dask', "OQ_WORKER_APP='dask' is unknown"],
    ['ECS_CONTAINER_METADATA_URI_V4', 'http://127.0.0.1:9/v4/x', 'ECS_CONTAINER_METADATA_URI_V4 is set but'],
  ];
  it.each(malformed)('refuses %s=%j with a message naming it', (name, value, message) => {
    const run = check({ ...baseEnv(), [name]: value });
    expect(run.code).toBe(78);
    expect(run.out).toContain(message);
    expect(run.out).not.toContain(PASSWORD);
  });

  it.each(['OQ_AMQP_PASSWORD', 'OQ_DBSERVER_AUTHKEY'])(
    'refuses a %s the engine cannot carry without printing it',
    (name) => {
      const secret = 'abc/def@ghi%jk';
      const run = check({ ...baseEnv(), [name]: secret });
      expect(run.code).toBe(78);
      expect(run.out).toContain(`${name} contains 3 character(s)`);
      expect(run.out).toContain('value not shown');
      expect(run.out).not.toContain('abc');
    },
  );

  it('lists every problem at once', () => {
    const run = check({
      ...baseEnv(),
      OQ_MASTER_HOST: undefined,
      OQ_AMQP_PORT: 'x',
      OQ_RECEIVER_PORTS: 'all',
    });
    expect(run.code).toBe(78);
    expect(run.out).toContain('OQ_MASTER_HOST is missing');
    expect(run.out).toContain("OQ_AMQP_PORT='x'");
    expect(run.out).toContain("OQ_RECEIVER_PORTS='all'");
  });

  it('rejects any command but worker or check, so that no option (such as --purge) can be added', () => {
    for (const args of [['--purge'], ['worker', '--purge'], ['celery']]) {
      const run = check(baseEnv(), args);
      expect(run.code).toBe(64);
      expect(run.out).toContain('never --purge');
    }
  });
});
