/**
 * `npm run simulate`: the fleet simulator over every policy and trace; writes docs/benchmarks.md and the
 * charts docs/bench-*.svg. Deterministic: the same commit gives the same files.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSimulation, writeBenchmarkDocs } from '../bench/sim/run-simulation.ts';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs');
const run = runSimulation();
for (const path of await writeBenchmarkDocs(run, docs)) console.log(`wrote ${path}`);
console.log(
  `${run.policies.length} policies x ${run.traces.length} traces in ${(run.elapsedMs / 1000).toFixed(1)} s`,
);
