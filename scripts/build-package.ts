/**
 * `npm run build:package` (also npm's `prepack`): lays out dist/ as the installable construct library —
 * compiled JavaScript and `.d.ts` of cdk/lib and contract/, the master's boot assets, the worker image's build
 * context and the bridge image's build context with the bundled bridge. dist/ mirrors the repository's layout,
 * so every asset is found next to the module that reads it (cdk/lib/asset-paths.ts), never from a checkout.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleBridge } from './build-bridge.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DIST = join(ROOT, 'dist');
/** What tests and local runs may leave inside the copied asset folders; the images never use it. */
const LEFTOVERS = new Set(['__pycache__', '.pytest_cache']);

const started = Date.now();
rmSync(DIST, { recursive: true, force: true });
execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.lib.json'], {
  cwd: ROOT,
  stdio: 'inherit',
});
const keep = (path: string): boolean => !LEFTOVERS.has(basename(path)) && !path.endsWith('.pyc');
cpSync(join(ROOT, 'cdk/assets'), join(DIST, 'cdk/assets'), { recursive: true, filter: keep });
cpSync(join(ROOT, 'worker-image'), join(DIST, 'worker-image'), { recursive: true, filter: keep });
const { bytes } = await bundleBridge(join(DIST, 'bridge/image'));
console.log(
  `built ${DIST}: library, assets and the bridge bundle (${(bytes / 1024).toFixed(0)} KiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
