/**
 * The master's rendered rabbitmq.conf booted by a real RabbitMQ node (a second, throwaway node on loopback,
 * beside the shared test broker): RabbitMQ refuses to start on an unknown or mistyped key, so this proves every
 * key exists in the schema (3.10 here; the master runs Ubuntu 24.04's 3.12) and that consumer_timeout and the
 * disk limit take effect. A conf.d file after the master's moves the listeners to free loopback ports only.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { RABBITMQ_ENABLED_PLUGINS, renderRabbitmqConf } from '../../cdk/lib/master/rabbitmq-conf.ts';
import { describeWithRabbit } from '../support/services.ts';

const run = promisify(execFile);
const BIN = '/usr/lib/rabbitmq/bin';
/** State directory of scripts/services.sh. */

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface Node {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly server: ChildProcess;
  readonly exited: Promise<number | null>;
  readonly managementPort: number;
  /** Everything the server printed so far. */
  readonly output: () => string;
}

const nodes: Node[] = [];

/** Starts a throwaway node whose conf.d holds `conf` then the loopback-port override. */
async function startNode(conf: string): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), 'oqe-master-conf-'));
  mkdirSync(join(dir, 'conf.d'));
  mkdirSync(join(dir, 'home'));
  // The CLI authenticates to a node with the Erlang cookie in $HOME: a fresh one, so this node depends on
  // nothing of the shared test broker's (Erlang accepts only an owner-readable cookie file).
  writeFileSync(join(dir, 'home/.erlang.cookie'), randomBytes(20).toString('hex').toUpperCase(), {
    mode: 0o400,
  });
  const [amqp, management, dist] = [await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'conf.d/10-master.conf'), conf);
  writeFileSync(
    join(dir, 'conf.d/20-test-ports.conf'),
    `listeners.tcp.default = 127.0.0.1:${amqp}\nmanagement.tcp.port = ${management}\nmanagement.tcp.ip = 127.0.0.1\n`,
  );
  writeFileSync(join(dir, 'enabled_plugins'), RABBITMQ_ENABLED_PLUGINS);
  const env = {
    ...process.env,
    HOME: join(dir, 'home'),
    RABBITMQ_NODENAME: `oqe-master-conf-${randomBytes(3).toString('hex')}@localhost`,
    RABBITMQ_CONFIG_FILES: join(dir, 'conf.d'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: join(dir, 'pid'),
    // A node that refuses its configuration writes a crash dump: into its own directory, not the work tree.
    ERL_CRASH_DUMP: join(dir, 'erl_crash.dump'),
    RABBITMQ_DIST_PORT: String(dist),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  const server = spawn(`${BIN}/rabbitmq-server`, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  server.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => server.once('exit', (code) => resolve(code)));
  const node: Node = { dir, env, server, exited, managementPort: management, output: () => output };
  nodes.push(node);
  return node;
}

async function rabbitmqctl(node: Node, ...args: string[]): Promise<string> {
  const { stdout } = await run(`${BIN}/rabbitmqctl`, ['-q', ...args], { env: node.env });
  return stdout.trim();
}

describeWithRabbit('master: rabbitmq.conf booted by a real RabbitMQ node', () => {
  afterAll(async () => {
    for (const node of nodes) {
      if (node.server.exitCode === null) {
        await rabbitmqctl(node, 'stop', join(node.dir, 'pid')).catch(() => undefined);
        const pid = Number(readFileSync(join(node.dir, 'pid'), { encoding: 'utf8', flag: 'a+' }).trim());
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        if (node.server.exitCode === null) node.server.kill('SIGKILL');
      }
      rmSync(node.dir, { recursive: true, force: true });
    }
  });

  it('starts with the rendered file and applies consumer_timeout, the statistics interval and the disk limit', async () => {
    const node = await startNode(renderRabbitmqConf());
    await rabbitmqctl(node, 'wait', join(node.dir, 'pid'), '--timeout', '120');
    const env = await rabbitmqctl(
      node,
      'eval',
      '{application:get_env(rabbit, consumer_timeout), application:get_env(rabbit, disk_free_limit), ' +
        'application:get_env(rabbit, loopback_users), application:get_env(rabbit, collect_statistics_interval)}.',
    );
    expect(env).toBe('{{ok,86400000},{ok,"1GB"},{ok,[<<"guest">>]},{ok,1000}}');
    expect(node.output()).not.toContain('BOOT FAILED');
    // The management plugin from the rendered enabled_plugins answers on its (test) port.
    const overview = await fetch(`http://127.0.0.1:${node.managementPort}/api/overview`);
    expect(overview.status).toBe(401); // listening, and asking for credentials
    await rabbitmqctl(node, 'stop', join(node.dir, 'pid'));
    expect(await node.exited).toBe(0);
  }, 180_000);

  it('can fail: the same node refuses a mistyped key', async () => {
    const node = await startNode(renderRabbitmqConf().replace('consumer_timeout', 'consumer_timout'));
    const code = await Promise.race([
      node.exited,
      new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 60_000)),
    ]);
    // The node halts (with status 0, so the log is the evidence) before it ever listens.
    expect(code).not.toBe('still running');
    expect(node.output()).toMatch(/unknown variable: consumer_timout/);
    expect(node.output()).toContain('BOOT FAILED');
  }, 90_000);
});
