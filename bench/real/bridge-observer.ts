/**
 * The bridge's own observer (CeleryObserver over QueueProbe, ManagementApi and CeleryRemoteControl) as the
 * benchmark builds it: the same parts the bridge's CLI wires, with its default time limits.
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
  /** The queue probe to share with the loop's activation path; one is made when absent. */
  readonly queueProbe?: QueueProbe;
}

/** The bridge's queue probe (passive declare, management API) over the benchmark's session. */
export function bridgeQueueProbe(
  parts: Pick<BridgeObserverParts, 'session' | 'queue' | 'managementUrl'>,
): QueueProbe {
  const { endpoint } = parts.session;
  const management = new ManagementApi({
    url: parts.managementUrl,
    username: endpoint.username,
    password: endpoint.password,
  });
  return new QueueProbe(parts.session, parts.queue, management);
}

export function bridgeObserver(parts: BridgeObserverParts): CeleryObserver {
  return new CeleryObserver({
    queueProbe: parts.queueProbe ?? bridgeQueueProbe(parts),
    remoteControl: parts.control,
    compute: parts.compute,
    queue: parts.queue,
    ...(parts.workersMs !== undefined ? { timeouts: { workersMs: parts.workersMs } } : {}),
  });
}
