/**
 * The bridge's configuration, read once from the environment at start-up and validated: every problem is
 * reported at once, each naming the variable, the value it had and how to fix it. Secret values are never
 * echoed (a wrong password is reported as "set", never shown).
 */
import { AMQP_VHOST, CELERY_QUEUE, PORTS } from '../../../cdk/lib/cluster-constants.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost } from '../../../cdk/lib/prices.ts';
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
}

/** Every variable the loader reads, with its default (`undefined`: required or optional without default). */
export const BRIDGE_ENVIRONMENT = {
  OQE_BACKEND: 'ecs',
  OQE_BROKER_HOST: undefined,
  OQE_BROKER_PORT: String(PORTS.amqp),
  OQE_BROKER_VHOST: AMQP_VHOST,
  OQE_BROKER_USER: undefined,
  OQE_BROKER_PASSWORD: undefined,
  OQE_MANAGEMENT_URL: undefined,
  OQE_QUEUE: CELERY_QUEUE,
  OQE_REMOTE_CONTROL_SERIALIZER: 'json',
  OQE_ECS_CLUSTER: undefined,
  OQE_ECS_SERVICE: undefined,
  OQE_EFS_FILE_SYSTEM_ID: undefined,
  OQE_WORKER_SUBNET_IDS: undefined,
  OQE_MIN_WORKERS: '0',
  OQE_MAX_WORKERS: '10',
  OQE_SLOTS_PER_WORKER: '2',
  OQE_MAX_STEP_OUT: '10',
  OQE_MAX_STEP_IN: undefined,
  OQE_IDLE_GRACE_SECONDS: '120',
  OQE_STALE_AFTER_SECONDS: '30',
  OQE_WORKER_STARTUP_SECONDS: '180',
  OQE_MAX_HOURLY_COST: undefined,
  OQE_WORKER_HOURLY_COST: undefined,
  OQE_POLL_SECONDS: '5',
  OQE_ACTIVATION_CHECK_MS: '500',
  OQE_CLUSTER_NAME: undefined,
  OQE_HEARTBEAT_FILE: undefined,
  AWS_REGION: undefined,
} as const satisfies Record<string, string | undefined>;

export type BridgeVariable = keyof typeof BRIDGE_ENVIRONMENT;

/** Variables whose values are secret: reported as set/unset, never shown. */
const SECRET_VARIABLES = new Set<BridgeVariable>(['OQE_BROKER_PASSWORD']);

/** Start-up configuration errors, all of them, one a line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid bridge configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** The default worker-hour cost: a 2 vCPU / 4 GiB x86 Fargate task, from the one price table. */
export const DEFAULT_WORKER_HOURLY_COST = fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', 2, 4);

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
  const integer = (name: BridgeVariable, min: number, max: number, fix: string): number => {
    const value = raw(name);
    const n = Number(value);
    if (value === undefined || !/^\d+$/.test(value) || n < min || n > max) {
      problems.push(`${name}=${shown(name, value)} must be a whole number from ${min} to ${max}: ${fix}`);
      return min;
    }
    return n;
  };
  const positive = (name: BridgeVariable, fix: string): number | undefined => {
    const value = raw(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      problems.push(`${name}=${shown(name, value)} must be a positive number: ${fix}`);
      return undefined;
    }
    return n;
  };

  const backend = raw('OQE_BACKEND') as BackendKind;
  if (!['ecs', 'process', 'podman'].includes(backend)) {
    problems.push(
      `OQE_BACKEND=${shown('OQE_BACKEND', backend)} is not a backend: set it to ecs, process or podman`,
    );
  }
  const host = required('OQE_BROKER_HOST', "set it to the master's private address (the stack does)");
  const port = integer('OQE_BROKER_PORT', 1, 65535, `the AMQP port, normally ${PORTS.amqp}`);
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

  const minWorkers = integer(
    'OQE_MIN_WORKERS',
    0,
    5000,
    'the fewest workers to keep (0 lets the fleet go away)',
  );
  // ECS allows at most 5000 tasks a service (Amazon ECS service quotas).
  const maxWorkers = integer(
    'OQE_MAX_WORKERS',
    1,
    5000,
    'the most workers the fleet may run (ECS: at most 5000)',
  );
  if (minWorkers > maxWorkers) {
    problems.push(
      `OQE_MIN_WORKERS=${minWorkers} is above OQE_MAX_WORKERS=${maxWorkers}: lower the first or raise the second`,
    );
  }
  const slots = integer(
    'OQE_SLOTS_PER_WORKER',
    1,
    256,
    "celery processes per worker, normally the task's vCPUs",
  );
  // A service launches at most 500 tasks a minute (ECS service quotas): a larger step only queues.
  const maxStepOut = integer('OQE_MAX_STEP_OUT', 1, 500, 'the most workers added in one cycle');
  const maxStepIn =
    raw('OQE_MAX_STEP_IN') === undefined
      ? undefined
      : integer('OQE_MAX_STEP_IN', 1, 5000, 'the most workers retired in one cycle, or unset for no limit');
  const idleGraceSeconds = integer(
    'OQE_IDLE_GRACE_SECONDS',
    0,
    86_400,
    'seconds a worker stays idle before it is retired (Fargate bills at least one minute)',
  );
  const pollSeconds = integer('OQE_POLL_SECONDS', 1, 300, 'seconds between cycles');
  const activationCheckMs = integer(
    'OQE_ACTIVATION_CHECK_MS',
    0,
    60_000,
    'milliseconds between the live queue looks that start a cycle early on unserved demand, or 0 for none',
  );
  const staleAfterSeconds = integer(
    'OQE_STALE_AFTER_SECONDS',
    1,
    3600,
    'seconds after which figures are stale',
  );
  if (staleAfterSeconds < pollSeconds) {
    problems.push(
      `OQE_STALE_AFTER_SECONDS=${staleAfterSeconds} is below OQE_POLL_SECONDS=${pollSeconds}: every figure would be stale; raise it`,
    );
  }
  const workerStartupSeconds = integer(
    'OQE_WORKER_STARTUP_SECONDS',
    0,
    3600,
    'seconds a new worker may take to answer before its silence counts',
  );
  const workerHourlyCost =
    positive('OQE_WORKER_HOURLY_COST', "USD per worker-hour for the task's size (the stack sets it)") ??
    DEFAULT_WORKER_HOURLY_COST;
  const maxHourlyCost =
    positive('OQE_MAX_HOURLY_COST', 'the most USD per hour the fleet may cost, or unset') ?? Infinity;
  if (Number.isFinite(maxHourlyCost) && maxHourlyCost < workerHourlyCost * Math.max(1, minWorkers)) {
    problems.push(
      `OQE_MAX_HOURLY_COST=${maxHourlyCost} pays for fewer than max(1, OQE_MIN_WORKERS=${minWorkers}) workers at ${workerHourlyCost} USD each: raise it to at least ${(workerHourlyCost * Math.max(1, minWorkers)).toFixed(4)}`,
    );
  }

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
      minWorkers,
      maxWorkers,
      slotsPerWorkerFallback: slots,
      maxStepOut,
      ...(maxStepIn !== undefined ? { maxStepIn } : {}),
      idleGraceSeconds,
      staleAfterSeconds,
      maxHourlyCost,
      workerHourlyCost,
      workerStartupSeconds,
    },
    pollSeconds,
    activationCheckMs,
    clusterName: raw('OQE_CLUSTER_NAME') ?? ecs?.cluster ?? 'local',
    storageGbMonthCost: DEFAULT_PRICES.efsStandardGbMonth,
    heartbeatFile: raw('OQE_HEARTBEAT_FILE'),
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
