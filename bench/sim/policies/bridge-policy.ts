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
}

/** The Observation the bridge's observers would return for this fleet (times in ms). */
export function observationOf(view: FleetView): Observation {
  const at = view.now * 1000;
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
    errors: [],
  };
}

export class BridgePolicy implements SimPolicy {
  readonly name = 'bridge';
  readonly intervalSeconds: number;
  readonly victims = 'none' as const;
  readonly initialWorkers: number;
  private history: DecisionHistory = { idleSince: {} };
  /** Reasons seen, for the report. */
  readonly reasons = new Map<string, number>();

  constructor(private readonly config: BridgeSimConfig) {
    this.intervalSeconds = config.pollSeconds;
    this.initialWorkers = config.policy.minWorkers;
  }

  evaluate(view: FleetView): SimAction | undefined {
    const d = decide(observationOf(view), this.config.policy, this.history, view.now * 1000);
    this.history = d.history;
    this.reasons.set(d.reason, (this.reasons.get(d.reason) ?? 0) + 1);
    if (d.desired === view.desired && d.retire.length === 0) return undefined;
    return { desired: d.desired, retire: d.retire };
  }
}
