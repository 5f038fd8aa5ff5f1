/** The simulator's start-up by image size: fixed part plus the pull, from the two published measurements. */
import { describe, expect, it } from 'vitest';
import { IMAGE_PULL_MODELS, startupSecondsForImage } from '../../bench/sim/fargate-model.ts';

describe('startupSecondsForImage', () => {
  it('reproduces the measurements the pull rates come from', () => {
    expect(startupSecondsForImage(IMAGE_PULL_MODELS.fast, 2700)).toBeCloseTo(55, 6);
    expect(startupSecondsForImage(IMAGE_PULL_MODELS.natInstance, 413)).toBeCloseTo(57, 6);
  });

  it('is the fixed part for an empty image and grows linearly with size', () => {
    const m = IMAGE_PULL_MODELS.natInstance;
    expect(startupSecondsForImage(m, 0)).toBe(m.fixedSeconds);
    const step = startupSecondsForImage(m, 200) - startupSecondsForImage(m, 100);
    expect(startupSecondsForImage(m, 300) - startupSecondsForImage(m, 200)).toBeCloseTo(step, 9);
    expect(step).toBeCloseTo(100 / m.pullMegabytesPerSecond, 9);
  });

  it('names the size and the fix for a size that is not a number of megabytes', () => {
    expect(() => startupSecondsForImage(IMAGE_PULL_MODELS.fast, -1)).toThrow(/image size -1 MB: give/);
    expect(() => startupSecondsForImage(IMAGE_PULL_MODELS.fast, Number.NaN)).toThrow(/image size NaN MB/);
  });
});
