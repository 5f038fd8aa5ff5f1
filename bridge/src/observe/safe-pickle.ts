/**
 * A small, safe subset of Python's pickle format, enough to talk to celery's remote control when the app's
 * serializer is pickle (celery >= 5.1 sends control messages and replies with `task_serializer` and accepts
 * `accept_content`; see celery/app/control.py, `Control.__init__`, and celery PR #6757).
 *
 * Only plain data crosses: None, bool, int, float, str, bytes, list, tuple, set, dict. The decoder refuses
 * every opcode that would build an object (BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, PERSID, BINPERSID, EXT1/2/4,
 * out-of-band buffers). GLOBAL/STACK_GLOBAL and REDUCE are accepted only for a short list of containers that
 * celery's replies use (`stats` reports `total` as a `collections.Counter`): the name is looked up in
 * {@link SAFE_CONSTRUCTORS}, which builds the plain value in TypeScript; nothing is ever imported or called,
 * and any other name is refused. Opcode values follow CPython's Lib/pickle.py.
 */

/** Thrown when a pickle uses something outside the safe subset or is malformed. */
export class PickleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PickleError';
  }
}

/** A decoded Python value. Tuples, lists and sets become arrays; dicts become plain objects with string keys. */
export type PickleValue =
  null | boolean | number | bigint | string | Uint8Array | PickleValue[] | { [key: string]: PickleValue };

const OP = {
  MARK: 0x28,
  STOP: 0x2e,
  POP: 0x30,
  POP_MARK: 0x31,
  DUP: 0x32,
  FLOAT: 0x46,
  INT: 0x49,
  BININT: 0x4a,
  BININT1: 0x4b,
  LONG: 0x4c,
  BININT2: 0x4d,
  NONE: 0x4e,
  STRING: 0x53,
  BINSTRING: 0x54,
  SHORT_BINSTRING: 0x55,
  UNICODE: 0x56,
  BINUNICODE: 0x58,
  APPEND: 0x61,
  DICT: 0x64,
  EMPTY_DICT: 0x7d,
  APPENDS: 0x65,
  GET: 0x67,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  LIST: 0x6c,
  EMPTY_LIST: 0x5d,
  PUT: 0x70,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  SETITEM: 0x73,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  SETITEMS: 0x75,
  BINFLOAT: 0x47,
  PROTO: 0x80,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  LONG1: 0x8a,
  LONG4: 0x8b,
  BINBYTES: 0x42,
  SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE8: 0x8d,
  BINBYTES8: 0x8e,
  EMPTY_SET: 0x8f,
  ADDITEMS: 0x90,
  FROZENSET: 0x91,
  MEMOIZE: 0x94,
  FRAME: 0x95,
  BYTEARRAY8: 0x96,
} as const;

/** Opcodes that would build arbitrary objects, by value, for the error message. */
const REFUSED: Record<number, string> = {
  0x62: 'BUILD',
  0x69: 'INST',
  0x6f: 'OBJ',
  0x81: 'NEWOBJ',
  0x92: 'NEWOBJ_EX',
  0x50: 'PERSID',
  0x51: 'BINPERSID',
  0x82: 'EXT1',
  0x83: 'EXT2',
  0x84: 'EXT4',
  0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

const GLOBAL = 0x63;
const STACK_GLOBAL = 0x93;
const REDUCE = 0x52;

/** A container type named by a pickle, stood in for by a pure TypeScript builder of its plain value. */
class SafeConstructor {
  constructor(
    readonly name: string,
    readonly build: (args: PickleValue[]) => PickleValue,
  ) {}
}

const dictFrom = (args: PickleValue[]): PickleValue => {
  const source = args[0];
  if (source === undefined || source === null) return {};
  if (Array.isArray(source)) {
    // OrderedDict([(k, v), ...])
    const dict: { [key: string]: PickleValue } = {};
    for (const pair of source) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new PickleError('pickle: malformed dict items');
      setKey(dict, pair[0]!, pair[1]!);
    }
    return dict;
  }
  if (typeof source === 'object' && !(source instanceof Uint8Array)) return { ...source };
  throw new PickleError('pickle: malformed dict argument');
};
const listFrom = (args: PickleValue[]): PickleValue => {
  const source = args[0];
  if (source === undefined) return [];
  if (!Array.isArray(source)) throw new PickleError('pickle: malformed set argument');
  return [...source];
};

