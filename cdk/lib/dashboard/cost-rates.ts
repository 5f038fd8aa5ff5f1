import { fargateTaskHourlyCost, type CpuArchitecture, type PriceTable } from '../../../contract/prices.ts';

/** The inputs of the cost figures: the worker task size and the master, priced by one table. */
export interface CostRatesInput {
  readonly prices: PriceTable;
  readonly workerCpuArchitecture: CpuArchitecture;
  readonly workerVcpu: number;
  readonly workerMemoryGiB: number;
  readonly workerSpot: boolean;
  readonly masterInstanceType: string;
}

/** USD rates that the dashboard's metric math multiplies the metrics by. */
export interface CostRates {
  /** One running worker task, per hour. */
  readonly workerHourly: number;
  /** The master instance, per hour (0 when the table has no price for its type: see `masterPriced`). */
  readonly masterHourly: number;
  /** Whether the price table knows the master's instance type. */
  readonly masterPriced: boolean;
  /** EFS Standard storage, per GB-month (GB = 2^30 bytes; a month = 730 hours). */
  readonly efsGbMonth: number;
}

function requirePositive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`ClusterDashboard ${name} is ${String(value)}: it must be a positive number.`);
  }
}

/** Resolves the rates once, at synth time, so that every widget and alarm multiplies by the same numbers. */
export function resolveCostRates(input: CostRatesInput): CostRates {
  requirePositive('workerVcpu', input.workerVcpu);
  requirePositive('workerMemoryGiB', input.workerMemoryGiB);
  if (input.workerSpot && input.workerCpuArchitecture === 'arm64') {
    // AWS Fargate Spot runs x86_64 tasks only (Fargate capacity providers documentation).
    throw new Error(
      'ClusterDashboard workerSpot is true with workerCpuArchitecture "arm64": Fargate Spot is x86_64 only; ' +
        'set workerCpuArchitecture to "x86_64" or workerSpot to false.',
    );
  }
  for (const [key, value] of Object.entries(input.prices)) {
    if (typeof value === 'number' && (!Number.isFinite(value) || value < 0)) {
      throw new Error(
        `ClusterDashboard prices.${key} is ${String(value)}: prices must be finite and not negative.`,
      );
    }
  }
  const master = input.prices.ec2Hourly[input.masterInstanceType];
  return {
    workerHourly: fargateTaskHourlyCost(
      input.prices,
      input.workerCpuArchitecture,
      input.workerVcpu,
      input.workerMemoryGiB,
      input.workerSpot,
    ),
    masterHourly: master ?? 0,
    masterPriced: master !== undefined,
    efsGbMonth: input.prices.efsStandardGbMonth,
  };
}
