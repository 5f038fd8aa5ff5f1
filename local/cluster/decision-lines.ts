import { clockWith, type Clock } from '../../bridge/src/clock.ts';
import type { DecisionLine } from './live-view.ts';

/** The fields of one bridge log line, as its logger received them. */
export type LogFields = Record<string, unknown>;

/**
 * Joins the control loop's two log lines of one cycle into one {@link DecisionLine}: the loop logs the
 * `decision` line (with an `id`) before it acts, then an `action` line with the same `id` and the outcome
 * (bridge/src/loop/control-loop.ts). A decision is reported once its action line arrives; a decision whose
 * action line never comes (the loop stopped mid-action) is not reported.
 * @param emit receives each joined line
 * @param options `now` stamps a joined line; the wall clock by default
 * @returns the sink to call with every log line (other events are ignored)
 */
export function decisionLineJoiner(
  emit: (line: DecisionLine) => void,
  options: Partial<Pick<Clock, 'now'>> = {},
): (event: string, fields: LogFields) => void {
  const clock = clockWith(options);
  const pending = new Map<string, LogFields>();
  return (event, fields) => {
    const id = typeof fields.id === 'string' ? fields.id : undefined;
    if (id === undefined) return;
    if (event === 'decision') {
      // Only the latest cycle can still be waiting for its action: the loop runs one cycle at a time.
      pending.clear();
      pending.set(id, fields);
      return;
    }
    const decision = event === 'action' ? pending.get(id) : undefined;
    if (!decision) return;
    pending.delete(id);
    emit({
      t: clock.now(),
      reason: String(decision.reason),
      desired: Number(decision.desired),
      current: typeof decision.current === 'number' ? decision.current : undefined,
      demand: Number(decision.demand),
      detail: String(decision.detail ?? decision.refused ?? ''),
      action: typeof fields.action === 'string' ? fields.action : undefined,
    });
  };
}
