import { appendFileSync, readFileSync } from 'node:fs';

/** One line of `<stateDir>/lifecycle.jsonl`: what a local fleet did to its units, for the journal analysis. */
export interface LifecycleEvent {
  readonly event: 'spawn' | 'retire' | 'kill' | 'exit';
  readonly unitId: string;
  readonly t: number;
  readonly signal?: string;
  /** For an exit: the exit code and the last lines of the unit's output when it failed (secrets are not in it). */
  readonly exitCode?: number;
  readonly detail?: string;
}

/**
 * The fleet's lifecycle log, a JSON-lines file in its state directory. Appended to by every fleet object on the
 * directory (a restarted bridge continues the log of the one before), so it tells a unit's whole life.
 */
export class LifecycleLog {
  constructor(private readonly path: string) {}

  append(event: LifecycleEvent): void {
    appendFileSync(this.path, `${JSON.stringify(event)}\n`);
  }

  /** Every event recorded so far, oldest first; none when the log does not exist yet. */
  read(): LifecycleEvent[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as LifecycleEvent);
  }
}
