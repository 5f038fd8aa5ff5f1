import { DEFAULT_FARGATE_MODEL, type FargateModel } from '../../bench/sim/fargate-model.ts';

/**
 * The simulator's platform with a constant 40 s start-up and one slot per worker, so that the simulator
 * tests' expectations are computable by hand.
 */
export const HAND_COMPUTABLE_MODEL: FargateModel = {
  ...DEFAULT_FARGATE_MODEL,
  startupMedianSeconds: 40,
  startupSigma: 0,
  slotsPerWorker: 1,
  stopTimeoutSeconds: 30,
  idleShutdownSeconds: 2,
};
