import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { decodePickle, encodePickle, PickleError } from '../../bridge/src/observe/safe-pickle.ts';
import { PYTHON } from '../support/services.ts';
import { describeWithPython } from '../support/python.ts';

/** Runs a Python snippet in the project's .venv; stdin and stdout are base64 so bytes survive. */
function python(code: string, input = ''): string {
  const run = spawnSync(PYTHON, ['-c', code], { input, encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
  return run.stdout.trim();
}

// A value shaped like celery's replies: nested dicts, lists, tuples, floats, big ints, unicode, None, bools.
const SAMPLE_PY = `{'oq@a': {'ok': 'pong', 'pool': {'max-concurrency': 4, 'processes': [101, 102, 70000, 2**40]},
  'neg': [-1, -300, -70000, -2**40, -2**70, 2**70], 'f': [0.5, -1e300, 3.0], 'u': 'caf\\u00e9 \\u6771',
  'none': None, 'flags': (True, False), 'empty': ((), [], {}), 'set': {7}, 'b': b'\\x00\\xff',
  'shared': ['x'] * 3, 'k': {1: 'int key'}}}`;

const SAMPLE_JS = {
  'oq@a': {
    ok: 'pong',
    pool: { 'max-concurrency': 4, processes: [101, 102, 70000, 2 ** 40] },
    neg: [-1, -300, -70000, -(2 ** 40), -(2n ** 70n), 2n ** 70n],
    f: [0.5, -1e300, 3],
    u: 'café 東',
    none: null,
    flags: [true, false],
    empty: [[], [], {}],
    set: [7],
    b: Uint8Array.from([0, 255]),
    shared: ['x', 'x', 'x'],
    k: { '1': 'int key' },
  },
};

describeWithPython('safe pickle codec against CPython (.venv)', () => {
  it.each([3, 4, 5])('decodes what pickle.dumps(protocol=%i) writes for celery-like replies', (proto) => {
    // Before protocol 4 a set is written as a call of builtins.set (REDUCE), which the decoder refuses.
    const value = proto < 4 ? SAMPLE_PY.replace("'set': {7}", "'set': [7]") : SAMPLE_PY;
    const b64 = python(
      `import pickle,base64; print(base64.b64encode(pickle.dumps(${value}, protocol=${proto})).decode())`,
    );
    expect(decodePickle(Buffer.from(b64, 'base64'))).toEqual(SAMPLE_JS);
  });

  it('decodes protocols 0-2 when the value has no bytes', () => {
    for (const proto of [0, 1, 2]) {
      const b64 = python(
        `import pickle,base64; print(base64.b64encode(pickle.dumps({'a': [1, -2**40, 0.25, None, True, (1, 'x')], 'b': {}}, protocol=${proto})).decode())`,
      );
      expect(decodePickle(Buffer.from(b64, 'base64'))).toEqual({
        a: [1, -(2 ** 40), 0.25, null, true, [1, 'x']],
        b: {},
      });
    }
  });

  it('encodes control messages that CPython reads back identically', () => {
    const message = {
      method: 'cancel_consumer',
      arguments: { queue: 'celery', safe: true },
      destination: ['oq@a', 'oq@b'],
      pattern: null,
      matcher: null,
      ticket: 'ticket-é',
      numbers: [0, 255, 256, 65535, 65536, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, 1.5, -0.25, 2n ** 80n],
      skipped: undefined,
    };
    const out = python(
      `import pickle,base64,sys,json; v = pickle.loads(base64.b64decode(sys.stdin.read())); v['numbers'][-1] = str(v['numbers'][-1]); print(json.dumps(v, sort_keys=True))`,
      encodePickle(message).toString('base64'),
    );
    const { skipped: _skipped, ...rest } = message;
    expect(JSON.parse(out)).toEqual({ ...rest, numbers: [...rest.numbers.slice(0, -1), String(2n ** 80n)] });
  });

  it('refuses pickles that name or call Python code, without running them', () => {
    const marker = `/tmp/oqe-pickle-${process.pid}`;
    // os.system via REDUCE: a classic pickle exploit. The decoder must refuse it at the GLOBAL/STACK_GLOBAL opcode.
    for (const proto of [0, 2, 4]) {
      const b64 = python(
        `import pickle,base64,os
class X:
    def __reduce__(self): return (os.system, ('touch ${marker}',))
print(base64.b64encode(pickle.dumps({'ok': X()}, protocol=${proto})).decode())`,
      );
      expect(() => decodePickle(Buffer.from(b64, 'base64'))).toThrow(/refused global (posix|os)\.system/);
    }
    expect(python(`import os; print(os.path.exists('${marker}'))`)).toBe('False');
  });

  it('decodes the containers celery replies use (Counter, OrderedDict, set) without running Python', () => {
    for (const proto of [2, 4]) {
      const b64 = python(
        `import pickle,base64,collections; print(base64.b64encode(pickle.dumps({'total': collections.Counter({'t': 3}), 'o': collections.OrderedDict([('a', 1)]), 's': {5}, 'f': frozenset([6])}, protocol=${proto})).decode())`,
      );
      expect(decodePickle(Buffer.from(b64, 'base64'))).toEqual({
        total: { t: 3 },
        o: { a: 1 },
        s: [5],
        f: [6],
      });
    }
    const b64 = python(
      `import pickle,base64,collections; print(base64.b64encode(pickle.dumps(collections.defaultdict(list), protocol=4)).decode())`,
    );
    expect(() => decodePickle(Buffer.from(b64, 'base64'))).toThrow(/refused global collections.defaultdict/);
  });

  it('refuses malformed input with a PickleError', () => {
    expect(() => decodePickle(Buffer.from([0x80, 2, 0x4b]))).toThrow(PickleError);
    expect(() => decodePickle(Buffer.from([0x80, 9, 0x4e, 0x2e]))).toThrow(/protocol 9/);
    expect(() => decodePickle(Buffer.from([0x80, 2, 0x4e, 0x4e, 0x2e]))).toThrow(/unbalanced/);
    expect(() => decodePickle(Buffer.alloc(20), { maxBytes: 10 })).toThrow(/limit/);
  });

  it('keeps a __proto__ key as data', () => {
    const decoded = decodePickle(encodePickle({ ['__proto__']: 'x' } as never)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });
});
