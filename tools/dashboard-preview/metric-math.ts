/**
 * A small evaluator of the CloudWatch metric math the dashboard uses, for the preview and the tests of the
 * cost math: arithmetic, comparisons, AND/OR/NOT, and the functions FILL (a number or REPEAT), IF,
 * PERIOD, RUNNING_SUM and SEARCH (through the caller's lookup). Semantics follow the CloudWatch "Metric math
 * syntax and functions" reference: a point missing in an operand is missing in the result; comparisons give
 * 1 or 0; PERIOD gives the period in seconds.
 */

/** Values on the evaluation grid; `undefined` where the series has no datapoint. */
export type Values = (number | undefined)[];

export interface Series {
  readonly label?: string;
  /** The dimensions of a SEARCH result, for dynamic labels (`${PROP('Dim.name')}`). */
  readonly dimensions?: Readonly<Record<string, string>>;
  readonly values: Values;
}

/** What an expression can refer to. */
export interface MathContext {
  /** Points on the grid. */
  readonly length: number;
  /** Seconds per grid point. */
  readonly periodSeconds: number;
  /** The series of another query of the same widget or alarm, by id. */
  lookup(id: string): Series[];
  /** The series a SEARCH finds (query text as written, statistic, period in seconds). */
  search(query: string, statistic: string, periodSeconds: number): Series[];
}

type Value = number | string | Series[];

type Token =
  | { kind: 'num'; value: number }
  | { kind: 'str'; value: string }
  | { kind: 'id'; value: string }
  | {
      kind: 'op';
      value: string;
    };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (/[0-9.]/.test(c)) {
      const m = /^[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?/.exec(text.slice(i))!;
      tokens.push({ kind: 'num', value: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i))!;
      tokens.push({ kind: 'id', value: m[0] });
      i += m[0].length;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new Error(`metric math: unterminated string in ${text}`);
      tokens.push({ kind: 'str', value: text.slice(i + 1, end) });
      i = end + 1;
    } else {
      const two = text.slice(i, i + 2);
      if (['>=', '<=', '==', '!='].includes(two)) {
        tokens.push({ kind: 'op', value: two });
        i += 2;
      } else if ('+-*/(),<>'.includes(c)) {
        tokens.push({ kind: 'op', value: c });
        i++;
      } else throw new Error(`metric math: unexpected "${c}" in ${text}`);
    }
  }
  return tokens;
}

function pointwise(a: Value, b: Value, length: number, f: (x: number, y: number) => number): Value {
  if (typeof a === 'string' || typeof b === 'string') throw new Error('metric math: a string is no operand');
  if (typeof a === 'number' && typeof b === 'number') return f(a, b);
  const as = typeof a === 'number' ? [{ values: Array<number>(length).fill(a) }] : a;
  const bs = typeof b === 'number' ? [{ values: Array<number>(length).fill(b) }] : b;
  const n = Math.max(as.length, bs.length);
  if (as.length !== bs.length && as.length !== 1 && bs.length !== 1) {
    throw new Error(`metric math: cannot combine ${as.length} series with ${bs.length}`);
  }
  return Array.from({ length: n }, (_, k) => {
    const sa = as[as.length === 1 ? 0 : k]!;
    const sb = bs[bs.length === 1 ? 0 : k]!;
    return {
      label: sa.label ?? sb.label,
      values: sa.values.map((x, i) => {
        const y = sb.values[i];
        return x === undefined || y === undefined ? undefined : f(x, y);
      }),
    };
  });
}

function mapSeries(v: Value, f: (values: Values) => Values): Series[] {
  if (typeof v !== 'object') throw new Error('metric math: this function needs a time series');
  return v.map((s) => ({ label: s.label, values: f(s.values) }));
}

const BINARY: Record<string, (x: number, y: number) => number> = {
  '+': (x, y) => x + y,
  '-': (x, y) => x - y,
  '*': (x, y) => x * y,
  '/': (x, y) => (y === 0 ? NaN : x / y),
  '>': (x, y) => Number(x > y),
  '<': (x, y) => Number(x < y),
  '>=': (x, y) => Number(x >= y),
  '<=': (x, y) => Number(x <= y),
  '==': (x, y) => Number(x === y),
  '!=': (x, y) => Number(x !== y),
  AND: (x, y) => Number(x !== 0 && y !== 0),
  OR: (x, y) => Number(x !== 0 || y !== 0),
};

