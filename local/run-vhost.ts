/** A vhost of a local run's own on the loopback RabbitMQ: the demo's synthetic run and the engine run share it. */
import { randomBytes } from 'node:crypto';
import { managementClient } from './rabbit-management.ts';

/** The local RabbitMQ and an administrator that may create a vhost for the run. */
export interface LocalBroker {
  readonly host: string;
  readonly amqpPort: number;
  readonly managementPort: number;
  readonly adminUser: string;
  readonly adminPassword: string;
}

/** A vhost of the run's own on the local RabbitMQ, with the administrator's rights on it. */
export interface RunVhost {
  readonly name: string;
  readonly managementUrl: string;
  /** The administrator's AMQP URL of the vhost (holds the password: never logged). */
  readonly amqpUrl: string;
  remove(): Promise<unknown>;
}

export async function createRunVhost(broker: LocalBroker, prefix: string): Promise<RunVhost> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const managementUrl = `http://${broker.host}:${broker.managementPort}`;
  const mgmt = managementClient(managementUrl, broker.adminUser, broker.adminPassword);
  await mgmt('PUT', `/api/vhosts/${encodeURIComponent(name)}`, {});
  await mgmt('PUT', `/api/permissions/${encodeURIComponent(name)}/${encodeURIComponent(broker.adminUser)}`, {
    configure: '.*',
    write: '.*',
    read: '.*',
  });
  const amqpUrl = `amqp://${encodeURIComponent(broker.adminUser)}:${encodeURIComponent(broker.adminPassword)}@${broker.host}:${broker.amqpPort}/${encodeURIComponent(name)}`;
  return {
    name,
    managementUrl,
    amqpUrl,
    remove: () => mgmt('DELETE', `/api/vhosts/${encodeURIComponent(name)}`),
  };
}
