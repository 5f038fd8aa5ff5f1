import { describe, expect, it } from 'vitest';
import { parseCalculationSnapshot } from '../../bridge/src/observe/calculation-events.ts';

const snapshot = (calculations: unknown[], extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ version: 1, publishedAt: 1_900_000_000_000, calculations, ...extra });

describe('the calculation snapshot the master publishes', () => {
  it('reads every status, keeps the held count when given and dates the list by the master', () => {
    const read = parseCalculationSnapshot(
      snapshot([
        { id: 1, status: 'started', since: 10 },
        { id: 2, status: 'running', since: 20, phase: 'classical', tasksHeldByMaster: 40 },
        { id: 3, status: 'between-phases', since: 30 },
        { id: 4, status: 'ended', since: 40 },
      ]),
    );
    expect(read.observedAt).toBe(1_900_000_000_000);
    expect(read.calculations).toEqual([
      { id: 1, status: 'started', since: 10 },
      { id: 2, status: 'running', since: 20, tasksHeldByMaster: 40 },
      { id: 3, status: 'between-phases', since: 30 },
      { id: 4, status: 'ended', since: 40 },
    ]);
  });

  it.each([
    ['not JSON', '{nope', /not JSON/],
    [
      'another version',
      snapshot([], { version: 2 }),
      /version 2 is not 1: run the publisher of this release/,
    ],
    ['no publishedAt', JSON.stringify({ version: 1, calculations: [] }), /publishedAt/],
    ['an unknown status', snapshot([{ id: 1, status: 'paused', since: 1 }]), /entry 0 is malformed/],
    [
      'a negative held count',
      snapshot([{ id: 1, status: 'running', since: 1, tasksHeldByMaster: -1 }]),
      /entry 0/,
    ],
    ['a text id', snapshot([{ id: '1', status: 'ended', since: 1 }]), /entry 0/],
  ])('refuses %s with a message that says what is wrong', (_, text, message) => {
    expect(() => parseCalculationSnapshot(text)).toThrow(message);
  });
});
