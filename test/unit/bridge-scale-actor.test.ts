/**
 * The actor's branches that real workers reach only by chance (a task landing between the cancel and the
 * second look, a worker that does not answer, a throttled API), made deterministic with scripted in-process
 * stubs of the worker control and the backend. The real-worker path is test/integration/bridge-scale-in.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ScaleActor } from '../../bridge/src/act/scale-actor.ts';
import type { WorkerControl } from '../../bridge/src/act/worker-control.ts';
import type { ComputeBackend } from '../../bridge/src/compute/compute-backend.ts';
import { decide } from '../../bridge/src/decide/decide.ts';
import type { Decision, ScalingPolicy } from '../../bridge/src/decide/decision.ts';
import type { Observation, WorkerObservation } from '../../bridge/src/observe/observation.ts';

const NOW = 1_800_000_000_000;
const POLICY: ScalingPolicy = {
  minWorkers: 0,
  maxWorkers: 10,
  slotsPerWorkerFallback: 1,
  maxStepOut: 5,
  idleGraceSeconds: 0,
  staleAfterSeconds: 30,
  maxHourlyCost: Infinity,
  workerHourlyCost: 0.1,
};

function w(id: string, active = 0, consuming = true): WorkerObservation {
  return {
    hostname: `oq@${id}`,
    poolSize: 1,
    active: Array.from({ length: active }, (_, i) => ({ id: `${id}-${i}`, name: 'safely_call' })),
    reserved: 0,
    consuming,
    observedAt: NOW,
  };
}

function fleet(workers: WorkerObservation[], ready = 0): Observation {
  return {
    queue: { ready, unacked: 0, consumers: workers.length, observedAt: NOW, source: 'scripted' },
    workers,
    compute: {
      desired: workers.length,
      running: workers.length,
      pending: 0,
      units: workers.map((x) => ({
        unitId: x.hostname.slice(3),
        celeryHostname: x.hostname,
        state: 'running' as const,
      })),
      observedAt: NOW,
    },
    errors: [],
  };
}

class ScriptedBackend implements ComputeBackend {
  readonly name = 'scripted';
  readonly calls: string[] = [];
  failures: unknown[] = [];
  async describe(): Promise<never> {
    throw new Error('not used');
  }
  async scaleTo(n: number): Promise<void> {
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.calls.push(`scaleTo ${n}`);
  }
  async retire(ids: readonly string[]): Promise<void> {
    this.calls.push(`retire ${ids.join(',')}`);
  }
  async protect(ids: readonly string[], minutes: number): Promise<void> {
    this.calls.push(`protect ${ids.join(',')} ${minutes}`);
  }
  async release(ids: readonly string[]): Promise<void> {
    this.calls.push(`release ${ids.join(',')}`);
  }
  async close(): Promise<void> {}
}

/** Worker control whose second look is scripted per hostname; each call is logged with its batch. */
class ScriptedControl implements WorkerControl {
  readonly calls: string[] = [];
  constructor(private readonly secondLook: Record<string, WorkerObservation | undefined>) {}
  async cancelConsumer(hs: readonly string[]): Promise<ReadonlySet<string>> {
    this.calls.push(`cancel ${hs.join(',')}`);
    return new Set(hs);
  }
  async addConsumer(hs: readonly string[]): Promise<ReadonlySet<string>> {
    this.calls.push(`add ${hs.join(',')}`);
    return new Set(hs);
  }
  async inspect(hs: readonly string[]): Promise<ReadonlyMap<string, WorkerObservation>> {
    this.calls.push(`inspect ${hs.join(',')}`);
    return new Map(hs.flatMap((h) => (this.secondLook[h] ? [[h, this.secondLook[h]] as const] : [])));
  }
}

function actor(backend: ComputeBackend, control: WorkerControl): ScaleActor {
  return new ScaleActor({
    backend,
    control,
    queue: 'celery',
    settleMs: 0,
    sleep: async () => undefined,
    now: () => NOW,
  });
}

