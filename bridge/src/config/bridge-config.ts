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
  type NumericSettings,
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
  const vars = new VariableReader(env);
  // Each reader records its problems and goes on, so that one start-up reports them all.
  const backend = readBackend(vars);
  const broker = readBroker(vars);
  const remoteControlSerializer = readRemoteControlSerializer(vars);
  const managementUrl = readManagementUrl(vars, broker.host);
  const numeric = readNumericSettings(vars);
  const ecs = backend === 'ecs' ? readEcs(vars) : undefined;
  const efs = readEfs(vars);
  if (vars.problems.length > 0) throw new ConfigError(vars.problems);
  return {
    backend,
    broker,
    managementUrl,
    queue: vars.raw('OQE_QUEUE')!,
    remoteControlSerializer,
    ecs,
    efs,
    policy: scalingPolicy(numeric),
    calculationEventsQueue: vars.raw('OQE_CALCULATION_EVENTS_QUEUE')!,
    pollSeconds: numeric.pollSeconds,
    activationCheckMs: numeric.activationCheckMs,
    clusterName: vars.raw('OQE_CLUSTER_NAME') ?? ecs?.cluster ?? 'local',
    storageGbMonthCost: numeric.storageGbMonthCost,
    heartbeatFile: vars.raw('OQE_HEARTBEAT_FILE'),
    decisionsFile: vars.raw('OQE_DECISIONS_FILE'),
  };
}

/** The bridge's variables in one environment, and the problems found while reading them. */
class VariableReader {
  readonly problems: string[] = [];

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  /** The trimmed value; the default of {@link BRIDGE_ENVIRONMENT} when unset or blank. */
  raw(name: BridgeVariable): string | undefined {
    const value = this.env[name]?.trim();
    return value === undefined || value === '' ? BRIDGE_ENVIRONMENT[name] : value;
  }

  /** The value of a variable the bridge cannot do without; when unset, a problem that says `fix`. */
  required(name: BridgeVariable, fix: string): string {
    const value = this.raw(name);
    if (value === undefined) this.problem(`${name} is not set: ${fix}`);
    return value ?? '';
  }

  problem(message: string): void {
    this.problems.push(message);
  }
}

/** A value as a problem may show it: quoted, or only "(set, hidden)" for a secret variable. */
function shown(name: BridgeVariable, value: string | undefined): string {
  return SECRET_VARIABLES.has(name) ? '(set, hidden)' : JSON.stringify(value ?? '');
}

function readBackend(vars: VariableReader): BackendKind {
  const backend = vars.raw('OQE_BACKEND') as BackendKind;
  if (!['ecs', 'process', 'podman'].includes(backend)) {
    vars.problem(
      `OQE_BACKEND=${shown('OQE_BACKEND', backend)} is not a backend: set it to ecs, process or podman`,
    );
  }
  return backend;
}

function readBroker(vars: VariableReader): BrokerConfig {
  const host = vars.required('OQE_BROKER_HOST', "set it to the master's private address (the stack does)");
  const port = parseNumericSetting('OQE_BROKER_PORT', vars.raw('OQE_BROKER_PORT'));
  if (port.problem) vars.problem(port.problem.message);
  const vhost = vars.raw('OQE_BROKER_VHOST')!;
  const user = vars.required(
    'OQE_BROKER_USER',
    'set it to the bridge\'s RabbitMQ user (the stack uses "oq-bridge")',
  );
  const password = vars.required(
    'OQE_BROKER_PASSWORD',
    'inject it from the bridge broker secret (ECS secrets)',
  );
  return { host, port: port.value!, vhost, user, password };
}

function readRemoteControlSerializer(vars: VariableReader): BridgeConfig['remoteControlSerializer'] {
  const serializer = vars.raw('OQE_REMOTE_CONTROL_SERIALIZER') as BridgeConfig['remoteControlSerializer'];
  if (serializer !== 'json' && serializer !== 'pickle') {
    vars.problem(
      `OQE_REMOTE_CONTROL_SERIALIZER=${shown('OQE_REMOTE_CONTROL_SERIALIZER', serializer)} is not a format: json for celery 4.x (the engine's), pickle for celery >= 5.1`,
    );
  }
  return serializer;
}

