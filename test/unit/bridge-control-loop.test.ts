import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { actionResult, type ActionResult } from '../../bridge/src/act/action-result.ts';
import type { Decision, ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import { ControlLoop, type Actor } from '../../bridge/src/loop/control-loop.ts';
import type { Observation } from '../../bridge/src/observe/observation.ts';
import { METRIC_NAMES } from '../../contract/metric-names.ts';
import { idleFleetObservation } from '../support/idle-fleet-observation.ts';

const POLICY: ScalingPolicy = {
  minWorkers: 0,
  maxWorkers: 5,
  slotsPerWorkerFallback: 2,
  maxStepOut: 5,
  idleGraceSeconds: 60,
  staleAfterSeconds: 30,
  maxHourlyCost: Infinity,
  workerHourlyCost: 0.25,
};

/** A manual clock, spread into the loop's options: cycles run back to back, time moves only when the test says. */
function manualClock(start: number) {
  let t = start;
  return {
    now: () => t,
    sleep: async (ms: number) => {
      t += ms;
    },
    advance: (ms: number) => {
      t += ms;
    },
  };
}

/** `ready` queued and the idle workers `idleWorkers`, as the scripted observer reports them at `at`. */
function observation(at: number, ready: number, idleWorkers: string[]): Observation {
  return idleFleetObservation(at, ready, idleWorkers, 'scripted');
}

/** Records decisions instead of acting (a scripted stand-in for the loop's glue only). */
class RecordingActor implements Actor {
  readonly decisions: Decision[] = [];
  inFlight = false;
  async act(decision: Decision): Promise<ActionResult> {
    this.decisions.push(decision);
    if (decision.retire.length > 0)
      return actionResult('scaleIn', 'retired', { from: 1, to: 0, retired: decision.retire });
    return actionResult('none', 'nothing');
  }
}

describe('ControlLoop glue (scripted observer, recording actor)', () => {
  it('carries idle streaks between cycles, reports every metric, never logs a password', async () => {
    const clock = manualClock(1_800_000_000_000);
    const lines: string[] = [];
    const docs: Record<string, unknown>[] = [];
    const actor = new RecordingActor();
    const loop = new ControlLoop({
      observer: { observe: async () => observation(clock.now(), 0, ['a']) },
      actor,
      policy: POLICY,
      pollSeconds: 5,
      clusterName: 'test',
      ...clock,
      log: (event, fields) => lines.push(JSON.stringify({ event, ...fields })),
      emitMetrics: (d) => docs.push(d),
    });
    const first = await loop.runOnce();
    expect(first.decision.reason).toBe('IdleGrace');
    clock.advance(61_000);
    const second = await loop.runOnce();
    expect(second.decision.reason).toBe('DrainingIdle');
    expect(second.decision.retire).toEqual(['a']);
    expect(second.metrics.ScaleIn).toBe(1);
    expect(loop.decisionHistory.lastActionAt).toBe(clock.now());
    const doc = docs[1]!;
    const names = (
      doc._aws as { CloudWatchMetrics: { Metrics: { Name: string }[] }[] }
    ).CloudWatchMetrics[0]!.Metrics.map((m) => m.Name);
    for (const name of names) expect(METRIC_NAMES).toContain(name);
    expect(names).toEqual(
      expect.arrayContaining(['QueueReady', 'WorkersRunning', 'Utilisation', 'Heartbeat', 'CycleDuration']),
    );
    expect(doc.Cluster).toBe('test');
    expect(lines.join('\n')).toContain('DrainingIdle');
  });

  it('charges worker time to the calculations the workers run (CalculationCost EMF)', async () => {
    const clock = manualClock(1_800_000_000_000);
    const docs: Record<string, unknown>[] = [];
    const busyObservation = (): Observation => {
      const o = observation(clock.now(), 0, ['a']);
      return {
        ...o,
        workers: o.workers!.map((w) => ({
          ...w,
          active: [{ id: 't1', name: 'safely_call', startedAt: clock.now() - 60_000, calculationId: 17 }],
        })),
      };
    };
    const loop = new ControlLoop({
      observer: { observe: async () => busyObservation() },
      policy: POLICY,
      pollSeconds: 5,
      clusterName: 'test',
      ...clock,
      emitMetrics: (d) => docs.push(d),
    });
    await loop.runOnce();
    expect(docs.filter((d) => 'CalculationCost' in d)).toEqual([]);
    clock.advance(5_000);
    await loop.runOnce();
    const cost = docs.filter((d) => 'CalculationCost' in d);
    expect(cost).toHaveLength(1);
    // 5 s of one task on a worker of 2 slots = 2.5 worker-seconds at 0.25 USD/h.
    expect(cost[0]).toMatchObject({ CalculationId: '17', CalculationWorkerSeconds: 2.5 });
    expect(cost[0]!.CalculationCost as number).toBeCloseTo((2.5 * 0.25) / 3600, 12);
  });

  it('rewrites the heartbeat file after every cycle, holds included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oqe-heartbeat-'));
    try {
      const clock = manualClock(1_800_000_000_000);
      const heartbeatFile = join(dir, 'heartbeat');
      const loop = new ControlLoop({
        observer: { observe: async () => ({ errors: ['broker down'] }) },
        policy: POLICY,
        pollSeconds: 5,
        clusterName: 'test',
        ...clock,
        heartbeatFile,
      });
      await loop.runOnce();
      expect(readFileSync(heartbeatFile, 'utf8').trim()).toBe(new Date(clock.now()).toISOString());
      clock.advance(5_000);
      await loop.runOnce();
      expect(readFileSync(heartbeatFile, 'utf8').trim()).toBe(new Date(clock.now()).toISOString());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an observer that throws becomes a hold with the reason, and the loop keeps going', async () => {
    const clock = manualClock(1_800_000_000_000);
    let calls = 0;
    const actor = new RecordingActor();
    const loop = new ControlLoop({
      observer: {
        observe: async () => {
          calls++;
          if (calls === 1) throw new Error('connect ECONNREFUSED 127.0.0.1:5672');
          return observation(clock.now(), 3, []);
        },
      },
      actor,
      policy: POLICY,
      pollSeconds: 5,
      clusterName: 'test',
      ...clock,
    });
    const controller = new AbortController();
    const seen: string[] = [];
    const origRunOnce = loop.runOnce.bind(loop);
    loop.runOnce = async () => {
      const r = await origRunOnce();
      seen.push(r.decision.reason);
      if (seen.length === 2) controller.abort();
      return r;
    };
    await loop.run(controller.signal);
    expect(seen).toEqual(['HoldOnMissingData', 'Activate']);
    expect(actor.decisions[1]!.desired).toBe(2);
  });

  it('activation path (scripted queue probe): starts a cycle early only on ready demand the fleet cannot serve', async () => {
    // Poll 5 s, looks every 500 ms. Each case: the first cycle sees `seen` ready and the fleet of `idle`
    // workers (2 slots each, all idle); then the probe reports `ready` and we count the looks until a cycle.
    async function looksUntilCycle(seen: number, idle: string[], ready: number, maxWorkers = 5) {
      const clock = manualClock(1_800_000_000_000);
      let looks = 0;
      let cycles = 0;
      const controller = new AbortController();
      const loop = new ControlLoop({
        observer: {
          observe: async () => {
            cycles++;
            if (cycles === 2) controller.abort();
            return observation(clock.now(), seen, idle);
          },
        },
        policy: { ...POLICY, maxWorkers },
        pollSeconds: 5,
        clusterName: 'test',
        ...clock,
        activation: {
          probe: {
            passive: async () => {
              looks++;
              return { ready };
            },
          },
          intervalMs: 500,
        },
      });
      const start = clock.now();
      await loop.run(controller.signal);
      return { looks, activations: loop.activations, secondCycleAfterMs: loop.lastCycle!.startedAt - start };
    }
    // No worker, 3 ready: the first look starts the cycle, 500 ms in instead of 5 s.
    expect(await looksUntilCycle(0, [], 3)).toEqual({ looks: 1, activations: 1, secondCycleAfterMs: 500 });
    // One idle worker has 2 free slots: 2 ready fit, no early cycle (9 looks, the 10th tick is the poll).
    expect(await looksUntilCycle(0, ['a'], 2)).toEqual({
      looks: 9,
      activations: 0,
      secondCycleAfterMs: 5000,
    });
    // 3 ready exceed its 2 free slots: early.
    expect((await looksUntilCycle(0, ['a'], 3)).activations).toBe(1);
    // The last cycle already saw these 3 ready and decided on them: not re-decided every look.
    expect((await looksUntilCycle(3, ['a'], 3)).activations).toBe(0);
    // At the maximum a cycle could add no worker.
    expect((await looksUntilCycle(0, ['a'], 3, 1)).activations).toBe(0);
  });
});
