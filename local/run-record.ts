/**
 * What a second process needs to watch a local run: the run writes it into its fleet's state directory, and
 * `npm run status:local` reads it there. It holds no secret (the local broker's administrator is known to both).
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One local run, as a status command finds it. */
export interface RunRecord {
  /** The run's own vhost on the local RabbitMQ; removed when the run ends. */
  readonly vhost: string;
  /** The fleet's runtime (ComputeBackend.name). */
  readonly backend: string;
  /** The workers' remote-control format: `pickle` for the test app's celery 5.5, `json` for the engine's 4.4. */
  readonly remoteControlSerializer: 'json' | 'pickle';
  /** The file the run's bridge rewrites with its last decisions (OQE_DECISIONS_FILE), when it has one. */
  readonly decisionsFile?: string;
}

const RUN_RECORD_FILE = 'run.json';

export function writeRunRecord(stateDir: string, record: RunRecord): void {
  writeFileSync(join(stateDir, RUN_RECORD_FILE), JSON.stringify(record));
}

/** The run record of a state directory; the error names the file and what to pass instead. */
export function readRunRecord(stateDir: string): RunRecord {
  const path = join(stateDir, RUN_RECORD_FILE);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RunRecord;
  } catch {
    throw new Error(`${path}: no local run here; pass the state directory of a running demo (--state-dir)`);
  }
}

/** The state directory of the newest run under `root` (a run's directory holds its record), if any. */
export function newestRunStateDir(root = tmpdir()): string | undefined {
  let newest: { dir: string; at: number } | undefined;
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith('oqe-')) continue;
    const dir = join(root, entry.name);
    let at: number;
    try {
      at = statSync(join(dir, RUN_RECORD_FILE)).mtimeMs;
    } catch {
      continue;
    }
    if (!newest || at > newest.at) newest = { dir, at };
  }
  return newest?.dir;
}
