/**
 * The cpu/memory pairs that Fargate (Linux, platform 1.4.0) accepts. Source: Amazon ECS Developer Guide,
 * "Amazon ECS task definition parameters for Fargate", table "Task size" (CPU value / memory value).
 */
export interface FargateCpuOption {
  /** vCPUs. */
  readonly vcpu: number;
  /** Allowed memory sizes in GiB. */
  readonly memoryGiB: readonly number[];
}

function range(from: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = from; v <= to; v += step) out.push(v);
  return out;
}

export const FARGATE_TASK_SIZES: readonly FargateCpuOption[] = [
  { vcpu: 0.25, memoryGiB: [0.5, 1, 2] },
  { vcpu: 0.5, memoryGiB: range(1, 4, 1) },
  { vcpu: 1, memoryGiB: range(2, 8, 1) },
  { vcpu: 2, memoryGiB: range(4, 16, 1) },
  { vcpu: 4, memoryGiB: range(8, 30, 1) },
  { vcpu: 8, memoryGiB: range(16, 60, 4) },
  { vcpu: 16, memoryGiB: range(32, 120, 8) },
];

/** The allowed memory sizes for `vcpu`, or undefined when Fargate has no such cpu size. */
export function fargateMemoryOptions(vcpu: number): readonly number[] | undefined {
  return FARGATE_TASK_SIZES.find((o) => o.vcpu === vcpu)?.memoryGiB;
}

/** Short human description of the memory options of one cpu size, e.g. `8-30 GiB in steps of 1`. */
export function describeMemoryOptions(memoryGiB: readonly number[]): string {
  if (memoryGiB.length <= 3) return `${memoryGiB.join(', ')} GiB`;
  const step = memoryGiB[1]! - memoryGiB[0]!;
  return `${memoryGiB[0]}-${memoryGiB[memoryGiB.length - 1]} GiB in steps of ${step}`;
}
