/**
 * The one schema of the bridge's `OQE_*` settings: every variable with its default, the bounds of each
 * numeric one, the CDK prop that sets it, and the checks across settings. The bridge's `loadBridgeConfig`
 * parses its environment with it; the CDK app checks the environment it is about to give the bridge with the
 * same code at synth, so a value the bridge would refuse at start-up (a crash-looping service) stops synth
 * instead, naming the prop.
 */
import { AMQP_VHOST, CALCULATION_EVENTS_QUEUE, CELERY_QUEUE, PORTS } from './cluster-constants.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost } from './prices.ts';

/** Every variable the bridge reads, with its default (`undefined`: required or optional without default). */
export const BRIDGE_ENVIRONMENT = {
  OQE_BACKEND: 'ecs',
  OQE_BROKER_HOST: undefined,
  OQE_BROKER_PORT: String(PORTS.amqp),
  OQE_BROKER_VHOST: AMQP_VHOST,
  OQE_BROKER_USER: undefined,
  OQE_BROKER_PASSWORD: undefined,
  OQE_MANAGEMENT_URL: undefined,
  OQE_QUEUE: CELERY_QUEUE,
  OQE_CALCULATION_EVENTS_QUEUE: CALCULATION_EVENTS_QUEUE,
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
  OQE_PREWARM_WORKERS: '2',
  OQE_CALCULATION_HOLD_SECONDS: '900',
  OQE_MAX_HOURLY_COST: undefined,
  OQE_WORKER_HOURLY_COST: undefined,
  OQE_STORAGE_GB_MONTH_COST: String(DEFAULT_PRICES.efsStandardGbMonth),
  OQE_POLL_SECONDS: '5',
  OQE_ACTIVATION_CHECK_MS: '500',
  OQE_CLUSTER_NAME: undefined,
  OQE_HEARTBEAT_FILE: undefined,
  OQE_DECISIONS_FILE: undefined,
  AWS_REGION: undefined,
} as const satisfies Record<string, string | undefined>;

export type BridgeVariable = keyof typeof BRIDGE_ENVIRONMENT;

/** The bounds of one numeric setting, what it means (the fix shown when a value is out of bounds) and who sets it. */
export interface NumericSetting {
  /** `integer`: a whole number from `min` to `max`; `positive`: above zero; `nonNegative`: zero or more. */
  readonly kind: 'integer' | 'positive' | 'nonNegative';
  readonly min: number;
  readonly max: number;
  readonly fix: string;
  /** The CDK prop the stack derives it from; absent when the stack leaves the bridge's default. */
  readonly prop?: string;
}

const integer = (min: number, max: number, fix: string, prop?: string): NumericSetting => ({
  kind: 'integer',
  min,
  max,
  fix,
  ...(prop !== undefined ? { prop } : {}),
});
const price = (kind: 'positive' | 'nonNegative', fix: string, prop: string): NumericSetting => ({
  kind,
  min: 0,
  max: Infinity,
  fix,
  prop,
});

/** ECS allows at most 5000 tasks a service (Amazon ECS service quotas, "Tasks per service"). */
export const MAX_TASKS_PER_SERVICE = 5000;