describe('ScaleActor (scripted worker control and backend stubs)', () => {
  it('retires a worker confirmed idle after its consumer is cancelled, and only that one', async () => {
    const o = fleet([w('a', 1), w('b')]);
    const d = decide(o, POLICY, { idleSince: { 'oq@b': NOW - 5000 } }, NOW);
    expect(d.retire).toEqual(['b']);
    const backend = new ScriptedBackend();
    const control = new ScriptedControl({ 'oq@b': w('b', 0, false) });
    const r = await actor(backend, control).act(d, o);
    expect(r).toMatchObject({ kind: 'scaleIn', retired: ['b'], aborted: [], from: 2, to: 1 });
    expect(control.calls).toEqual(['cancel oq@b', 'inspect oq@b']);
    expect(backend.calls).toEqual(['protect a 10', 'retire b']);
  });

  it('aborts and gives the consumer back when the worker took a task between cancel and second look', async () => {
    const o = fleet([w('a'), w('b')]);
    const d = decide(o, POLICY, { idleSince: {} }, NOW);
    expect([...d.retire].sort()).toEqual(['a', 'b']);
    const backend = new ScriptedBackend();
    const control = new ScriptedControl({ 'oq@a': w('a', 1, false), 'oq@b': w('b', 0, false) });
    const r = await actor(backend, control).act(d, o);
    expect(r.retired).toEqual(['b']);
    expect(r.aborted).toEqual(['a']);
    expect(control.calls).toContain('add oq@a');
    expect(backend.calls).toEqual(['retire b']);
  });

  it('drains a batch with one cancel, one look at exactly those workers and one give-back for the aborted', async () => {
    // Four idle workers to retire: b stays idle, c took a task between the looks, d is silent at the second look,
    // e still consumes at the first look (the cancel not yet done) and is looked at again alone.
    const o = fleet([w('a', 1), w('b'), w('c'), w('d'), w('e')]);
    const d = decide(o, POLICY, { idleSince: {} }, NOW);
    expect([...d.retire].sort()).toEqual(['b', 'c', 'd', 'e']);
    const backend = new ScriptedBackend();
    const looks: Record<string, WorkerObservation>[] = [
      { 'oq@b': w('b', 0, false), 'oq@c': w('c', 1, false), 'oq@e': w('e', 0, true) },
      { 'oq@e': w('e', 0, false) },
    ];
    const control = new ScriptedControl({});
    control.inspect = async (hs) => {
      control.calls.push(`inspect ${hs.join(',')}`);
      const look: Record<string, WorkerObservation> = looks.shift() ?? {};
      return new Map(hs.flatMap((h) => (look[h] ? [[h, look[h]] as const] : [])));
    };
    const r = await actor(backend, control).act(d, o);
    expect([...r.retired!].sort()).toEqual(['b', 'e']);
    expect([...r.aborted!].sort()).toEqual(['c', 'd']);
    const batch = d.retire.map((id) => `oq@${id}`);
    expect(control.calls).toEqual([
      `cancel ${batch.join(',')}`,
      `inspect ${batch.join(',')}`,
      'inspect oq@e',
      `add ${batch.filter((h) => h === 'oq@c' || h === 'oq@d').join(',')}`,
    ]);
    expect(backend.calls.filter((c) => c.startsWith('retire'))).toEqual([
      `retire ${d.retire.filter((id) => id === 'b' || id === 'e').join(',')}`,
    ]);
  });

  it('looks again while the cancel has not taken effect, and aborts if it never does', async () => {
    const o = fleet([w('a')]);
    const d = decide(o, POLICY, { idleSince: {} }, NOW);
    const control = new ScriptedControl({ 'oq@a': w('a', 0, true) });
    const r = await actor(new ScriptedBackend(), control).act(d, o);
    expect(r.aborted).toEqual(['a']);
    expect(control.calls.filter((c) => c.startsWith('inspect'))).toHaveLength(3);
    expect(control.calls).toContain('add oq@a');
  });

  it('aborts when the worker does not answer the second look', async () => {
    const o = fleet([w('a')]);
    const d = decide(o, POLICY, { idleSince: {} }, NOW);
    const backend = new ScriptedBackend();
    const control = new ScriptedControl({});
    const r = await actor(backend, control).act(d, o);
    expect(r).toMatchObject({ kind: 'none', retired: [], aborted: ['a'] });
    expect(backend.calls).toEqual([]);
  });

  it('after a restart gives a drained worker its consumer back when the decision keeps it', async () => {
    const o = fleet([w('a', 1), w('b', 0, false)], 1);
    const d = decide(o, POLICY, { idleSince: {} }, NOW);
    expect(d.retire).toEqual([]);
    const control = new ScriptedControl({});
    const r = await actor(new ScriptedBackend(), control).act(d, o);
    expect(r.restored).toEqual(['b']);
    expect(control.calls).toEqual(['add oq@b']);
  });

  it('protects busy and silent units (celery 4.4 busy workers do not answer), releases long-idle ones', async () => {
    const o = fleet([w('a', 1), w('b'), w('c')]);
    // c is running but its worker did not answer (silent); b has been idle 60 s and is protected.
    const observation: Observation = {
      ...o,
      workers: o.workers!.filter((x) => x.hostname !== 'oq@c'),
      compute: {
        ...o.compute!,
        units: o.compute!.units.map((u) => (u.unitId === 'b' ? { ...u, protected: true } : u)),
      },
    };
    const d = decide(observation, { ...POLICY, minWorkers: 3 }, { idleSince: { 'oq@b': NOW - 60_000 } }, NOW);
    expect(d.retire).toEqual([]);
    const backend = new ScriptedBackend();
    await actor(backend, new ScriptedControl({})).act(d, observation);
    expect(backend.calls).toEqual(['protect a,c 10', 'release b']);
  });

  it('on a hold scales nothing and touches no consumer; it only protects the units it cannot see idle', async () => {
    const o = { ...fleet([w('a'), w('b', 0, false)]), workers: undefined };
    const d = decide(o, POLICY, { idleSince: {} }, NOW);
    expect(d.reason).toBe('HoldOnMissingData');
    const backend = new ScriptedBackend();
    const control = new ScriptedControl({});
    expect((await actor(backend, control).act(d, o)).kind).toBe('none');
    expect(control.calls).toEqual([]);
    // No worker answered: each running unit may be busy, so each is protected (never released, never retired).
    expect(backend.calls).toEqual(['protect a,b 10']);
  });

  it('keeps a busy worker protected through a rolling deployment while the bridge holds for longer than the expiry', async () => {
    // An ECS deployment of a new worker revision: old tasks a (busy) and b (idle, protected long ago) and the
    // new revision's n1 and n2. ECS stops an old task as soon as it is unprotected. Meanwhile the queue figures
    // are missing (the management API down, the master's broker being reconfigured): the bridge holds for 20
    // minutes. The busy worker must stay protected all along; the idle one is freed only once the bridge sees
    // clearly again.
    let now = NOW;
    const backend = new ScriptedBackend();
    const a = new ScaleActor({
      backend,
      control: new ScriptedControl({}),
      queue: 'celery',
      settleMs: 0,
      sleep: async () => undefined,
      now: () => now,
    });
    const rolling = (t: number, queueAnswers: boolean): Observation => {
      const base = fleet([w('a', 1), w('b'), w('n1'), w('n2')]);
      return {
        ...base,
        queue: queueAnswers ? { ...base.queue!, observedAt: t } : undefined,
        workers: base.workers!.map((x) => ({ ...x, observedAt: t })),
        compute: {
          ...base.compute!,
          observedAt: t,
          units: base.compute!.units.map((u) => (u.unitId === 'b' ? { ...u, protected: true } : u)),
        },
      };
    };
    const history = { idleSince: { 'oq@b': NOW - 3_600_000 } };
    const protectedAt: number[] = [];
    // One cycle a minute for 20 minutes; the protection lasts 10 and is renewed at half of it.
    for (let minute = 0; minute <= 20; minute++) {
      now = NOW + minute * 60_000;
      const o = rolling(now, false);
      const d = decide(o, POLICY, history, now);
      expect(d.reason, `minute ${minute}`).toBe('HoldOnMissingData');
      const before = backend.calls.length;
      await a.act(d, o);
      if (backend.calls.slice(before).some((c) => /^protect (\S+,)?a[ ,]/.test(c))) protectedAt.push(minute);
    }
    // Renewed before each 10-minute protection ran out (at 0, 6, 12, 18): never a gap for the deployment.
    expect(protectedAt).toEqual([0, 6, 12, 18]);
    expect(backend.calls.some((c) => /^(release|retire)/.test(c))).toBe(false);
    // The queue answers again: the long-idle old worker is released, so the deployment can replace it.
    now += 60_000;
    const clear = rolling(now, true);
    const d = decide(clear, { ...POLICY, minWorkers: 4 }, history, now);
    expect(d.reason).not.toMatch(/^Hold/);
    await a.act(d, clear);
    expect(backend.calls.at(-1)).toMatch(/^release .*b/);
  });

  it('reports a failed scale-out without throwing (the SDK client did the retrying)', async () => {
    const o = fleet([w('a', 1)], 3);
    const d = decide(o, POLICY, { idleSince: {} }, NOW);
    expect(d.desired).toBe(4);
    const backend = new ScriptedBackend();
    backend.failures = [
      Object.assign(new Error('vCPU limit'), {
        name: 'InvalidParameterException',
        $metadata: { httpStatusCode: 400 },
      }),
    ];
    const failed = await actor(backend, new ScriptedControl({})).act(d, o);
    expect(failed).toMatchObject({ kind: 'failed' });
    expect(failed.detail).toContain('InvalidParameterException: vCPU limit');
  });

  it('one action at a time', async () => {
    const o = fleet([w('a', 1)], 3);
    const d: Decision = decide(o, POLICY, { idleSince: {} }, NOW);
    let release!: () => void;
    const slow = new ScriptedBackend();
    slow.scaleTo = () => new Promise<void>((r) => (release = r));
    const a = actor(slow, new ScriptedControl({}));
    const first = a.act(d, o);
    await new Promise((r) => setTimeout(r, 0));
    expect(a.inFlight).toBe(true);
    expect((await a.act(d, o)).kind).toBe('skipped');
    release();
    expect((await first).kind).toBe('scaleOut');
  });
});