/**
 * OQE_MANAGEMENT_URL without its trailing slashes, by default the broker host's management port. Refused with
 * credentials in it: the bridge sends the broker user's itself, and a URL's password would end up in logs.
 */
function readManagementUrl(vars: VariableReader, brokerHost: string): string {
  const text =
    vars.raw('OQE_MANAGEMENT_URL') ?? (brokerHost ? `http://${brokerHost}:${PORTS.rabbitManagement}` : '');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Empty only when the broker host is missing too, which is reported already.
    if (text !== '') {
      vars.problem(
        `OQE_MANAGEMENT_URL=${JSON.stringify(text.replace(/\/\/[^@/]*@/, '//***@'))} is not a URL: set it to http://<master>:15672`,
      );
    }
    return text;
  }
  if (url.username || url.password) {
    vars.problem(
      'OQE_MANAGEMENT_URL carries credentials: remove "user:password@" from it; the bridge sends OQE_BROKER_USER/OQE_BROKER_PASSWORD itself',
    );
    return '';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    vars.problem(`OQE_MANAGEMENT_URL=${JSON.stringify(text)} must be http(s)://<master>:15672`);
  }
  return text.replace(/\/+$/, '');
}

/** The scaling, timing and cost settings, parsed and cross-checked by the contract's schema. */
function readNumericSettings(vars: VariableReader): NumericSettings {
  const text: Partial<Record<NumericVariable, string>> = {};
  for (const variable of Object.keys(NUMERIC_SETTINGS) as NumericVariable[]) {
    text[variable] = vars.raw(variable);
  }
  const { settings, problems } = parseNumericSettings(text);
  for (const problem of problems) vars.problem(problem.message);
  return settings;
}

/** The worker ECS service to scale; read only for the `ecs` backend, which cannot do without it. */
function readEcs(vars: VariableReader): NonNullable<BridgeConfig['ecs']> {
  return {
    cluster: vars.required('OQE_ECS_CLUSTER', 'set it to the worker ECS cluster name (the stack does)'),
    service: vars.required('OQE_ECS_SERVICE', 'set it to the worker ECS service name (the stack does)'),
    region: vars.required('AWS_REGION', 'set it to the stack\'s region, e.g. "us-east-1"'),
  };
}

/** The shared_dir file system and the subnets its mount targets are in; absent when no file system is set. */
function readEfs(vars: VariableReader): BridgeConfig['efs'] {
  const fileSystemId = vars.raw('OQE_EFS_FILE_SYSTEM_ID');
  if (fileSystemId === undefined) return undefined;
  const subnetIds = (vars.raw('OQE_WORKER_SUBNET_IDS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (!/^fs-[0-9a-f]{8,40}$/.test(fileSystemId)) {
    vars.problem(
      `OQE_EFS_FILE_SYSTEM_ID=${shown('OQE_EFS_FILE_SYSTEM_ID', fileSystemId)} is not an EFS id: expected "fs-" and hex digits`,
    );
  }
  for (const s of subnetIds) {
    if (!/^subnet-[0-9a-f]{8,40}$/.test(s)) {
      vars.problem(
        `OQE_WORKER_SUBNET_IDS has ${JSON.stringify(s)}, not a subnet id: a comma list of "subnet-..." ids`,
      );
    }
  }
  if (subnetIds.length === 0) {
    vars.problem(
      'OQE_WORKER_SUBNET_IDS is not set but OQE_EFS_FILE_SYSTEM_ID is: list the worker subnets, comma separated',
    );
  }
  return { fileSystemId, subnetIds };
}

/** The decision's policy from the parsed settings (the variables' names are the bridge's, the policy's decide's). */
function scalingPolicy(n: NumericSettings): ScalingPolicy {
  return {
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