/** Every numeric setting's bounds. */
export const NUMERIC_SETTINGS = {
  OQE_BROKER_PORT: integer(1, 65535, `the AMQP port, normally ${PORTS.amqp}`),
  OQE_MIN_WORKERS: integer(
    0,
    MAX_TASKS_PER_SERVICE,
    'the fewest workers to keep (0 lets the fleet go away)',
    'minWorkers',
  ),
  OQE_MAX_WORKERS: integer(
    1,
    MAX_TASKS_PER_SERVICE,
    'the most workers the fleet may run (ECS: at most 5000)',
    'maxWorkers',
  ),
  OQE_SLOTS_PER_WORKER: integer(
    1,
    256,
    "celery processes per worker, normally the task's vCPUs",
    'workerConcurrency',
  ),
  // A service launches at most 500 tasks a minute (ECS service quotas): a larger step only queues.
  OQE_MAX_STEP_OUT: integer(1, 500, 'the most workers added in one cycle', 'maxStepOut'),
  OQE_MAX_STEP_IN: integer(
    1,
    MAX_TASKS_PER_SERVICE,
    'the most workers retired in one cycle, or unset for no limit',
  ),
  OQE_IDLE_GRACE_SECONDS: integer(
    0,
    86_400,
    'seconds a worker stays idle before it is retired (Fargate bills at least one minute)',
    'idleGraceSeconds',
  ),
  OQE_POLL_SECONDS: integer(1, 300, 'seconds between cycles', 'pollSeconds'),
  OQE_ACTIVATION_CHECK_MS: integer(
    0,
    60_000,
    'milliseconds between the live queue looks that start a cycle early on unserved demand, or 0 for none',
  ),
  OQE_STALE_AFTER_SECONDS: integer(1, 3600, 'seconds after which figures are stale'),
  OQE_WORKER_STARTUP_SECONDS: integer(
    0,
    3600,
    'seconds a new worker may take to answer before its silence counts',
  ),
  // 2: the fewest that met the worker-hour goal on every simulated trace (docs/benchmarks.md, issue 15).
  OQE_PREWARM_WORKERS: integer(
    0,
    500,
    'workers launched when a calculation starts, before its first task is queued (0: none)',
    'prewarmWorkers',
  ),
  OQE_CALCULATION_HOLD_SECONDS: integer(
    0,
    86_400,
    'seconds idle workers are kept for a calculation that is starting or between phases, at most',
    'calculationHoldSeconds',
  ),
  OQE_WORKER_HOURLY_COST: price(
    'positive',
    "USD per worker-hour for the task's size (the stack sets it from the price table)",
    'prices',
  ),
  OQE_MAX_HOURLY_COST: price(
    'positive',
    'the most USD per hour the fleet may cost, or unset',
    'maxHourlyCost',
  ),
  OQE_STORAGE_GB_MONTH_COST: price(
    'nonNegative',
    "USD per GB-month of shared_dir storage (the stack sets it from the price table's efsStandardGbMonth)",
    'prices',
  ),
} as const satisfies Partial<Record<BridgeVariable, NumericSetting>>;

export type NumericVariable = keyof typeof NUMERIC_SETTINGS;

/** One problem with the settings: the variables involved (first the one to change) and the message. */
export interface SettingProblem {
  readonly variables: readonly NumericVariable[];
  readonly value: string | number | undefined;
  readonly message: string;
}

/** How a problem names a setting: the bridge says the variable, the CDK app the prop. */
export type SettingNamer = (variable: NumericVariable) => string;

const variableName: SettingNamer = (variable) => variable;

/**
 * Parses one numeric setting from its raw text (already defaulted). Returns the number, or the problem; an
 * out-of-bounds integer reads as its `min` so that the cross-checks still run on something.
 */
export function parseNumericSetting(
  variable: NumericVariable,
  text: string | undefined,
  name: SettingNamer = variableName,
): { value: number | undefined; problem?: SettingProblem } {
  const setting: NumericSetting = NUMERIC_SETTINGS[variable];
  const shown = JSON.stringify(text ?? '');
  if (setting.kind === 'integer') {
    const n = Number(text);
    if (text === undefined || !/^\d+$/.test(text) || n < setting.min || n > setting.max) {
      return {
        value: setting.min,
        problem: {
          variables: [variable],
          value: text,
          message: `${name(variable)}=${shown} must be a whole number from ${setting.min} to ${setting.max}: ${setting.fix}`,
        },
      };
    }
    return { value: n };
  }
  if (text === undefined) return { value: undefined };
  const n = Number(text);
  const ok = Number.isFinite(n) && (setting.kind === 'positive' ? n > 0 : n >= 0);
  if (!ok) {
    const what = setting.kind === 'positive' ? 'a positive number' : 'a number, zero or more';
    return {
      value: undefined,
      problem: {
        variables: [variable],
        value: text,
        message: `${name(variable)}=${shown} must be ${what}: ${setting.fix}`,
      },
    };
  }
  return { value: n };
}

