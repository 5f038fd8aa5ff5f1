/**
 * Structured JSON logs, one object a line on stdout (the awslogs driver ships each line as one event).
 * Every field passes through `redact`, so a credential cannot reach a log even by mistake.
 */
export type LogFn = (event: string, fields?: Record<string, unknown>) => void;

const SECRET_KEY = /pass(word)?|secret|authkey|token|credential/i;
/** `scheme://user:password@` in any string value. */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+):[^@\s]*@/gi;

/** A copy of `value` with secret-named keys replaced and passwords cut out of URLs. */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.replace(URL_CREDENTIALS, '$1:***@');
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] = SECRET_KEY.test(key) ? '***' : redact(v, depth + 1);
  }
  return out;
}

/** A logger that writes `{"time", "level", "event", ...fields}` lines through `write`. */
export function createJsonLogger(
  write: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
  now: () => number = Date.now,
): LogFn {
  return (event, fields = {}) => {
    const level = /fail|error/i.test(event) ? 'error' : 'info';
    const record = redact({ time: new Date(now()).toISOString(), level, event, ...fields });
    write(JSON.stringify(record));
  };
}
