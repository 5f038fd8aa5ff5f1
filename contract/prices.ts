/**
 * The one price table (USD, us-east-1, on-demand) that the bridge's cost estimate, the dashboard's cost
 * math and the simulator all use. Users override any entry through the `prices` context prop.
 *
 * Sources: AWS Fargate pricing page (per vCPU-hour and per GB-hour, billed per second with a one-minute
 * minimum); Fargate Spot is typically ~70 % below on-demand and varies, so it is an estimate; EC2 and EFS
 * from their pricing pages for us-east-1.
 */
export interface PriceTable {
  /** Fargate x86_64, per vCPU-hour. */
  readonly fargateX86VcpuHour: number;
  /** Fargate x86_64, per GB-hour of memory. */
  readonly fargateX86GbHour: number;
  /** Fargate ARM64 (Graviton), per vCPU-hour. */
  readonly fargateArmVcpuHour: number;
  /** Fargate ARM64 (Graviton), per GB-hour. */
  readonly fargateArmGbHour: number;
  /** Fraction of the on-demand price paid on Fargate Spot (x86 only). */
  readonly fargateSpotFactor: number;
  /** EFS Standard storage, per GB-month. */
  readonly efsStandardGbMonth: number;
  /** The master's EC2 instance, per hour, by instance type; types missing here are costed at 0 with a warning. */
  readonly ec2Hourly: Readonly<Record<string, number>>;
}

export const DEFAULT_PRICES: PriceTable = {
  fargateX86VcpuHour: 0.04048,
  fargateX86GbHour: 0.004445,
  fargateArmVcpuHour: 0.03238,
  fargateArmGbHour: 0.00356,
  fargateSpotFactor: 0.3,
  efsStandardGbMonth: 0.3,
  ec2Hourly: {
    'm7i.large': 0.1008,
    'm7i.xlarge': 0.2016,
    'm7g.large': 0.0816,
    'm7g.xlarge': 0.1632,
    'r7i.large': 0.1323,
    'r7g.large': 0.1071,
  },
};

/**
 * Hours in AWS's pricing month (365 x 24 / 12), the convention of its pricing pages and calculator, to turn a
 * per GB-month storage price into a per-hour figure.
 */
export const HOURS_PER_MONTH = 730;

/**
 * Bytes in the "GB" of EFS's per GB-month price: 2^30. The pricing page does not define its GB; AWS meters
 * storage in binary gigabytes (the EFS console shows GiB, EBS prices volumes sized in GiB). 10^9 would read
 * 7.4 % high. The bridge's cost metric and the dashboard's metric math both use this constant.
 */
export const STORAGE_BYTES_PER_GB = 1024 ** 3;

export type CpuArchitecture = 'x86_64' | 'arm64';

/** The hourly price of one Fargate task of the given size. */
export function fargateTaskHourlyCost(
  prices: PriceTable,
  architecture: CpuArchitecture,
  vcpu: number,
  memoryGiB: number,
  spot = false,
): number {
  const onDemand =
    architecture === 'arm64'
      ? vcpu * prices.fargateArmVcpuHour + memoryGiB * prices.fargateArmGbHour
      : vcpu * prices.fargateX86VcpuHour + memoryGiB * prices.fargateX86GbHour;
  return spot ? onDemand * prices.fargateSpotFactor : onDemand;
}
