/**
 * The compute platform as the simulator models it: Fargate start-up, billing and ECS service limits, and the
 * worker size. Every number cites its source in docs/benchmarks.md ("Assumptions").
 */
import { DEFAULT_PRICES, fargateTaskHourlyCost } from '../../contract/prices.ts';
import type { Prng } from '../../common/prng.ts';

export interface FargateModel {
  /** Median seconds from launch request to a consuming celery worker (image pull dominates). */
  readonly startupMedianSeconds: number;
  /** Log-space spread of the start-up time; 0 makes it constant (tests). */
  readonly startupSigma: number;
  readonly startupMinSeconds: number;
  readonly startupMaxSeconds: number;
  /** Fargate bills per second with a one-minute minimum. */
  readonly billingMinimumSeconds: number;
  /** An ECS service launches at most this many tasks a minute. */
  readonly launchesPerMinute: number;
  /** SIGTERM to SIGKILL when a task is stopped (ECS `stopTimeout`, default 30 s). */
  readonly stopTimeoutSeconds: number;
  /** Seconds for an idle worker to exit after it is told to stop. */
  readonly idleShutdownSeconds: number;
  /** Celery worker processes per worker (the task's vCPUs). */
  readonly slotsPerWorker: number;
  readonly vcpu: number;
  readonly memoryGiB: number;
  /** USD per worker-hour, from contract/prices.ts for this task size. */
  readonly workerHourlyCost: number;
  readonly maxWorkers: number;
}

const VCPU = 4;
const MEMORY_GIB = 16;

/** The defaults used for docs/benchmarks.md: 4 vCPU / 16 GiB x86 workers, at most 16 (64 engine cores). */
export const DEFAULT_FARGATE_MODEL: FargateModel = {
  startupMedianSeconds: 50,
  startupSigma: 0.3,
  startupMinSeconds: 25,
  startupMaxSeconds: 180,
  billingMinimumSeconds: 60,
  launchesPerMinute: 500,
  stopTimeoutSeconds: 30,
  idleShutdownSeconds: 2,
  slotsPerWorker: 4,
  vcpu: VCPU,
  memoryGiB: MEMORY_GIB,
  workerHourlyCost: fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', VCPU, MEMORY_GIB),
  maxWorkers: 16,
};

/** One start-up time drawn from the model's distribution. */
export function drawStartupSeconds(model: FargateModel, prng: Prng): number {
  const s =
    model.startupSigma === 0
      ? model.startupMedianSeconds
      : prng.logNormal(model.startupMedianSeconds, model.startupSigma);
  return Math.min(model.startupMaxSeconds, Math.max(model.startupMinSeconds, s));
}

/** Billed seconds for a task that ran from `launchedAt` to `stoppedAt`. */
export function billedSeconds(model: FargateModel, launchedAt: number, stoppedAt: number): number {
  return Math.max(model.billingMinimumSeconds, stoppedAt - launchedAt);
}

/**
 * Fargate start-up as a function of the image's size: a fixed part (capacity, the task's network interface,
 * the container's own start) plus the pull, which Fargate does whole at every launch (no cache). Both figures
 * are published measurements, cited in docs/benchmarks.md ("Start-up and image size").
 */
export interface ImagePullModel {
  /** Seconds a launch takes whatever the image: the simulator's shortest start-up. */
  readonly fixedSeconds: number;
  /** Megabytes of image pulled and unpacked per second. */
  readonly pullMegabytesPerSecond: number;
}

/**
 * Two published pull rates, both with the fixed part at 25 s (`startupMinSeconds`): a 2,700 MB image that
 * started in 55 s (2,670 MB / 30 s, about 90 MB/s) and a 413 MB image that started in 57 s on average from a
 * private subnet behind a NAT instance (413 MB / 32 s, about 13 MB/s).
 */
export const IMAGE_PULL_MODELS = {
  fast: { fixedSeconds: 25, pullMegabytesPerSecond: 2700 / (55 - 25) },
  natInstance: { fixedSeconds: 25, pullMegabytesPerSecond: 413 / (57 - 25) },
} as const satisfies Record<string, ImagePullModel>;

/** Seconds from launch request to a running container for an image of `imageMegabytes`. */
export function startupSecondsForImage(model: ImagePullModel, imageMegabytes: number): number {
  if (!(imageMegabytes >= 0)) {
    throw new Error(`image size ${imageMegabytes} MB: give the image's size in megabytes, 0 or more`);
  }
  return model.fixedSeconds + imageMegabytes / model.pullMegabytesPerSecond;
}