/**
 * The only names GLOBAL/STACK_GLOBAL may carry, each with the plain value it stands for. Sets become arrays,
 * mappings become objects.
 */
export const SAFE_CONSTRUCTORS: ReadonlyMap<string, SafeConstructor> = new Map(
  [
    new SafeConstructor('collections.Counter', dictFrom),
    new SafeConstructor('collections.OrderedDict', dictFrom),
    new SafeConstructor('builtins.set', listFrom),
    new SafeConstructor('builtins.frozenset', listFrom),
    new SafeConstructor('__builtin__.set', listFrom),
    new SafeConstructor('__builtin__.frozenset', listFrom),
  ].map((c) => [c.name, c]),
);

const MARK = Symbol('mark');
type StackItem = PickleValue | SafeConstructor | typeof MARK;

function setKey(target: { [key: string]: PickleValue }, key: PickleValue, value: PickleValue): void {
  let name: string;
  if (typeof key === 'string') name = key;
  else if (typeof key === 'number' || typeof key === 'bigint') name = String(key);
  else if (typeof key === 'boolean') name = key ? 'True' : 'False';
  else if (key === null) name = 'None';
  else
    throw new PickleError(
      `pickle: dict key of type ${Array.isArray(key) ? 'tuple' : typeof key} is not supported`,
    );
  // defineProperty, not assignment: a key named `__proto__` must stay data, never change the prototype.
  Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
}

function intFromBigInt(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}

/** Little-endian two's complement, as LONG1/LONG4 carry it. */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let value = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) value = (value << 8n) | BigInt(bytes[i]!);
  if (bytes[bytes.length - 1]! & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return intFromBigInt(value);
}

function encodeLong(value: bigint): Buffer {
  const bytes: number[] = [];
  let v = value;
  // Emit bytes until the remaining value is pure sign extension of the last byte's top bit.
  for (;;) {
    const byte = Number(v & 0xffn);
    bytes.push(byte);
    v >>= 8n;
    if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
  }
  return Buffer.from(bytes);
}

/** Options of {@link decodePickle}. */
export interface DecodeOptions {
  /** Refuse inputs longer than this many bytes. @default 16 MiB */
  readonly maxBytes?: number;
}

/**
 * Decodes a pickle (protocols 0 to 5) that holds only plain data. Throws {@link PickleError} on anything else,
 * before any side effect: the decoder never imports, looks up or calls anything.
 */
