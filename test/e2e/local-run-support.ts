import type { LocalBroker, LocalRunOptions } from '../../local/cluster/local-cluster-run.ts';
import { RABBIT_ADMIN, SERVICE_PORTS } from '../support/services.ts';

/** The shared test RabbitMQ, as the local runs see it (each run makes a vhost of its own on it). */
export const SHARED_BROKER: LocalBroker = {
  host: '127.0.0.1',
  amqpPort: SERVICE_PORTS.rabbitmq[0],
  managementPort: SERVICE_PORTS.rabbitmq[1],
  adminUser: RABBIT_ADMIN.user,
  adminPassword: RABBIT_ADMIN.password,
};

/** A small burst that the end-to-end tests share: 0 to 3 workers of 2 processes, a few seconds of idle grace. */
export function smallRun(overrides: Partial<LocalRunOptions> = {}): LocalRunOptions {
  return {
    backend: 'process',
    broker: SHARED_BROKER,
    tasks: 36,
    meanTaskSeconds: 1,
    minWorkers: 0,
    maxWorkers: 3,
    slotsPerWorker: 2,
    idleGraceSeconds: 3,
    pollSeconds: 1,
    view: 'none',
    timeoutSeconds: 150,
    ...overrides,
  };
}
