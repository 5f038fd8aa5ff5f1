import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ENGINE_RELEASE } from '../../contract/cluster-constants.ts';
import { type EngineResults, readEngineResults } from './engine-results.ts';
import type { LocalEngineMaster } from './local-engine-master.ts';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Where single-machine results are kept between runs. @default `<repo>/.cache/engine-reference` */
const CACHE_DIR = process.env.OQE_ENGINE_REFERENCE_CACHE ?? join(REPO_ROOT, '.cache', 'engine-reference');

/** A single-machine result and where it came from. */
export interface ReferenceResults {
  readonly results: EngineResults;
  /** True when read from the cache, false when computed now. */
  readonly cached: boolean;
  /** Wall time of the processpool run that made it, seconds. */
  readonly runSeconds: number;
  readonly cachePath: string;
}

/**
 * The results of `jobIni` run on this machine alone (`OQ_DISTRIBUTE=processpool`, the engine's own override)
 * through the same local master, cached by engine release and by the job directory's content: the reference
 * every distributed run of the same job must equal.
 */
export async function referenceResults(master: LocalEngineMaster, jobIni: string): Promise<ReferenceResults> {
  const cachePath = join(CACHE_DIR, ENGINE_RELEASE.engine, `${jobKey(jobIni)}.json`);
  if (existsSync(cachePath)) {
    const stored = JSON.parse(readFileSync(cachePath, 'utf8')) as {
      results: EngineResults;
      runSeconds: number;
    };
    return { results: stored.results, cached: true, runSeconds: stored.runSeconds, cachePath };
  }
  const started = Date.now();
  const job = master.runJob(master.stageJob(jobIni), { distribute: 'processpool' });
  const { code, log } = await job.finished;
  const jobId = await job.jobId;
  if (code !== 0)
    throw new Error(`the single-machine reference run of ${jobIni} exited with ${code}: ${log.slice(-2000)}`);
  const results = await readEngineResults(master.datastorePath(jobId), await master.exportOutputs(jobId));
  const runSeconds = (Date.now() - started) / 1000;
  mkdirSync(dirname(cachePath), { recursive: true });
  writeFileSync(
    cachePath,
    JSON.stringify({ job: jobIni, engine: ENGINE_RELEASE.engine, runSeconds, results }),
  );
  return { results, cached: false, runSeconds, cachePath };
}

/** `<directory name>-<hash of every file of the job's directory>`: a changed input is a new reference. */
function jobKey(jobIni: string): string {
  const dir = dirname(jobIni);
  const hash = createHash('sha256');
  const walk = (path: string): void => {
    for (const name of readdirSync(path).sort()) {
      if (name === '__pycache__') continue;
      const full = join(path, name);
      if (statSync(full).isDirectory()) walk(full);
      else hash.update(relative(dir, full)).update(readFileSync(full));
    }
  };
  walk(dir);
  hash.update(relative(dir, jobIni));
  return `${dir.split('/').slice(-2).join('-')}-${hash.digest('hex').slice(0, 12)}`;
}
