/**
 * The bridge as a simulated policy: every cycle it builds the same `Observation` its observers build on a
 * real cluster and calls the bridge's own `decide` (imported, not copied). Scale-out raises the desired
 * count; scale-in names idle units, which the simulator stops after checking they are idle, as the bridge's
 * drain protocol does; every other unit is protected (victims `none`).
 */
import { decide } from '../../../bridge/src/decide/decide.ts';
import type { DecisionHistory, ScalingPolicy } from '../../../bridge/src/decide/decision.ts';
import type { Observation } from '../../../bridge/src/observe/observation.ts';
import type { FleetView, SimAction, SimPolicy } from '../sim-policy.ts';

export interface BridgeSimConfig {
  readonly policy: ScalingPolicy;
  /** The control loop's period (OQE_POLL_SECONDS). */
  readonly pollSeconds: number;
  /** Feed the master's calculation events into the observation (the engine-aware bridge); default off. */
  readonly engineAware?: boolean;
  /** Table id; default `bridge`. */
  readonly name?: string;
}

/** The Observation the bridge's observers would return for this fleet (times in ms). */
export function observationOf(view: FleetView, engineAware = false): Observation {
  const at = view.now * 1000;
  // The master's events arrive as they happen; the simulator models no delay for them.
  const calculations =
    engineAware && view.calculations
      ? {
          calculations: view.calculations.map((c) => ({
            id: c.id,
            status: c.status,
            since: c.since * 1000,
            tasksHeldByMaster: c.tasksHeldByMaster,
          })),
          observedAt: at,
        }
      : undefined;
  const running = view.units.filter((u) => u.state === 'running');
  return {
    queue: {
      ready: view.ready,
      unacked: view.unacked,
      consumers: running.filter((u) => u.consuming).length,
      observedAt: at,
      source: 'simulator',
    },
    workers: running.map((u) => ({
      hostname: `oq@${u.id}`,
      poolSize: u.slots,
      active: u.taskStarts.map((s, i) => ({
        id: `${u.id}-${i}`,
        name: 'openquake.baselib.parallel.safely_call',
        startedAt: s * 1000,
      })),
      reserved: 0,
      consuming: u.consuming,
      observedAt: at,
    })),
    compute: {
      desired: view.desired,
      running: running.length,
      pending: view.units.filter((u) => u.state === 'pending').length,
      units: view.units.map((u) => ({
        unitId: u.id,
        celeryHostname: `oq@${u.id}`,
        state: u.state,
        startedAt: u.launchedAt * 1000,
        protected: true,
      })),
      observedAt: at,
    },
    ...(calculations ? { calculations } : {}),
    errors: [],
  };
}

export class BridgePolicy implements SimPolicy {
  readonly name: string;
  readonly intervalSeconds: number;
  readonly victims = 'none' as const;
  readonly initialWorkers: number;
  private history: DecisionHistory = { idleSince: {} };
  /** Reasons seen, for the report. */
  readonly reasons = new Map<string, number>();

  constructor(private readonly config: BridgeSimConfig) {
    this.intervalSeconds = config.pollSeconds;
    this.name = config.name ?? 'bridge';
    this.initialWorkers = config.policy.minWorkers;
  }

  evaluate(view: FleetView): SimAction | undefined {
    const d = decide(
      observationOf(view, this.config.engineAware),
      this.config.policy,
      this.history,
      view.now * 1000,
    );
    this.history = d.history;
    this.reasons.set(d.reason, (this.reasons.get(d.reason) ?? 0) + 1);
    if (d.desired === view.desired && d.retire.length === 0) return undefined;
    return { desired: d.desired, retire: d.retire };
  }
}
