/**
 * Where the local runtime, the benchmarks and the tests find the local services that scripts/services.sh
 * starts (RabbitMQ and the moto server on loopback), and helpers that give each user an isolated vhost of
 * them. Ports follow the same variables as scripts/services.sh.
 */
import type { BrokerEndpoint } from '../bridge/src/observe/broker-session.ts';
import { managementClient, type ManagementCall } from './rabbit-management.ts';
import type { LocalBroker } from './run-vhost.ts';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';

const env = process.env;
const amqpPort = Number(env.OQE_AMQP_PORT ?? 5672);
const mgmtPort = Number(env.OQE_MGMT_PORT ?? 15672);
const motoPort = Number(env.OQE_MOTO_PORT ?? 5055);

/** Loopback ports each service must answer on. */
export const SERVICE_PORTS = { rabbitmq: [amqpPort, mgmtPort], moto: [motoPort] } as const;

/** The test-only RabbitMQ administrator that scripts/services.sh creates (loopback only). */
export const RABBIT_ADMIN = {
  user: 'oqe-test-admin',
  password: env.OQE_TEST_ADMIN_PASSWORD ?? 'oqe-test-admin-loopback',
};

/** The loopback RabbitMQ as a local run sees it: the administrator gives each run a vhost of its own. */
export const LOCAL_BROKER: LocalBroker = {
  host: '127.0.0.1',
  amqpPort,
  managementPort: mgmtPort,
  adminUser: RABBIT_ADMIN.user,
  adminPassword: RABBIT_ADMIN.password,
};

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

/** AMQP URL of the administrator on the given vhost (default `/`). */
export function adminAmqpUrl(vhost = '/'): string {
  return `amqp://${RABBIT_ADMIN.user}:${RABBIT_ADMIN.password}@127.0.0.1:${amqpPort}/${encodeURIComponent(vhost)}`;
}

/** Base URL of the RabbitMQ management API, without credentials. */
export const MANAGEMENT_URL = `http://127.0.0.1:${mgmtPort}`;

/** The moto server, for AWS_ENDPOINT_URL. */
export const AWS_ENDPOINT_URL = `http://127.0.0.1:${motoPort}`;

/** The virtual environment's Python, with celery, moto and cfn-lint. */
export const PYTHON = env.OQE_TEST_PYTHON ?? `${REPO_ROOT}.venv/bin/python`;

export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Calls the management API as the test administrator. */
export const managementApi: ManagementCall = managementClient(
  MANAGEMENT_URL,
  RABBIT_ADMIN.user,
  RABBIT_ADMIN.password,
);

/** A vhost of its own for one test file or run, so they never see each other's queues and workers. */
export interface TestVhost {
  readonly vhost: string;
  /** AMQP URL of the administrator on this vhost. */
  readonly amqpUrl: string;
  /** The administrator on this vhost, as the bridge's BrokerSession takes it. */
  readonly endpoint: BrokerEndpoint;
  /** Deletes the vhost and everything in it. */
  cleanup(): Promise<void>;
}

export async function createTestVhost(prefix = 'oqe-test'): Promise<TestVhost> {
  const vhost = `${prefix}-${randomBytes(4).toString('hex')}`;
  const path = `/api/vhosts/${encodeURIComponent(vhost)}`;
  await managementApi('PUT', path, {});
  await managementApi('PUT', `/api/permissions/${encodeURIComponent(vhost)}/${RABBIT_ADMIN.user}`, {
    configure: '.*',
    write: '.*',
    read: '.*',
  });
  return {
    vhost,
    amqpUrl: adminAmqpUrl(vhost),
    endpoint: {
      host: '127.0.0.1',
      port: amqpPort,
      vhost,
      username: RABBIT_ADMIN.user,
      password: RABBIT_ADMIN.password,
    },
    cleanup: async () => {
      await managementApi('DELETE', path);
    },
  };
}
