/**
 * The simulator's prediction of a run on the local process backend, for the calibrations: the run's own trace,
 * the bridge's policy exactly as the run configured it (local/cluster/local-run-policy.ts), and Fargate's model
 * with the platform figures measured on the run itself (start-up, shutdown) and no billing minimum (local
 * processes are not billed). Nothing else is fitted.
 */
import { localRunPolicy, type LocalFleetSettings } from '../../local/cluster/local-run-policy.ts';
import { DEFAULT_FARGATE_MODEL, type FargateModel } from '../sim/fargate-model.ts';
import { simulate, type SimResult } from '../sim/fleet-simulator.ts';
import { BridgePolicy } from '../sim/policies/bridge-policy.ts';
import type { Trace } from '../sim/trace.ts';

/** What the run measured of its platform, seconds. */
export interface MeasuredPlatform {
  /** Spawn to a worker taking work: the stand-in for Fargate's image pull. */
  readonly startupSeconds: number;
  /** A retired worker's stop request to its exit. */
  readonly idleShutdownSeconds: number;
}

/** The middle value, the mean of the two middle ones for an even count (of measured start-ups, shutdowns). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function predictLocalRun(
  trace: Trace,
  fleet: LocalFleetSettings,
  platform: MeasuredPlatform,
): SimResult {
  const model: FargateModel = {
    ...DEFAULT_FARGATE_MODEL,
    startupMedianSeconds: platform.startupSeconds,
    startupSigma: 0,
    startupMinSeconds: 0,
    billingMinimumSeconds: 0,
    slotsPerWorker: fleet.slotsPerWorker,
    maxWorkers: fleet.maxWorkers,
    idleShutdownSeconds: platform.idleShutdownSeconds,
  };
  return simulate(
    trace,
    () => new BridgePolicy({ pollSeconds: fleet.pollSeconds, policy: localRunPolicy(fleet) }),
    model,
    { seed: 1, tailSeconds: fleet.idleGraceSeconds + 60 },
  );
}
