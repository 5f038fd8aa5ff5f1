/**
 * The bridge's configuration, read once from the environment at start-up and validated: every problem is
 * reported at once, each naming the variable, the value it had and how to fix it. Secret values are never
 * echoed (a wrong password is reported as "set", never shown).
 */
import {
  BRIDGE_ENVIRONMENT,
  NUMERIC_SETTINGS,
  parseNumericSetting,
  parseNumericSettings,
  type BridgeVariable,
  type NumericVariable,
} from '../../../contract/bridge-settings.ts';
import { PORTS } from '../../../contract/cluster-constants.ts';
import type { ScalingPolicy } from '../decide/decision.ts';

export type BackendKind = 'ecs' | 'process' | 'podman';

export interface BrokerConfig {
  readonly host: string;
  readonly port: number;
  readonly vhost: string;
  readonly user: string;
  /** Secret: never logged; use `amqpUrl()` only to connect. */
  readonly password: string;
}

export interface BridgeConfig {
  readonly backend: BackendKind;
  readonly broker: BrokerConfig;
  /** Management API base URL, without credentials (the broker user's are sent as a header). */
  readonly managementUrl: string;
  readonly queue: string;
  /** The master's calculation snapshots (OQE_CALCULATION_EVENTS_QUEUE); read only, absent means no signal. */
  readonly calculationEventsQueue: string;
  /**
   * Wire format of celery's remote control: `json` for celery < 5.1 (the engine 3.11's 4.4.7), `pickle` for
   * celery >= 5.1 with a pickle-only app (docs/observe.md).
   */
  readonly remoteControlSerializer: 'json' | 'pickle';
  /** Present for the `ecs` backend. */
  readonly ecs?: { readonly cluster: string; readonly service: string; readonly region: string };
  /** The shared_dir file system to watch, when set. */
  readonly efs?: { readonly fileSystemId: string; readonly subnetIds: readonly string[] };
  readonly policy: ScalingPolicy;
  readonly pollSeconds: number;
  /** Milliseconds between the live queue looks of the fast activation path; 0 turns it off. */
  readonly activationCheckMs: number;
  /** The `Cluster` dimension of the metrics: the ECS cluster's name, or `local`. */
  readonly clusterName: string;
  /** USD per GB-month of shared_dir storage (price table), for the cost figure. */
  readonly storageGbMonthCost: number;
  readonly heartbeatFile?: string;
  /** File the loop rewrites with its last decisions and their outcomes; `status` shows them. */
  readonly decisionsFile?: string;
}

export {
  BRIDGE_ENVIRONMENT,
  DEFAULT_WORKER_HOURLY_COST,
  type BridgeVariable,
} from '../../../contract/bridge-settings.ts';

/** Variables whose values are secret: reported as set/unset, never shown. */
const SECRET_VARIABLES = new Set<BridgeVariable>(['OQE_BROKER_PASSWORD']);