export function decodePickle(input: Uint8Array, options: DecodeOptions = {}): PickleValue {
  const maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  if (input.length > maxBytes)
    throw new PickleError(`pickle: ${input.length} bytes exceeds the ${maxBytes} limit`);
  const buf = Buffer.from(input.buffer, input.byteOffset, input.length);
  let pos = 0;
  let stack: StackItem[] = [];
  const metastack: StackItem[][] = [];
  const memo = new Map<number, PickleValue | SafeConstructor>();

  const need = (n: number): void => {
    if (n < 0 || pos + n > buf.length) throw new PickleError(`pickle: truncated at byte ${pos}`);
  };
  const take = (n: number): Buffer => {
    need(n);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const readLine = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) throw new PickleError(`pickle: unterminated line at byte ${pos}`);
    const line = buf.toString('latin1', pos, end);
    pos = end + 1;
    return line;
  };
  const popAny = (): PickleValue | SafeConstructor => {
    const item = stack.pop();
    if (item === undefined || item === MARK) throw new PickleError('pickle: stack underflow');
    return item;
  };
  const plain = (item: PickleValue | SafeConstructor): PickleValue => {
    if (item instanceof SafeConstructor) throw new PickleError(`pickle: ${item.name} used as a value`);
    return item;
  };
  const pop = (): PickleValue => plain(popAny());
  const topAny = (): PickleValue | SafeConstructor => {
    const item = stack[stack.length - 1];
    if (item === undefined || item === MARK) throw new PickleError('pickle: stack underflow');
    return item;
  };
  const top = (): PickleValue => plain(topAny());
  const lookup = (module: string, name: string): SafeConstructor => {
    const found = SAFE_CONSTRUCTORS.get(`${module}.${name}`);
    if (!found) {
      throw new PickleError(
        `pickle: refused global ${module}.${name} at byte ${pos}: only plain containers are decoded, and the ` +
          `bridge never imports or calls Python code`,
      );
    }
    return found;
  };
  const popMark = (): PickleValue[] => {
    const items = (stack as (PickleValue | SafeConstructor)[]).map(plain);
    const previous = metastack.pop();
    if (previous === undefined) throw new PickleError('pickle: MARK expected');
    stack = previous;
    return items;
  };
  // Fixed-width fields are read from `take`'s slice, so that every read checks its length and advances once.
  const u32 = (): number => take(4).readUInt32LE(0);
  const u64 = (): number => {
    const v = take(8).readBigUInt64LE(0);
    if (v > BigInt(maxBytes)) throw new PickleError('pickle: length out of range');
    return Number(v);
  };
  const asList = (value: PickleValue, op: string): PickleValue[] => {
    if (!Array.isArray(value)) throw new PickleError(`pickle: ${op} on a non-list`);
    return value;
  };
  const asDict = (value: PickleValue): { [key: string]: PickleValue } => {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
      throw new PickleError('pickle: SETITEM on a non-dict');
    }
    return value;
  };
  const pyQuoted = (text: string, op: string): string => {
    const quote = text[0];
    if ((quote !== "'" && quote !== '"') || text[text.length - 1] !== quote || text.includes('\\')) {
      throw new PickleError(`pickle: ${op} with escapes is not supported`);
    }
    return text.slice(1, -1);
  };

  for (;;) {
    need(1);
    const op = buf[pos++]!;
    switch (op) {
      case OP.PROTO: {
        const version = take(1)[0]!;
        if (version > 5) throw new PickleError(`pickle: protocol ${version} is not supported`);
        break;
      }
      case OP.FRAME:
        u64(); // frames only group opcodes for buffered reads
        break;
      case OP.STOP:
        if (stack.length !== 1 || metastack.length !== 0)
          throw new PickleError('pickle: unbalanced stack at STOP');
        return pop();
      case OP.MARK:
        metastack.push(stack);
        stack = [];
        break;
      case OP.POP:
        if (stack.length > 0 && stack[stack.length - 1] === MARK) stack.pop();
        else pop();
        break;
      case OP.POP_MARK:
        popMark();
        break;
      case OP.DUP:
        stack.push(topAny());
        break;
      case GLOBAL: {
        const module = readLine();
        stack.push(lookup(module, readLine()));
        break;
      }
      case STACK_GLOBAL: {
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string')
          throw new PickleError('pickle: bad STACK_GLOBAL');
        stack.push(lookup(module, name));
        break;
      }
      case REDUCE: {
        const args = pop();
        const callable = popAny();
        if (!(callable instanceof SafeConstructor) || !Array.isArray(args)) {
          throw new PickleError('pickle: REDUCE of something that is not a known container');
        }
        stack.push(callable.build(args));
        break;
      }
      case OP.NONE:
        stack.push(null);
        break;
      case OP.NEWTRUE:
        stack.push(true);
        break;
      case OP.NEWFALSE:
        stack.push(false);
        break;
      case OP.INT: {
        const line = readLine();
        if (line === '01') stack.push(true);
        else if (line === '00') stack.push(false);
        else if (/^[+-]?\d+$/.test(line)) stack.push(intFromBigInt(BigInt(line)));
        else throw new PickleError('pickle: malformed INT');
        break;
      }
      case OP.LONG: {
        const line = readLine().replace(/L$/, '');
        if (!/^[+-]?\d+$/.test(line)) throw new PickleError('pickle: malformed LONG');
        stack.push(intFromBigInt(BigInt(line)));
        break;
      }
      case OP.BININT:
        stack.push(take(4).readInt32LE(0));
        break;
      case OP.BININT1:
        stack.push(take(1)[0]!);
        break;
      case OP.BININT2:
        stack.push(take(2).readUInt16LE(0));
        break;
      case OP.LONG1:
        stack.push(decodeLong(take(take(1)[0]!)));
        break;
      case OP.LONG4: {
        const n = take(4).readInt32LE(0);
        if (n < 0 || n > 1024) throw new PickleError('pickle: LONG4 length out of range');
        stack.push(decodeLong(take(n)));
        break;
      }
      case OP.FLOAT: {
        const value = Number(readLine());
        if (Number.isNaN(value)) throw new PickleError('pickle: malformed FLOAT');
        stack.push(value);
        break;
      }
      case OP.BINFLOAT:
        stack.push(take(8).readDoubleBE(0));
        break;
      case OP.SHORT_BINUNICODE:
        stack.push(take(take(1)[0]!).toString('utf8'));
        break;
      case OP.BINUNICODE:
        stack.push(take(u32()).toString('utf8'));
        break;
      case OP.BINUNICODE8:
        stack.push(take(u64()).toString('utf8'));
        break;
      case OP.UNICODE: {
        const line = readLine();
        if (line.includes('\\')) throw new PickleError('pickle: UNICODE with escapes is not supported');
        stack.push(Buffer.from(line, 'latin1').toString('utf8'));
        break;
      }
      case OP.STRING:
        stack.push(pyQuoted(readLine(), 'STRING'));
        break;
      case OP.BINSTRING:
        stack.push(take(u32()).toString('latin1'));
        break;
      case OP.SHORT_BINSTRING:
        stack.push(take(take(1)[0]!).toString('latin1'));
        break;
      case OP.SHORT_BINBYTES:
        stack.push(Uint8Array.from(take(take(1)[0]!)));
        break;
      case OP.BINBYTES:
        stack.push(Uint8Array.from(take(u32())));
        break;
      case OP.BINBYTES8:
      case OP.BYTEARRAY8:
        stack.push(Uint8Array.from(take(u64())));
        break;
      case OP.EMPTY_LIST:
      case OP.EMPTY_TUPLE:
      case OP.EMPTY_SET:
        stack.push([]);
        break;
      case OP.EMPTY_DICT:
        stack.push({});
        break;
      case OP.LIST:
      case OP.TUPLE:
      case OP.FROZENSET: {
        // popMark replaces `stack`, so it must run before `stack.push` is looked up.
        const items = popMark();
        stack.push(items);
        break;
      }
      case OP.TUPLE1:
        stack.push([pop()]);
        break;
      case OP.TUPLE2: {
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case OP.TUPLE3: {
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case OP.DICT: {
        const items = popMark();
        if (items.length % 2 !== 0) throw new PickleError('pickle: odd number of DICT items');
        const dict: { [key: string]: PickleValue } = {};
        for (let i = 0; i < items.length; i += 2) setKey(dict, items[i]!, items[i + 1]!);
        stack.push(dict);
        break;
      }
      case OP.APPEND: {
        const value = pop();
        asList(top(), 'APPEND').push(value);
        break;
      }
      case OP.APPENDS:
      case OP.ADDITEMS: {
        const items = popMark();
        asList(top(), 'APPENDS').push(...items);
        break;
      }
      case OP.SETITEM: {
        const value = pop();
        const key = pop();
        setKey(asDict(top()), key, value);
        break;
      }
      case OP.SETITEMS: {
        const items = popMark();
        if (items.length % 2 !== 0) throw new PickleError('pickle: odd number of SETITEMS items');
        const dict = asDict(top());
        for (let i = 0; i < items.length; i += 2) setKey(dict, items[i]!, items[i + 1]!);
        break;
      }
      case OP.PUT:
        memo.set(Number(readLine()), topAny());
        break;
      case OP.BINPUT:
        memo.set(take(1)[0]!, topAny());
        break;
      case OP.LONG_BINPUT:
        memo.set(u32(), topAny());
        break;
      case OP.MEMOIZE:
        memo.set(memo.size, topAny());
        break;
      case OP.GET:
      case OP.BINGET:
      case OP.LONG_BINGET: {
        const index = op === OP.GET ? Number(readLine()) : op === OP.BINGET ? take(1)[0]! : u32();
        if (!memo.has(index)) throw new PickleError(`pickle: memo ${index} not found`);
        stack.push(memo.get(index)!);
        break;
      }
      default: {
        const name = REFUSED[op];
        throw new PickleError(
          name
            ? `pickle: refused opcode ${name} at byte ${pos - 1}: it names or calls Python code, which the bridge never runs`
            : `pickle: unknown opcode 0x${op.toString(16)} at byte ${pos - 1}`,
        );
      }
    }
  }
}

/** A JavaScript value that {@link encodePickle} can write. Objects become dicts, arrays become lists. */
export type PicklableValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | readonly PicklableValue[]
  | { readonly [key: string]: PicklableValue | undefined };

/**
 * Encodes plain data as a protocol-2 pickle, which every Python 3 reads. Object properties whose value is
 * `undefined` are left out, as JSON.stringify does.
 */
export function encodePickle(value: PicklableValue): Buffer {
  const parts: Buffer[] = [Buffer.from([OP.PROTO, 2])];
  const write = (v: PicklableValue, depth: number): void => {
    if (depth > 100) throw new PickleError('pickle: value nested deeper than 100 levels');
    if (v === null) parts.push(Buffer.from([OP.NONE]));
    else if (typeof v === 'boolean') parts.push(Buffer.from([v ? OP.NEWTRUE : OP.NEWFALSE]));
    else if (typeof v === 'bigint') {
      const bytes = encodeLong(v);
      parts.push(Buffer.from([OP.LONG1, bytes.length]), bytes);
    } else if (typeof v === 'number') {
      if (Number.isInteger(v) && !Object.is(v, -0) && Number.isSafeInteger(v)) {
        if (v >= 0 && v < 0x100) parts.push(Buffer.from([OP.BININT1, v]));
        else if (v >= -0x80000000 && v <= 0x7fffffff) {
          const b = Buffer.alloc(5);
          b[0] = OP.BININT;
          b.writeInt32LE(v, 1);
          parts.push(b);
        } else {
          const bytes = encodeLong(BigInt(v));
          parts.push(Buffer.from([OP.LONG1, bytes.length]), bytes);
        }
      } else {
        const b = Buffer.alloc(9);
        b[0] = OP.BINFLOAT;
        b.writeDoubleBE(v, 1);
        parts.push(b);
      }
    } else if (typeof v === 'string') {
      const text = Buffer.from(v, 'utf8');
      const head = Buffer.alloc(5);
      head[0] = OP.BINUNICODE;
      head.writeUInt32LE(text.length, 1);
      parts.push(head, text);
    } else if (Array.isArray(v)) {
      parts.push(Buffer.from([OP.EMPTY_LIST]));
      if (v.length > 0) {
        parts.push(Buffer.from([OP.MARK]));
        for (const item of v as readonly PicklableValue[]) write(item, depth + 1);
        parts.push(Buffer.from([OP.APPENDS]));
      }
    } else if (typeof v === 'object') {
      const entries = Object.entries(v).filter(([, item]) => item !== undefined) as [
        string,
        PicklableValue,
      ][];
      parts.push(Buffer.from([OP.EMPTY_DICT]));
      if (entries.length > 0) {
        parts.push(Buffer.from([OP.MARK]));
        for (const [key, item] of entries) {
          write(key, depth + 1);
          write(item, depth + 1);
        }
        parts.push(Buffer.from([OP.SETITEMS]));
      }
    } else {
      throw new PickleError(`pickle: cannot encode a value of type ${typeof v}`);
    }
  };
  write(value, 0);
  parts.push(Buffer.from([OP.STOP]));
  return Buffer.concat(parts);
}
