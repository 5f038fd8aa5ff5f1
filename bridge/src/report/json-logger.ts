/**
 * Structured JSON logs, one object a line on stdout (the awslogs driver ships each line as one event).
 * Every field passes through `redact`, so a credential cannot reach a log even by mistake.
 */
import { clockWith, type Clock } from '../clock.ts';

export type LogFn = (event: string, fields?: Record<string, unknown>) => void;

/** Keys whose values are credentials, whatever their type (an `authorization` header, a `sessionToken`...). */
const SECRET_KEY =
  /pass(word)?|secret|authkey|authori[sz]ation|token|credential|cookie|api[-_]?key|private[-_]?key/i;
/** `scheme://user:password@` in any string value, the user possibly empty (`amqp://:pw@host`). */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@\s]*@/gi;
/** Deeper than this, a value is replaced whole: it is not inspected, so it is not written either. */
const MAX_DEPTH = 6;
/** Known secret values shorter than this are not searched for (they would blank ordinary words). */
const MIN_KNOWN_SECRET_LENGTH = 8;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A copy of `value` with secret-named keys replaced, passwords cut out of URLs, every occurrence of a `known`
 * secret value (e.g. the broker password, which an error message may quote) replaced, and anything nested
 * deeper than the depth limit replaced whole.
 */
export function redact(value: unknown, known: readonly string[] = [], depth = 0): unknown {
  const values = known.filter((k) => k.length >= MIN_KNOWN_SECRET_LENGTH);
  const knownPattern = values.length > 0 ? new RegExp(values.map(escapeRegExp).join('|'), 'g') : undefined;
  return redactWith(value, knownPattern, depth);
}

function redactWith(value: unknown, known: RegExp | undefined, depth: number): unknown {
  if (typeof value === 'string') {
    const cut = value.replace(URL_CREDENTIALS, '$1:***@');
    return known ? cut.replace(known, '***') : cut;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth > MAX_DEPTH) return '[redacted: nested too deep]';
  if (Array.isArray(value)) return value.map((v) => redactWith(v, known, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? '***' : redactWith(v, known, depth + 1);
  }
  return out;
}

/** `now` (each line's `time`) defaults to the wall clock. */
export interface JsonLoggerOptions extends Partial<Pick<Clock, 'now'>> {
  /** Where each line goes. @default stdout */
  readonly write?: (line: string) => void;
  /** Values cut from every logged string wherever they occur (an error message may quote a password). */
  readonly knownSecrets?: readonly string[];
}

/**
 * A logger that writes `{"time", "level", "event", ...fields}` lines through `write`, redacting every field
 * (and every occurrence of the `knownSecrets` values).
 */
export function createJsonLogger(options: JsonLoggerOptions = {}): LogFn {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const knownSecrets = options.knownSecrets ?? [];
  const clock = clockWith(options);
  return (event, fields = {}) => {
    const level = /fail|error/i.test(event) ? 'error' : 'info';
    const record = redact(
      { time: new Date(clock.now()).toISOString(), level, event, ...fields },
      knownSecrets,
    );
    write(JSON.stringify(record));
  };
}
