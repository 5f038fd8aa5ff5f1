/**
 * The master's RabbitMQ provisioning script (cdk/assets/master/provision-rabbitmq.sh), run for real against the
 * local test broker on a vhost and users of one test file's own (random suffix), with its cleanup.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { managementApi, REPO_ROOT } from './services.ts';

const run = promisify(execFile);
const SCRIPT = `${REPO_ROOT}cdk/assets/master/provision-rabbitmq.sh`;
const AMQP_PORT = Number(process.env.OQE_AMQP_PORT ?? 5672);
/**
 * rabbitmqctl of the local test node, with the state directory and node name of scripts/services.sh (the wrapper
 * in /usr/sbin would switch HOME and miss the node's Erlang cookie).
 */
const RABBIT_ENV = {
  HOME: `${process.env.OQE_SERVICES_DIR ?? `${REPO_ROOT}.services`}/rabbitmq`,
  RABBITMQ_NODENAME: process.env.OQE_RABBIT_NODENAME ?? 'oqe-test@localhost',
};
const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';

/** One broker user the script provisions. */
export interface ProvisionedUser {
  readonly name: string;
  readonly password: string;
  /** AMQP URL of this user on the provisioned vhost. */
  readonly amqpUrl: string;
}

/** What one run of the script set up. */
export interface ProvisionedBroker {
  readonly vhost: string;
  readonly engine: ProvisionedUser;
  readonly worker: ProvisionedUser;
  readonly bridge: ProvisionedUser;
  /** What the first run printed. */
  readonly firstOutput: string;
  /** Runs the script (again) with these variables changed; resolves to its stdout and stderr. */
  provision(overrides?: Record<string, string>): Promise<string>;
  /** Deletes the vhost and the three users. */
  cleanup(): Promise<void>;
}

/** rabbitmqctl against the local test node. */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run(RABBITMQCTL, ['-q', ...args], { env: { ...process.env, ...RABBIT_ENV } });
  return stdout.trim();
}

function user(name: string, vhost: string): ProvisionedUser {
  const password = randomBytes(18).toString('hex');
  return {
    name,
    password,
    amqpUrl: `amqp://${name}:${password}@127.0.0.1:${AMQP_PORT}/${encodeURIComponent(vhost)}`,
  };
}

/** Names a vhost and three users after `prefix`, runs the script once and returns them. */
export async function provisionBroker(
  prefix: string,
  extra: Record<string, string> = {},
): Promise<ProvisionedBroker> {
  const suffix = randomBytes(4).toString('hex');
  const vhost = `openquake-${prefix}-${suffix}`;
  const engine = user(`openquake-${prefix}-${suffix}`, vhost);
  const worker = user(`oq-worker-${prefix}-${suffix}`, vhost);
  const bridge = user(`oq-bridge-${prefix}-${suffix}`, vhost);
  const provision = async (overrides: Record<string, string> = {}): Promise<string> => {
    const { stdout, stderr } = await run('bash', [SCRIPT], {
      env: {
        ...process.env,
        ...RABBIT_ENV,
        RABBITMQCTL,
        OQ_AMQP_USER: engine.name,
        OQ_WORKER_USER: worker.name,
        OQ_BRIDGE_USER: bridge.name,
        OQ_AMQP_VHOST: vhost,
        OQ_AMQP_PASSWORD: engine.password,
        OQ_WORKER_PASSWORD: worker.password,
        OQ_BRIDGE_PASSWORD: bridge.password,
        ...extra,
        ...overrides,
      },
    });
    return stdout + stderr;
  };
  const firstOutput = await provision();
  return {
    firstOutput,
    vhost,
    engine,
    worker,
    bridge,
    provision,
    cleanup: async () => {
      await managementApi('DELETE', `/api/vhosts/${encodeURIComponent(vhost)}`);
      for (const u of [engine, worker, bridge]) await managementApi('DELETE', `/api/users/${u.name}`);
    },
  };
}