/** Start-up configuration errors, all of them, one a line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid bridge configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadBridgeConfig(env: NodeJS.ProcessEnv = process.env): BridgeConfig {
  const problems: string[] = [];
  const raw = (name: BridgeVariable): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? BRIDGE_ENVIRONMENT[name] : value;
  };
  const shown = (name: BridgeVariable, value: string | undefined): string =>
    SECRET_VARIABLES.has(name) ? '(set, hidden)' : JSON.stringify(value ?? '');
  const required = (name: BridgeVariable, fix: string): string => {
    const value = raw(name);
    if (value === undefined) problems.push(`${name} is not set: ${fix}`);
    return value ?? '';
  };
  const backend = raw('OQE_BACKEND') as BackendKind;
  if (!['ecs', 'process', 'podman'].includes(backend)) {
    problems.push(
      `OQE_BACKEND=${shown('OQE_BACKEND', backend)} is not a backend: set it to ecs, process or podman`,
    );
  }
  const host = required('OQE_BROKER_HOST', "set it to the master's private address (the stack does)");
  const portSetting = parseNumericSetting('OQE_BROKER_PORT', raw('OQE_BROKER_PORT'));
  if (portSetting.problem) problems.push(portSetting.problem.message);
  const port = portSetting.value!;
  const vhost = raw('OQE_BROKER_VHOST')!;
  const user = required(
    'OQE_BROKER_USER',
    'set it to the bridge\'s RabbitMQ user (the stack uses "oq-bridge")',
  );
  const password = required('OQE_BROKER_PASSWORD', 'inject it from the bridge broker secret (ECS secrets)');
  const queue = raw('OQE_QUEUE')!;
  const remoteControlSerializer = raw('OQE_REMOTE_CONTROL_SERIALIZER') as 'json' | 'pickle';
  if (remoteControlSerializer !== 'json' && remoteControlSerializer !== 'pickle') {
    problems.push(
      `OQE_REMOTE_CONTROL_SERIALIZER=${JSON.stringify(remoteControlSerializer)} is not a format: json for celery 4.x (the engine's), pickle for celery >= 5.1`,
    );
  }

  let managementUrl = raw('OQE_MANAGEMENT_URL') ?? (host ? `http://${host}:${PORTS.rabbitManagement}` : '');
  try {
    const url = new URL(managementUrl);
    if (url.username || url.password) {
      problems.push(
        'OQE_MANAGEMENT_URL carries credentials: remove "user:password@" from it; the bridge sends OQE_BROKER_USER/OQE_BROKER_PASSWORD itself',
      );
      managementUrl = '';
    } else if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      problems.push(`OQE_MANAGEMENT_URL=${JSON.stringify(managementUrl)} must be http(s)://<master>:15672`);
    }
    managementUrl = managementUrl.replace(/\/+$/, '');
  } catch {
    if (managementUrl !== '') {
      problems.push(
        `OQE_MANAGEMENT_URL=${JSON.stringify(managementUrl.replace(/\/\/[^@/]*@/, '//***@'))} is not a URL: set it to http://<master>:15672`,
      );
    }
  }

  const numericText: Partial<Record<NumericVariable, string>> = {};
  for (const variable of Object.keys(NUMERIC_SETTINGS) as NumericVariable[]) {
    numericText[variable] = raw(variable);
  }
  const numeric = parseNumericSettings(numericText);
  problems.push(...numeric.problems.map((p) => p.message));
  const n = numeric.settings;

  let ecs: BridgeConfig['ecs'];
  if (backend === 'ecs') {
    ecs = {
      cluster: required('OQE_ECS_CLUSTER', 'set it to the worker ECS cluster name (the stack does)'),
      service: required('OQE_ECS_SERVICE', 'set it to the worker ECS service name (the stack does)'),
      region: required('AWS_REGION', 'set it to the stack\'s region, e.g. "us-east-1"'),
    };
  }
  let efs: BridgeConfig['efs'];
  const fileSystemId = raw('OQE_EFS_FILE_SYSTEM_ID');
  const subnetList = raw('OQE_WORKER_SUBNET_IDS');
  const subnetIds = (subnetList ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (fileSystemId !== undefined) {
    if (!/^fs-[0-9a-f]{8,40}$/.test(fileSystemId)) {
      problems.push(
        `OQE_EFS_FILE_SYSTEM_ID=${JSON.stringify(fileSystemId)} is not an EFS id: expected "fs-" and hex digits`,
      );
    }
    for (const s of subnetIds) {
      if (!/^subnet-[0-9a-f]{8,40}$/.test(s)) {
        problems.push(
          `OQE_WORKER_SUBNET_IDS has ${JSON.stringify(s)}, not a subnet id: a comma list of "subnet-..." ids`,
        );
      }
    }
    if (subnetIds.length === 0) {
      problems.push(
        'OQE_WORKER_SUBNET_IDS is not set but OQE_EFS_FILE_SYSTEM_ID is: list the worker subnets, comma separated',
      );
    }
    efs = { fileSystemId, subnetIds };
  }

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    backend,
    broker: { host, port, vhost, user, password },
    managementUrl,
    queue,
    remoteControlSerializer,
    ecs,
    efs,
    policy: {
      minWorkers: n.minWorkers,
      maxWorkers: n.maxWorkers,
      slotsPerWorkerFallback: n.slotsPerWorker,
      maxStepOut: n.maxStepOut,
      ...(n.maxStepIn !== undefined ? { maxStepIn: n.maxStepIn } : {}),
      idleGraceSeconds: n.idleGraceSeconds,
      staleAfterSeconds: n.staleAfterSeconds,
      maxHourlyCost: n.maxHourlyCost,
      workerHourlyCost: n.workerHourlyCost,
      workerStartupSeconds: n.workerStartupSeconds,
      prewarmWorkers: n.prewarmWorkers,
      calculationHoldSeconds: n.calculationHoldSeconds,
    },
    calculationEventsQueue: raw('OQE_CALCULATION_EVENTS_QUEUE')!,
    pollSeconds: n.pollSeconds,
    activationCheckMs: n.activationCheckMs,
    clusterName: raw('OQE_CLUSTER_NAME') ?? ecs?.cluster ?? 'local',
    storageGbMonthCost: n.storageGbMonthCost,
    heartbeatFile: raw('OQE_HEARTBEAT_FILE'),
    decisionsFile: raw('OQE_DECISIONS_FILE'),
  };
}

/** The AMQP URL to connect with. It carries the password: pass it to the client, never to a log. */
export function amqpUrl(broker: BrokerConfig): string {
  const u = encodeURIComponent;
  return `amqp://${u(broker.user)}:${u(broker.password)}@${broker.host}:${broker.port}/${u(broker.vhost)}`;
}

/** The configuration as it may be logged: the password left out. */
export function describeConfig(config: BridgeConfig): Record<string, unknown> {
  const { password: _password, ...broker } = config.broker;
  return { ...config, broker: { ...broker, password: '(set)' } };
}
