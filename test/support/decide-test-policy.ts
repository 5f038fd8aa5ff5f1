import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';

/** The scaling policy of the decision tables: small numbers, so that every expected count is hand-computable. */
export const DECIDE_TEST_POLICY: ScalingPolicy = {
  minWorkers: 0,
  maxWorkers: 10,
  slotsPerWorkerFallback: 2,
  maxStepOut: 4,
  idleGraceSeconds: 60,
  staleAfterSeconds: 30,
  maxHourlyCost: Infinity,
  workerHourlyCost: 0.1,
};
