/**
 * A short run of the real-parts benchmark: the bridge's ControlLoop on the local RabbitMQ scaling a moto ECS
 * service after a burst. The full benchmark (`npm run bench`) runs many more trials and writes docs/.
 */
import { expect, it } from 'vitest';
import { percentile } from '../../common/percentile.ts';
import { measureDecisionLatencyLocally } from '../support/local-decision-latency.ts';
import { describeWithServices } from '../support/services.ts';

it('percentile: nearest rank, p99 of fewer than 100 samples is the maximum', () => {
  expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
  expect(percentile([5, 1, 4, 2, 3], 99)).toBe(5);
  expect(percentile([10, 20], 50)).toBe(10);
  expect(() => percentile([], 50)).toThrow(/no samples/);
});

describeWithServices('bench: decision latency on real parts (RabbitMQ, moto)', () => {
  // How long a burst takes to reach moto is the benchmark's figure (docs/benchmarks.md), not asserted here.
  it('measures each burst until its scale-out reached moto', async () => {
    const r = await measureDecisionLatencyLocally('oqe-bench-latency', {
      pollSeconds: 1,
      trials: 3,
      burst: 20,
      seed: 3,
    });
    expect(r.failures).toEqual([]);
    expect(r.samplesMs).toHaveLength(3);
    // 20 messages / 2 slots per worker = 10 workers (maxStepOut 10): the count the bridge decided landed.
    expect(r.lastDesiredSeen).toBe(10);
    for (const ms of r.samplesMs) expect(ms).toBeGreaterThan(0);
  });
});
