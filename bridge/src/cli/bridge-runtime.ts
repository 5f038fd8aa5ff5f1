/**
 * Wires one bridge from its configuration: the broker session, the observer (queue probe, remote control,
 * compute backend, shared-dir probe), the actor and the control loop. Used by the CLI and the local demo.
 */
import { RemoteControlWorkerControl } from '../act/remote-control-worker-control.ts';
import { ScaleActor } from '../act/scale-actor.ts';
import type { ComputeBackend } from '../compute/compute-backend.ts';
import { createBackend } from '../compute/create-backend.ts';
import type { BridgeConfig } from '../config/bridge-config.ts';
import { ControlLoop } from '../loop/control-loop.ts';
import { BrokerSession } from '../observe/broker-session.ts';
import { CalculationEvents, withCalculationEvents } from '../observe/calculation-events.ts';
import { CeleryRemoteControl } from '../observe/celery-remote-control.ts';
import { ManagementApi } from '../observe/management-api.ts';
import { CeleryObserver } from '../observe/observer.ts';
import { QueueProbe } from '../observe/queue-probe.ts';
import { SharedDirProbe } from '../observe/shared-dir-probe.ts';
import type { LogFn } from '../report/json-logger.ts';

export interface BridgeRuntimeOptions {
  /** A backend to use instead of the one OQE_BACKEND names (the local demo passes its own). */
  readonly backend?: ComputeBackend;
  readonly log?: LogFn;
  /** Where EMF documents go; default none. */
  readonly emitMetrics?: (document: Record<string, unknown>) => void;
}

export interface BridgeRuntime {
  readonly config: BridgeConfig;
  readonly backend: ComputeBackend;
  readonly observer: CeleryObserver;
  readonly actor: ScaleActor;
  /** A loop that acts; with `dryRun` one that only decides. */
  loop(dryRun?: boolean): ControlLoop;
  /**
   * Why the broker or the management API refuses the bridge's user, password or vhost, as of the last attempt;
   * undefined when they accept it or could not be reached (an outage is not a configuration error).
   */
  configurationRefusal(): string | undefined;
  /** Connects once to the broker and the management API; resolves to {@link configurationRefusal}. */
  preflight(): Promise<string | undefined>;
  close(): Promise<void>;
}

export function createBridgeRuntime(config: BridgeConfig, options: BridgeRuntimeOptions = {}): BridgeRuntime {
  const log = options.log ?? (() => undefined);
  const session = new BrokerSession({
    host: config.broker.host,
    port: config.broker.port,
    vhost: config.broker.vhost,
    username: config.broker.user,
    password: config.broker.password,
  });
  const management = config.managementUrl
    ? new ManagementApi({
        url: config.managementUrl,
        username: config.broker.user,
        password: config.broker.password,
      })
    : undefined;
  const queueProbe = new QueueProbe(session, config.queue, management, config.broker.vhost);
  const remoteControl = new CeleryRemoteControl(session, { serializer: config.remoteControlSerializer });
  const backend = options.backend ?? createBackend(config);
  const sharedDir = config.efs
    ? new SharedDirProbe({ fileSystemId: config.efs.fileSystemId, workerSubnetIds: config.efs.subnetIds })
    : undefined;
  const observer = new CeleryObserver({
    queueProbe,
    remoteControl,
    compute: backend,
    sharedDir,
    queue: config.queue,
  });
  // The master's calculation events ride on the same connection; without them the loop scales as before.
  const calculationEvents = new CalculationEvents({
    session,
    queue: config.calculationEventsQueue,
    onProblem: (message) => log('calculationEvents', { message }),
  });
  const actor = new ScaleActor({
    backend,
    control: new RemoteControlWorkerControl(remoteControl),
    queue: config.queue,
    log,
  });
  const configurationRefusal = (): string | undefined => {
    const broker = session.lastFailure;
    if (broker?.kind === 'login') return broker.message;
    return management?.lastRefusal?.message;
  };
  return {
    config,
    backend,
    configurationRefusal,
    preflight: async () => {
      await session.connection().catch(() => undefined);
      await management?.queue(config.broker.vhost, config.queue).catch(() => undefined);
      return configurationRefusal();
    },
    observer,
    actor,
    loop: (dryRun = false) =>
      new ControlLoop({
        observer: withCalculationEvents(observer, calculationEvents),
        actor: dryRun ? undefined : actor,
        policy: config.policy,
        pollSeconds: config.pollSeconds,
        clusterName: config.clusterName,
        log,
        emitMetrics: options.emitMetrics,
        storageGbMonthCost: config.storageGbMonthCost,
        heartbeatFile: config.heartbeatFile,
        configurationRefusal,
        ...(config.decisionsFile ? { decisionsFile: config.decisionsFile } : {}),
        ...(config.activationCheckMs > 0
          ? { activation: { probe: queueProbe, intervalMs: config.activationCheckMs } }
          : {}),
      }),
    close: async () => {
      await remoteControl.close();
      await calculationEvents.close();
      await queueProbe.close();
      await session.close();
      await backend.close();
    },
  };
}
