/**
 * The bridge's own observer (CeleryObserver over QueueProbe, ManagementApi and CeleryRemoteControl) as the
 * benchmark builds it: the same parts the bridge's CLI wires, with its default time limits. The queue probe
 * comes with it, for a loop whose activation path shares it, as the bridge's does.
 */
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import type { BrokerSession } from '../../bridge/src/observe/broker-session.ts';
import type { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { ManagementApi } from '../../bridge/src/observe/management-api.ts';
import { CeleryObserver } from '../../bridge/src/observe/observer.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';

export interface BridgeObserverParts {
  readonly session: BrokerSession;
  readonly control: CeleryRemoteControl;
  readonly compute: ComputeBackend;
  readonly queue: string;
  /** Management API base URL, no credentials in it. */
  readonly managementUrl: string;
  /** How long the remote-control broadcasts collect replies; the observer's default (1500 ms) when absent. */
  readonly workersMs?: number;
}

export interface BridgeObserver {
  readonly observer: CeleryObserver;
  /** The observer's queue probe (passive declare, management API), for the loop's activation path. */
  readonly queueProbe: QueueProbe;
}

export function bridgeObserver(parts: BridgeObserverParts): BridgeObserver {
  const { endpoint } = parts.session;
  const management = new ManagementApi({
    url: parts.managementUrl,
    username: endpoint.username,
    password: endpoint.password,
  });
  const queueProbe = new QueueProbe(parts.session, parts.queue, management);
  const observer = new CeleryObserver({
    queueProbe,
    remoteControl: parts.control,
    compute: parts.compute,
    queue: parts.queue,
    ...(parts.workersMs !== undefined ? { timeouts: { workersMs: parts.workersMs } } : {}),
  });
  return { observer, queueProbe };
}
