import { appendFileSync } from 'node:fs';
import { RemoteControlWorkerControl } from '../../bridge/src/act/remote-control-worker-control.ts';
import { ScaleActor } from '../../bridge/src/act/scale-actor.ts';
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { ControlLoop } from '../../bridge/src/loop/control-loop.ts';
import { BrokerSession, type BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import { CeleryRemoteControl } from '../../bridge/src/observe/celery-remote-control.ts';
import { ManagementApi } from '../../bridge/src/observe/management-api.ts';
import { CeleryObserver } from '../../bridge/src/observe/observer.ts';
import { QueueProbe } from '../../bridge/src/observe/queue-probe.ts';
import { createJsonLogger } from '../../bridge/src/report/json-logger.ts';
import type { DecisionLine } from './live-view.ts';

/** What the demo needs to start the bridge on a local backend. */
export interface LocalBridgeOptions {
  readonly backend: ComputeBackend;
  readonly broker: BrokerEndpoint;
  /** Management API base URL, without credentials. */
  readonly managementUrl: string;
  readonly policy: ScalingPolicy;
  readonly pollSeconds: number;
  /** The bridge's JSON log lines go here. */
  readonly logPath: string;
  /** Called with each cycle's decision, for the live view. */
  readonly onDecision?: (decision: DecisionLine) => void;
}

/** A running bridge; `stop` ends its loop after the current cycle and closes its connections. */
export interface LocalBridge {
  stop(): Promise<void>;
}

/**
 * Starts the real bridge, as `oq-elastic-bridge run` composes it, on a local backend: the queue probe (passive
 * declare + management API), celery remote control, the observer, the drain-protocol actor and the control loop.
 * The test app runs celery 5.5, whose mailbox speaks the app's serializer (pickle), not celery 4.4's JSON.
 */
export async function startLocalBridge(options: LocalBridgeOptions): Promise<LocalBridge> {
  const session = new BrokerSession(options.broker);
  const management = new ManagementApi({
    url: options.managementUrl,
    username: options.broker.username,
    password: options.broker.password,
  });
  const queueProbe = new QueueProbe(session, 'celery', management, options.broker.vhost);
  const remoteControl = new CeleryRemoteControl(session, { serializer: 'pickle', timeoutMs: 1000 });
  const observer = new CeleryObserver({
    queueProbe,
    remoteControl,
    compute: options.backend,
    queue: 'celery',
  });
  const writeLog = createJsonLogger((line) => appendFileSync(options.logPath, `${line}\n`));
  const log = (event: string, fields: Record<string, unknown> = {}): void => {
    writeLog(event, { backend: options.backend.name, ...fields });
    if (event === 'decision' && options.onDecision) {
      options.onDecision({
        t: Date.now(),
        reason: String(fields.reason),
        desired: Number(fields.desired),
        current: typeof fields.current === 'number' ? fields.current : undefined,
        demand: Number(fields.demand),
        detail: String(fields.detail ?? ''),
        action: typeof fields.action === 'string' ? fields.action : undefined,
      });
    }
  };
  const actor = new ScaleActor({
    backend: options.backend,
    control: new RemoteControlWorkerControl(remoteControl),
    queue: 'celery',
    log,
  });
  const loop = new ControlLoop({
    observer,
    actor,
    policy: options.policy,
    pollSeconds: options.pollSeconds,
    clusterName: 'local',
    log,
  });
  const abort = new AbortController();
  const running = loop.run(abort.signal);
  return {
    stop: async () => {
      abort.abort();
      await running;
      await remoteControl.close().catch(() => undefined);
      await session.close().catch(() => undefined);
    },
  };
}
