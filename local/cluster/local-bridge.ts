import { appendFileSync } from 'node:fs';
import { createBridgeRuntime } from '../../bridge/src/cli/bridge-runtime.ts';
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import { loadBridgeConfig } from '../../bridge/src/config/bridge-config.ts';
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import type { BrokerEndpoint } from '../../bridge/src/observe/broker-session.ts';
import { createJsonLogger } from '../../bridge/src/report/json-logger.ts';
import { decisionLineJoiner } from './decision-lines.ts';
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
  /**
   * The workers' remote-control format: `json` for celery 4.x (the engine's, production's), `pickle` for the
   * test app's celery 5.5 with its pickle task serializer. @default 'pickle'
   */
  readonly remoteControlSerializer?: 'json' | 'pickle';
  /** Called with each cycle's decision and the action taken on it, for the live view. */
  readonly onDecision?: (decision: DecisionLine) => void;
  /** File the loop rewrites with its last decisions (OQE_DECISIONS_FILE), for `status` (`npm run status:local`). */
  readonly decisionsFile?: string;
}

/** A running bridge; `stop` ends its loop after the current cycle and closes its connections. */
export interface LocalBridge {
  stop(): Promise<void>;
}

/**
 * Starts the real bridge exactly as `oq-elastic-bridge run` does: its configuration goes through the same
 * environment loader (OQE_* variables, validated), and the same runtime wires the queue probe, celery remote
 * control, observer, drain-protocol actor and control loop; only the compute backend is the local one.
 * The test app runs celery 5.5, whose mailbox speaks the app's serializer (pickle); the engine's celery 4.4.7
 * answers in JSON only (docs/observe.md).
 */
export async function startLocalBridge(options: LocalBridgeOptions): Promise<LocalBridge> {
  const { broker, policy } = options;
  const config = loadBridgeConfig({
    OQE_BACKEND: options.backend.name,
    OQE_BROKER_HOST: broker.host,
    OQE_BROKER_PORT: String(broker.port ?? 5672),
    OQE_BROKER_VHOST: broker.vhost,
    OQE_BROKER_USER: broker.username,
    OQE_BROKER_PASSWORD: broker.password,
    OQE_MANAGEMENT_URL: options.managementUrl,
    OQE_QUEUE: 'celery',
    OQE_REMOTE_CONTROL_SERIALIZER: options.remoteControlSerializer ?? 'pickle',
    OQE_MIN_WORKERS: String(policy.minWorkers),
    OQE_MAX_WORKERS: String(policy.maxWorkers),
    OQE_SLOTS_PER_WORKER: String(policy.slotsPerWorkerFallback),
    OQE_MAX_STEP_OUT: String(policy.maxStepOut),
    OQE_IDLE_GRACE_SECONDS: String(policy.idleGraceSeconds),
    OQE_STALE_AFTER_SECONDS: String(policy.staleAfterSeconds),
    OQE_WORKER_STARTUP_SECONDS: String(policy.workerStartupSeconds ?? 60),
    OQE_WORKER_HOURLY_COST: String(policy.workerHourlyCost),
    OQE_POLL_SECONDS: String(options.pollSeconds),
    OQE_CLUSTER_NAME: 'local',
    ...(options.decisionsFile ? { OQE_DECISIONS_FILE: options.decisionsFile } : {}),
  });
  const writeLog = createJsonLogger({ write: (line) => appendFileSync(options.logPath, `${line}\n`) });
  const joinDecision = options.onDecision ? decisionLineJoiner(options.onDecision) : undefined;
  const log = (event: string, fields: Record<string, unknown> = {}): void => {
    writeLog(event, { backend: options.backend.name, ...fields });
    joinDecision?.(event, fields);
  };
  const runtime = createBridgeRuntime(config, { backend: options.backend, log });
  const abort = new AbortController();
  const running = runtime.loop().run(abort.signal);
  return {
    stop: async () => {
      abort.abort();
      await running;
      await runtime.close().catch(() => undefined);
    },
  };
}
