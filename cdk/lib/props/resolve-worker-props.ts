import type { CpuArchitecture } from '../../../contract/prices.ts';
import type { ClusterSettings } from './cluster-settings.ts';
import { ClusterPropsError } from './cluster-props-error.ts';
import { describeMemoryOptions, FARGATE_TASK_SIZES, fargateMemoryOptions } from './fargate-task-sizes.ts';
import { architecture, integer } from './prop-checks.ts';

/** The worker tasks' settings (size, celery processes, Spot) with every default filled in, after validation. */
export interface ResolvedWorkerProps {
  readonly workerArchitecture: CpuArchitecture;
  readonly workerVcpu: number;
  readonly workerMemoryGiB: number;
  readonly workerConcurrency: number;
  readonly maxMemoryPerChildKb?: number;
  readonly workerSpot: boolean;
}

function resolveWorkerSize(props: ClusterSettings): { vcpu: number; memoryGiB: number } {
  const vcpu = props.workerVcpu ?? 4;
  const options = fargateMemoryOptions(vcpu);
  if (options === undefined) {
    throw new ClusterPropsError(
      'workerVcpu',
      vcpu,
      `Fargate offers ${FARGATE_TASK_SIZES.map((o) => o.vcpu).join(', ')} vCPUs; pick one of them.`,
    );
  }
  const memoryGiB = props.workerMemoryGiB ?? Math.min(4 * vcpu, options[options.length - 1]!);
  if (!options.includes(memoryGiB)) {
    throw new ClusterPropsError(
      'workerMemoryGiB',
      memoryGiB,
      `Fargate does not offer ${memoryGiB} GiB with workerVcpu=${vcpu}; use ${describeMemoryOptions(options)}.`,
    );
  }
  return { vcpu, memoryGiB };
}

function resolveWorkerSpot(spot: boolean, workerArchitecture: CpuArchitecture): boolean {
  if (spot && workerArchitecture !== 'x86_64') {
    throw new ClusterPropsError(
      'workerSpot',
      spot,
      `Fargate Spot runs x86_64 tasks only, but workerArchitecture=${workerArchitecture}; set workerArchitecture=x86_64 or workerSpot=false.`,
    );
  }
  return spot;
}

/**
 * Validates the worker tasks' settings (architecture, a Fargate size, celery processes and their memory
 * limit, Spot) and fills in their defaults; throws a {@link ClusterPropsError} on the first problem.
 */
export function resolveWorkerProps(props: ClusterSettings): ResolvedWorkerProps {
  const workerArchitecture = architecture('workerArchitecture', props.workerArchitecture ?? 'x86_64');
  const { vcpu: workerVcpu, memoryGiB: workerMemoryGiB } = resolveWorkerSize(props);
  const workerConcurrency = integer(
    'workerConcurrency',
    props.workerConcurrency ?? Math.max(1, Math.floor(workerVcpu)),
    1,
    64,
  );
  const maxMemoryPerChildKb =
    props.maxMemoryPerChildKb === undefined
      ? undefined
      : integer('maxMemoryPerChildKb', props.maxMemoryPerChildKb, 1024);
  const workerSpot = resolveWorkerSpot(props.workerSpot ?? false, workerArchitecture);
  return {
    workerArchitecture,
    workerVcpu,
    workerMemoryGiB,
    workerConcurrency,
    maxMemoryPerChildKb,
    workerSpot,
  };
}
