/**
 * The results of `npm run bench` (measured on real parts), stored in docs/bench-real.json so that
 * `npm run simulate` can render them into docs/benchmarks.md without measuring again.
 */

export interface LatencyResult {
  /** The control loop's poll period (OQE_POLL_SECONDS) during the trials. */
  readonly pollSeconds: number;
  /** The observer's remote-control collection time when not its default (a what-if), ms. */
  readonly workersMs?: number;
  /** The loop's activation path: ms between live queue looks, 0 when off; absent in runs before it existed. */
  readonly activationMs?: number;
  readonly trials: number;
  readonly burst: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Trials with no scale-out within 30 s (not in the percentiles), with the loop's last decision. */
  readonly failedTrials?: readonly string[];
  /** Mean wall time of a cycle that scaled out, ms. */
  readonly cycleMs: number;
  /** What the measured path is made of (which observer, which backend). */
  readonly path: string;
}

export interface CycleCostResult {
  readonly cycles: number;
  /** Process CPU time (user + system) per cycle, ms. */
  readonly cpuMsPerCycle: number;
  /** Resident set size after the cycles, MiB. */
  readonly rssMiB: number;
  /** Heap growth over the cycles, KiB per cycle (a leak shows here). */
  readonly heapKiBPerCycle: number;
  readonly wallMsPerCycle: number;
  readonly path: string;
}

export interface BrokerLoadPoint {
  readonly workers: number;
  /** Broker (beam.smp) CPU ms per second of wall time while the bridge polls. */
  readonly brokerCpuMsPerSecond: number;
  /** The same with no bridge polling, for the baseline of idle workers alone. */
  readonly baselineCpuMsPerSecond: number;
  /** One observation cycle's wall time, ms. */
  readonly cycleMs: number;
  /** Remote-control replies received per cycle. */
  readonly replies: number;
  /** The remote-control commands of a steady-state cycle (CeleryObserver.lastCommands). */
  readonly commands?: readonly string[];
}

export interface CalibrationResult {
  readonly trace: string;
  readonly realMakespanSeconds: number;
  readonly simMakespanSeconds: number;
  readonly realWorkerSeconds: number;
  readonly simWorkerSeconds: number;
  readonly notes: string;
}

export interface BenchRealResults {
  readonly measuredAt: string;
  readonly machine: string;
  readonly latency?: readonly LatencyResult[];
  readonly cycle?: CycleCostResult;
  readonly brokerLoad?: readonly BrokerLoadPoint[];
  readonly calibration?: CalibrationResult;
  /** The same comparison on a real OpenQuake Engine calculation (the demo's engine run). */
  readonly engineCalibration?: CalibrationResult;
  /** What one observation cycle sends to the workers, in words, for the broker-load paragraph. */
  readonly brokerCycleCommands?: string;
  /** What could not be measured and why. */
  readonly notes: readonly string[];
}
