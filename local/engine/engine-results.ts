import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { engineBin } from './engine-env.ts';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));

/** What two runs of one job must agree on (scripts/engine/engine_results.py). */
export interface EngineResults {
  /** Exported hazard curves and maps: file name (without job id) to rows of CSV cells, header row included. */
  readonly csv: Record<string, string[][]>;
  /** `hcurves-stats` and `hmaps-stats` from the datastore, flattened. */
  readonly datasets: Record<string, { shape: number[]; values: number[] }>;
  /** Tasks per phase, from the datastore's task_info (`classical`, `preclassical`, `build_hazard` ...). */
  readonly tasks: Record<string, number>;
}

/** Reads a finished job's results from its datastore and its CSV exports. */
export async function readEngineResults(datastore: string, exportDir: string): Promise<EngineResults> {
  const { stdout } = await run(engineBin('python'), [join(HERE, 'engine_results.py'), datastore, exportDir], {
    maxBuffer: 256 * 1024 * 1024,
  });
  return JSON.parse(stdout) as EngineResults;
}

/** The verdict of {@link compareEngineResults}: equal, or every difference named. */
export interface ResultsComparison {
  readonly equal: boolean;
  readonly differences: readonly string[];
}

/**
 * Compares a run with the reference, exactly: the same exported files with the same cells, the same dataset
 * shapes and values. Distribution must not change a single bit of the result (the engine's own QA tests compare
 * distributed and single-machine runs this way); a difference is reported with its largest deviation.
 */
export function compareEngineResults(reference: EngineResults, run: EngineResults): ResultsComparison {
  const differences: string[] = [];
  const files = new Set([...Object.keys(reference.csv), ...Object.keys(run.csv)]);
  if (Object.keys(reference.csv).length === 0)
    differences.push('the reference has no exported curves or maps');
  for (const file of [...files].sort()) {
    const a = reference.csv[file];
    const b = run.csv[file];
    if (a === undefined || b === undefined) {
      differences.push(`${file}: only in the ${a === undefined ? 'run' : 'reference'}`);
      continue;
    }
    const rows = Math.max(a.length, b.length);
    let differing = 0;
    let largest = 0;
    for (let i = 0; i < rows; i++) {
      const ra = a[i] ?? [];
      const rb = b[i] ?? [];
      if (ra.join(',') === rb.join(',')) continue;
      differing++;
      for (let j = 0; j < Math.max(ra.length, rb.length); j++) {
        largest = Math.max(largest, Math.abs(Number(ra[j]) - Number(rb[j])) || 0);
      }
    }
    if (differing > 0)
      differences.push(`${file}: ${differing} of ${rows} rows differ (largest difference ${largest})`);
  }
  for (const name of Object.keys(reference.datasets).sort()) {
    const a = reference.datasets[name]!;
    const b = run.datasets[name];
    if (b === undefined) {
      differences.push(`${name}: missing from the run's datastore`);
    } else if (a.shape.join('x') !== b.shape.join('x')) {
      differences.push(`${name}: shape ${b.shape.join('x')} instead of ${a.shape.join('x')}`);
    } else {
      let differing = 0;
      let largest = 0;
      a.values.forEach((v, i) => {
        if (v !== b.values[i]) {
          differing++;
          largest = Math.max(largest, Math.abs(v - (b.values[i] ?? NaN)) || Infinity);
        }
      });
      if (differing > 0) {
        differences.push(
          `${name}: ${differing} of ${a.values.length} values differ (largest difference ${largest})`,
        );
      }
    }
  }
  return { equal: differences.length === 0, differences };
}
