/**
 * The engine's calculation id in a task's arguments, as celery's `active` shows them.
 *
 * Engine 3.11 submits `safely_call(func, args, task_no, monitor)` (openquake/baselib/parallel.py); `args` holds
 * `Pickled` objects whose repr is `<Pickled Cls #<calc_id> <size>>` (Pickled.__repr__) and the monitor's repr is
 * `<Monitor #<calc_id> operation[user]...>` (openquake/baselib/performance.py, Monitor.__repr__, which leaves
 * out `#id` when the calc id is unset). The reply carries either celery's `argsrepr` string or, from workers
 * that serialise reprs themselves, a list of strings; both are searched.
 */
const PICKLED = /<Pickled \S+ #(\d+)\b/;
const MONITOR = /<Monitor #(\d+) /;

function flatten(args: unknown, depth = 0): string {
  if (typeof args === 'string') return args;
  if (Array.isArray(args) && depth < 4) return args.map((a) => flatten(a, depth + 1)).join(' ');
  return '';
}

/** The calculation id in `args`, or undefined when none is found (another app's task, an unset calc id). */
export function parseCalculationId(args: unknown): number | undefined {
  const text = flatten(args);
  const match = PICKLED.exec(text) ?? MONITOR.exec(text);
  if (!match) return undefined;
  const id = Number(match[1]);
  return Number.isSafeInteger(id) ? id : undefined;
}
