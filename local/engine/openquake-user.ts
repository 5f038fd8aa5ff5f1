import { execFileSync } from 'node:child_process';

/** The `openquake` user's ids on this machine, or undefined when it does not exist. */
export function openquakeIds(): { uid: number; gid: number } | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', 'openquake'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'openquake'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/**
 * The command line that runs `program args` as the `openquake` user, as the master runs the DbServer and
 * `oq engine` (with `[dbserver] multi_user = true` both refuse another user; the engine reads the name from
 * USER/LOGNAME). From root: setpriv to uid/gid openquake, keeping only CAP_DAC_READ_SEARCH so that the engine's
 * interpreter may stay under /root (pyenv's Python 3.8, not readable by other users); files it creates belong to
 * openquake, as on the master. As the openquake user itself: unchanged. Anyone else: an error naming the fix.
 */
export function asOpenquake(program: string, args: readonly string[]): [string, string[]] {
  const uid = process.getuid?.() ?? 0;
  const ids = openquakeIds();
  if (ids === undefined) {
    throw new Error(
      "there is no user 'openquake' (the engine's multi-user DbServer runs as it): run bash scripts/setup.sh as root",
    );
  }
  if (uid === ids.uid) return [program, [...args]];
  if (uid !== 0) {
    throw new Error(
      `the local engine master runs the DbServer as 'openquake' and needs root to switch to it (uid is ${uid}): ` +
        'run as root or as openquake',
    );
  }
  return [
    'setpriv',
    [
      `--reuid=${ids.uid}`,
      `--regid=${ids.gid}`,
      '--init-groups',
      '--inh-caps=+dac_read_search',
      '--ambient-caps=+dac_read_search',
      program,
      ...args,
    ],
  ];
}
