/**
 * The bridge's scaling policy for a run on one machine, the same for the synthetic and the engine runs (and for
 * the simulator's prediction of them, bench/real): the fleet's bounds and idle grace from the run, one step out to
 * the whole fleet, stale data after five polls, no cost cap, and the Fargate price of a worker of the local size.
 */
import type { ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost } from '../../contract/prices.ts';

/** The fleet of a local run, as its options give it. */
export interface LocalFleetSettings {
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly slotsPerWorker: number;
  readonly idleGraceSeconds: number;
  readonly pollSeconds: number;
  /** Spawn to a consuming worker on the run's backend (the bridge's OQE_WORKER_STARTUP_SECONDS). */
  readonly workerStartupSeconds: number;
}

/** USD per hour of the Fargate worker a local one stands for: one x86 vCPU a process, 2 GiB a vCPU. */
export function localWorkerHourlyCost(slotsPerWorker: number): number {
  return fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', slotsPerWorker, 2 * slotsPerWorker);
}

export function localRunPolicy(fleet: LocalFleetSettings): ScalingPolicy {
  return {
    minWorkers: fleet.minWorkers,
    maxWorkers: fleet.maxWorkers,
    slotsPerWorkerFallback: fleet.slotsPerWorker,
    maxStepOut: fleet.maxWorkers,
    idleGraceSeconds: fleet.idleGraceSeconds,
    staleAfterSeconds: Math.max(10, 5 * fleet.pollSeconds),
    maxHourlyCost: Infinity,
    workerHourlyCost: localWorkerHourlyCost(fleet.slotsPerWorker),
    workerStartupSeconds: fleet.workerStartupSeconds,
  };
}
