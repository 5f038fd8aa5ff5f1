/**
 * The bridge's broker clients on one endpoint (most often a test vhost's administrator, `TestVhost.endpoint`):
 * what the integration tests open to observe the celery workers they started there.
 */
import { BrokerSession, type BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import {
  CeleryRemoteControl,
  type RemoteControlOptions,
} from '../../bridge/src/observe/celery-remote-control.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';

/** One session, with the remote control and the `celery` queue probe that share it. */
export interface BrokerClients {
  readonly session: BrokerSession;
  readonly control: CeleryRemoteControl;
  readonly probe: QueueProbe;
  /** Closes the probe, the remote control and then the session. */
  close(): Promise<void>;
}

/**
 * Opens the bridge's observation clients on `endpoint`. `mailbox` is what the workers under test speak
 * (celery 4.4: JSON, celery 5.5: pickle) and how long a broadcast waits for replies.
 */
export function openBrokerClients(endpoint: BrokerEndpoint, mailbox: RemoteControlOptions): BrokerClients {
  const session = new BrokerSession(endpoint);
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
