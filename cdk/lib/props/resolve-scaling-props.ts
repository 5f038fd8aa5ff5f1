import {
  BRIDGE_ENVIRONMENT,
  NUMERIC_SETTINGS,
  parseNumericSettings,
  scalingSettingsEnvironment,
  type BridgeScalingSettings,
  type NumericVariable,
} from '../../../contract/bridge-settings.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost, type PriceTable } from '../../../contract/prices.ts';
import type { ClusterSettings } from './cluster-settings.ts';
import { ClusterPropsError } from './cluster-props-error.ts';
import { integer, positive } from './prop-checks.ts';
import type { ResolvedWorkerProps } from './resolve-worker-props.ts';

/** How the bridge scales the workers, and the prices it costs them by, after validation. */
export interface ResolvedScalingProps {
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly maxStepOut: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  readonly maxHourlyCost?: number;
  /** The price table with the overrides merged in; the dashboard's cost math uses it too. */
  readonly prices: PriceTable;
  /** What the bridge gets in its environment, already checked with the bridge's own schema. */
  readonly bridge: BridgeScalingSettings;
}

function resolvePrices(overrides: Partial<PriceTable> | undefined): PriceTable {
  const prices = {
    ...DEFAULT_PRICES,
    ...overrides,
    ec2Hourly: { ...DEFAULT_PRICES.ec2Hourly, ...overrides?.ec2Hourly },
  };
  for (const [key, value] of Object.entries(prices)) {
    if (key === 'ec2Hourly') continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new ClusterPropsError(`prices.${key}`, value, 'use a price in USD, zero or more.');
    }
  }
  return prices;
}

/** A setting within the bounds of the bridge variable it becomes (contract/bridge-settings.ts). */
function bounded(prop: string, value: number, variable: NumericVariable): number {
  return integer(prop, value, NUMERIC_SETTINGS[variable].min, NUMERIC_SETTINGS[variable].max);
}

/**
 * Runs the bridge's own start-up checks (contract/bridge-settings.ts) on the environment the stack will give
 * it, so that synth fails, naming the prop, wherever the deployed bridge would refuse to start.
 */
function checkedBridgeSettings(settings: BridgeScalingSettings): BridgeScalingSettings {
  const propOf = (variable: NumericVariable): string | undefined =>
    (NUMERIC_SETTINGS[variable] as { prop?: string }).prop;
  const { problems } = parseNumericSettings(
    scalingSettingsEnvironment(settings),
    // Settings the stack derives from the price table are named by variable, with where they come from.
    (variable) => {
      const prop = propOf(variable);
      if (prop === undefined) return `the bridge's ${variable}`;
      return prop === 'prices' ? `${variable} (from prices)` : prop;
    },
  );
  const first = problems[0];
  if (first !== undefined) {
    const prop = first.variables.map(propOf).find((p) => p !== undefined) ?? first.variables[0]!;
    throw new ClusterPropsError(prop, first.value, `${first.message}.`);
  }
  return settings;
}

/** What the stack derives for the bridge from other props rather than passing on. */
type DerivedSetting = 'slotsPerWorker' | 'workerHourlyCost' | 'storageGbMonthCost' | 'maxHourlyCost';

/** The settings the bridge bounds one by one, defaults filled in. */
function boundedSettings(props: ClusterSettings): Required<Omit<BridgeScalingSettings, DerivedSetting>> {
  return {
    minWorkers: bounded('minWorkers', props.minWorkers ?? 0, 'OQE_MIN_WORKERS'),
    maxWorkers: bounded('maxWorkers', props.maxWorkers ?? 10, 'OQE_MAX_WORKERS'),
    maxStepOut: bounded('maxStepOut', props.maxStepOut ?? 10, 'OQE_MAX_STEP_OUT'),
    idleGraceSeconds: bounded('idleGraceSeconds', props.idleGraceSeconds ?? 120, 'OQE_IDLE_GRACE_SECONDS'),
    pollSeconds: bounded('pollSeconds', props.pollSeconds ?? 5, 'OQE_POLL_SECONDS'),
    prewarmWorkers: bounded(
      'prewarmWorkers',
      props.prewarmWorkers ?? Number(BRIDGE_ENVIRONMENT.OQE_PREWARM_WORKERS),
      'OQE_PREWARM_WORKERS',
    ),
    calculationHoldSeconds: bounded(
      'calculationHoldSeconds',
      props.calculationHoldSeconds ?? Number(BRIDGE_ENVIRONMENT.OQE_CALCULATION_HOLD_SECONDS),
      'OQE_CALCULATION_HOLD_SECONDS',
    ),
  };
}

/**
 * Validates how the bridge scales the workers (fleet bounds, step, idle grace, polling, pre-warming, the hold
 * for a calculation, the cost cap) and the price table, then the bridge's settings as a whole with its own
 * schema; throws a {@link ClusterPropsError} on the first problem.
 */
export function resolveScalingProps(
  props: ClusterSettings,
  workers: ResolvedWorkerProps,
): ResolvedScalingProps {
  // Each bound is the bridge's own; the checks across settings run on the environment the bridge will read.
  const bounds = boundedSettings(props);
  const maxHourlyCost = positive('maxHourlyCost', props.maxHourlyCost);
  const prices = resolvePrices(props.prices);
  const bridge = checkedBridgeSettings({
    ...bounds,
    slotsPerWorker: workers.workerConcurrency,
    workerHourlyCost: fargateTaskHourlyCost(
      prices,
      workers.workerArchitecture,
      workers.workerVcpu,
      workers.workerMemoryGiB,
      workers.workerSpot,
    ),
    storageGbMonthCost: prices.efsStandardGbMonth,
    maxHourlyCost,
  });
  const { minWorkers, maxWorkers, maxStepOut, idleGraceSeconds, pollSeconds } = bounds;
  return { minWorkers, maxWorkers, maxStepOut, idleGraceSeconds, pollSeconds, maxHourlyCost, prices, bridge };
}
