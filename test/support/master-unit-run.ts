/**
 * Runs one of the master's scripts as its systemd unit does on the master (cdk/lib/master): with the
 * `Environment=` settings of the unit as the stack renders it, so that a test sees what the unit passes.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/** The `Environment=NAME=value` settings of a rendered systemd unit. */
export function unitEnvironment(unit: string): Record<string, string> {
  return Object.fromEntries(
    [...unit.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]),
  );
}

/** A finished script: its exit status (null when killed) and what it wrote. */
export interface ScriptRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Writes `scriptText` to `scriptPath` and runs it with `python`, in an environment of PATH, the unit's settings
 * and then `env` (the test's endpoints, files and credentials, which win).
 */
export function runAsUnit(o: {
  readonly unit: string;
  readonly scriptPath: string;
  readonly scriptText: string;
  readonly python: string;
  readonly env: Record<string, string | undefined>;
  readonly timeoutMs?: number;
}): ScriptRun {
  writeFileSync(o.scriptPath, o.scriptText);
  const result = spawnSync(o.python, [o.scriptPath], {
    encoding: 'utf8',
    timeout: o.timeoutMs,
    env: { PATH: process.env.PATH, ...unitEnvironment(o.unit), ...o.env },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