/** The numeric settings the cross-checks look at, parsed and defaulted. */
export interface CrossCheckedSettings {
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly pollSeconds: number;
  readonly staleAfterSeconds: number;
  readonly workerHourlyCost: number;
  /** `Infinity` when unset. */
  readonly maxHourlyCost: number;
}

/** The checks across settings, each problem naming every setting involved. */
export function crossCheckSettings(
  s: CrossCheckedSettings,
  name: SettingNamer = variableName,
): SettingProblem[] {
  const problems: SettingProblem[] = [];
  if (s.minWorkers > s.maxWorkers) {
    problems.push({
      variables: ['OQE_MIN_WORKERS', 'OQE_MAX_WORKERS'],
      value: s.minWorkers,
      message: `${name('OQE_MIN_WORKERS')}=${s.minWorkers} is above ${name('OQE_MAX_WORKERS')}=${s.maxWorkers}: lower ${name('OQE_MIN_WORKERS')} or raise ${name('OQE_MAX_WORKERS')}`,
    });
  }
  if (s.staleAfterSeconds < s.pollSeconds) {
    problems.push({
      variables: ['OQE_POLL_SECONDS', 'OQE_STALE_AFTER_SECONDS'],
      value: s.pollSeconds,
      message: `${name('OQE_STALE_AFTER_SECONDS')}=${s.staleAfterSeconds} is below ${name('OQE_POLL_SECONDS')}=${s.pollSeconds}: every figure would be stale; raise ${name('OQE_STALE_AFTER_SECONDS')} or lower ${name('OQE_POLL_SECONDS')}`,
    });
  }
  const floor = s.workerHourlyCost * Math.max(1, s.minWorkers);
  if (Number.isFinite(s.maxHourlyCost) && s.maxHourlyCost < floor) {
    problems.push({
      variables: ['OQE_MAX_HOURLY_COST', 'OQE_MIN_WORKERS', 'OQE_WORKER_HOURLY_COST'],
      value: s.maxHourlyCost,
      message: `${name('OQE_MAX_HOURLY_COST')}=${s.maxHourlyCost} pays for fewer than max(1, ${name('OQE_MIN_WORKERS')}=${s.minWorkers}) workers at ${s.workerHourlyCost} USD each: raise it to at least ${floor.toFixed(4)}`,
    });
  }
  return problems;
}

/** The scaling settings the CDK app hands the bridge (already in the units of the variables). */
export interface BridgeScalingSettings {
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly slotsPerWorker: number;
  readonly maxStepOut: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  /** @default 2 (OQE_PREWARM_WORKERS) */
  readonly prewarmWorkers?: number;
  /** @default 900 (OQE_CALCULATION_HOLD_SECONDS) */
  readonly calculationHoldSeconds?: number;
  /** USD per hour of one worker task (from the price table). */
  readonly workerHourlyCost: number;
  /** USD per GB-month of shared_dir storage (from the price table). */
  readonly storageGbMonthCost: number;
  /** @default - no cap */
  readonly maxHourlyCost?: number;
}

/** The `OQE_*` variables that carry {@link BridgeScalingSettings}, exactly as the bridge will read them. */
export function scalingSettingsEnvironment(
  s: BridgeScalingSettings,
): Partial<Record<NumericVariable, string>> {
  return {
    OQE_MIN_WORKERS: String(s.minWorkers),
    OQE_MAX_WORKERS: String(s.maxWorkers),
    OQE_SLOTS_PER_WORKER: String(s.slotsPerWorker),
    OQE_MAX_STEP_OUT: String(s.maxStepOut),
    OQE_IDLE_GRACE_SECONDS: String(s.idleGraceSeconds),
    OQE_WORKER_HOURLY_COST: s.workerHourlyCost.toFixed(6),
    OQE_STORAGE_GB_MONTH_COST: String(s.storageGbMonthCost),
    OQE_POLL_SECONDS: String(s.pollSeconds),
    ...(s.prewarmWorkers !== undefined ? { OQE_PREWARM_WORKERS: String(s.prewarmWorkers) } : {}),
    ...(s.calculationHoldSeconds !== undefined
      ? { OQE_CALCULATION_HOLD_SECONDS: String(s.calculationHoldSeconds) }
      : {}),
    ...(s.maxHourlyCost !== undefined ? { OQE_MAX_HOURLY_COST: String(s.maxHourlyCost) } : {}),
  };
}