/** Evaluates one expression; a scalar result (an expression of constants) comes back as a number. */
export function evaluateMath(text: string, ctx: MathContext): Series[] | number {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = (): Token | undefined => tokens[pos];
  const isOp = (value: string) => {
    const t = peek();
    return t !== undefined && (t.kind === 'op' || t.kind === 'id') && t.value === value;
  };
  const expect = (value: string) => {
    if (!isOp(value)) throw new Error(`metric math: expected "${value}" at token ${pos} of ${text}`);
    pos++;
  };

  const binaryLevel = (ops: string[], next: () => Value) => (): Value => {
    let left = next();
    for (;;) {
      const op = ops.find(isOp);
      if (!op) return left;
      pos++;
      left = pointwise(left, next(), ctx.length, BINARY[op]!);
    }
  };

  const call = (name: string, args: Value[]): Value => {
    const [a, b, c] = args;
    switch (name) {
      case 'FILL':
        if (b === 'REPEAT') {
          return mapSeries(a!, (vs) => {
            let last: number | undefined;
            return vs.map((v) => (v === undefined ? last : (last = v)));
          });
        }
        if (typeof b !== 'number') throw new Error('metric math: FILL takes a number or REPEAT');
        return mapSeries(a!, (vs) => vs.map((v) => v ?? b));
      case 'PERIOD':
        return ctx.periodSeconds;
      case 'RUNNING_SUM':
        return mapSeries(a!, (vs) => {
          let sum = 0;
          return vs.map((v) => (v === undefined ? undefined : (sum += v)));
        });
      case 'IF': {
        const whenTrue = b!;
        const whenFalse = c ?? 0;
        const pick = (v: Value, i: number, k: number) =>
          typeof v === 'number'
            ? v
            : typeof v === 'object'
              ? v[Math.min(k, v.length - 1)]!.values[i]
              : undefined;
        if (typeof a === 'number') return a !== 0 ? whenTrue : whenFalse;
        return mapSeries(a!, (vs) => vs).map((s, k) => ({
          label: s.label,
          values: s.values.map((cond, i) =>
            cond === undefined ? undefined : pick(cond !== 0 ? whenTrue : whenFalse, i, k),
          ),
        }));
      }
      case 'SEARCH':
        if (typeof a !== 'string' || typeof b !== 'string' || typeof c !== 'number') {
          throw new Error("metric math: SEARCH takes ('query', 'statistic', period)");
        }
        return ctx.search(a, b, c);
      default:
        throw new Error(`metric math: the preview does not implement ${name}()`);
    }
  };

  const primary = (): Value => {
    const t = tokens[pos++];
    if (!t) throw new Error(`metric math: unexpected end of ${text}`);
    if (t.kind === 'num' || t.kind === 'str') return t.value;
    if (t.kind === 'op' && t.value === '(') {
      const v = orLevel();
      expect(')');
      return v;
    }
    if (t.kind === 'op' && t.value === '-') return pointwise(0, primary(), ctx.length, BINARY['-']!);
    if (t.kind === 'id') {
      if (isOp('(')) {
        pos++;
        const args: Value[] = [];
        while (!isOp(')')) {
          args.push(orLevel());
          if (isOp(',')) pos++;
        }
        pos++;
        return call(t.value, args);
      }
      if (t.value === 'REPEAT') return t.value;
      return ctx.lookup(t.value);
    }
    throw new Error(`metric math: unexpected "${t.value}" in ${text}`);
  };
  const mul = binaryLevel(['*', '/'], primary);
  const add = binaryLevel(['+', '-'], mul);
  const cmp = binaryLevel(['>=', '<=', '==', '!=', '>', '<'], add);
  const not = (): Value => {
    if (isOp('NOT')) {
      pos++;
      return pointwise(not(), 0, ctx.length, (x) => Number(x === 0));
    }
    return cmp();
  };
  const and = binaryLevel(['AND'], not);
  const orLevel = binaryLevel(['OR'], and);

  const result = orLevel();
  if (pos !== tokens.length) throw new Error(`metric math: trailing input at token ${pos} of ${text}`);
  if (typeof result === 'string') throw new Error(`metric math: ${text} is a string, not a series`);
  return result;
}
