/**
 * The bridge's broker clients logged in as the test administrator on a test vhost of the shared RabbitMQ: what
 * most integration tests open to observe the celery workers they started there.
 */
import { BrokerSession, type BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import {
  CeleryRemoteControl,
  type RemoteControlOptions,
} from '../../bridge/src/observe/celery-remote-control.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import { RABBIT_ADMIN } from './services.ts';

/** The test administrator's endpoint on `vhost` of the shared RabbitMQ (loopback, the default AMQP port). */
export function adminEndpoint(vhost: string): BrokerEndpoint {
  return { host: '127.0.0.1', vhost, username: RABBIT_ADMIN.user, password: RABBIT_ADMIN.password };
}

/** One session on a vhost, with the remote control and the `celery` queue probe that share it. */
export interface AdminBrokerClients {
  readonly session: BrokerSession;
  readonly control: CeleryRemoteControl;
  readonly probe: QueueProbe;
  /** Closes the probe, the remote control and then the session. */
  close(): Promise<void>;
}

/**
 * Opens the bridge's observation clients on `vhost` as the test administrator. `mailbox` is what the workers
 * under test speak (celery 4.4: JSON, celery 5.5: pickle) and how long a broadcast waits for replies.
 */
export function openAdminClients(vhost: string, mailbox: RemoteControlOptions): AdminBrokerClients {
  const session = new BrokerSession(adminEndpoint(vhost));
  const control = new CeleryRemoteControl(session, mailbox);
  const probe = new QueueProbe(session, 'celery');
  return {
    session,
    control,
    probe,
    close: async () => {
      await probe.close();
      await control.close();
      await session.close();
    },
  };
}