/** The default worker-hour cost when OQE_WORKER_HOURLY_COST is unset: a 2 vCPU / 4 GiB x86 Fargate task. */
export const DEFAULT_WORKER_HOURLY_COST = fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', 2, 4);

/** The numeric settings, parsed, defaulted and cross-checked. */
export interface NumericSettings extends CrossCheckedSettings {
  readonly slotsPerWorker: number;
  readonly maxStepOut: number;
  /** Unset: no limit. */
  readonly maxStepIn?: number;
  readonly idleGraceSeconds: number;
  readonly activationCheckMs: number;
  readonly workerStartupSeconds: number;
  readonly storageGbMonthCost: number;
  readonly prewarmWorkers: number;
  readonly calculationHoldSeconds: number;
}

/**
 * Parses the scaling and cost variables (defaults filled in as {@link BRIDGE_ENVIRONMENT} says) and runs the
 * cross-checks. `problems` is empty when the bridge will accept them; the CDK app calls this at synth on the
 * environment it builds, with `name` naming its props.
 */
export function parseNumericSettings(
  env: Partial<Record<NumericVariable, string>>,
  name: SettingNamer = variableName,
): { settings: NumericSettings; problems: SettingProblem[] } {
  const problems: SettingProblem[] = [];
  const read = (variable: NumericVariable): number | undefined => {
    const text = env[variable] ?? BRIDGE_ENVIRONMENT[variable as BridgeVariable];
    const parsed = parseNumericSetting(variable, text, name);
    if (parsed.problem) problems.push(parsed.problem);
    return parsed.value;
  };
  const minWorkers = read('OQE_MIN_WORKERS')!;
  const maxWorkers = read('OQE_MAX_WORKERS')!;
  const slotsPerWorker = read('OQE_SLOTS_PER_WORKER')!;
  const maxStepOut = read('OQE_MAX_STEP_OUT')!;
  const maxStepIn = env.OQE_MAX_STEP_IN === undefined ? undefined : read('OQE_MAX_STEP_IN');
  const idleGraceSeconds = read('OQE_IDLE_GRACE_SECONDS')!;
  const pollSeconds = read('OQE_POLL_SECONDS')!;
  const activationCheckMs = read('OQE_ACTIVATION_CHECK_MS')!;
  const staleAfterSeconds = read('OQE_STALE_AFTER_SECONDS')!;
  const workerStartupSeconds = read('OQE_WORKER_STARTUP_SECONDS')!;
  const prewarmWorkers = read('OQE_PREWARM_WORKERS')!;
  const calculationHoldSeconds = read('OQE_CALCULATION_HOLD_SECONDS')!;
  const workerHourlyCost = read('OQE_WORKER_HOURLY_COST') ?? DEFAULT_WORKER_HOURLY_COST;
  const maxHourlyCost = read('OQE_MAX_HOURLY_COST') ?? Infinity;
  const storageGbMonthCost = read('OQE_STORAGE_GB_MONTH_COST') ?? DEFAULT_PRICES.efsStandardGbMonth;
  const crossChecked = {
    minWorkers,
    maxWorkers,
    pollSeconds,
    staleAfterSeconds,
    workerHourlyCost,
    maxHourlyCost,
  };
  problems.push(...crossCheckSettings(crossChecked, name));
  return {
    settings: {
      ...crossChecked,
      slotsPerWorker,
      maxStepOut,
      ...(maxStepIn !== undefined ? { maxStepIn } : {}),
      idleGraceSeconds,
      activationCheckMs,
      workerStartupSeconds,
      storageGbMonthCost,
      prewarmWorkers,
      calculationHoldSeconds,
    },
    problems,
  };
}
