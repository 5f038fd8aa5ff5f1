/**
 * `npm run build:bridge`: bundles the production bridge (bridge/src/cli.ts and its dependencies: amqplib, the
 * AWS SDK clients, contract/) into one ES module, bridge/image/bridge.mjs, next to the bridge image's
 * Dockerfile. The image then copies one file and runs it with plain `node`: no npm install, no tsx, no
 * TypeScript at run time. The CDK app (cdk.json), the tests (test/support/global-setup.ts) and the package
 * build (scripts/build-package.ts) call it first, so the bundle is never older than the sources.
 */
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The bridge image's build context in the repository: the Dockerfile (committed) and the bundle (built). */
export const BRIDGE_IMAGE_SOURCE_DIR = join(ROOT, 'bridge/image');
/** The Node.js release the bundle targets: the package's `engines.node` floor (the image runs Node 22). */
const NODE_TARGET = 'node20';

/**
 * amqplib and parts of the AWS SDK are CommonJS and `require()` Node's built-ins; an ES module bundle has no
 * `require`, so one is made for it.
 */
const BANNER = [
  "import { createRequire as oqeCreateRequire } from 'node:module';",
  'const require = oqeCreateRequire(import.meta.url);',
].join('\n');
/** esbuild keeps the entry's hashbang (tsx, for the sources); the bundle, also the package's bin, runs on node. */
const NODE_HASHBANG = '#!/usr/bin/env node';

/** Bundles the bridge into `outDir` (bridge.mjs and its source map) and copies the Dockerfile there. */
export async function bundleBridge(outDir: string = BRIDGE_IMAGE_SOURCE_DIR): Promise<{ bytes: number }> {
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, 'bridge.mjs');
  await build({
    entryPoints: [join(ROOT, 'bridge/src/cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: NODE_TARGET,
    // Readable stack traces in the bridge's logs (the image runs node --enable-source-maps).
    sourcemap: true,
    banner: { js: BANNER },
    legalComments: 'eof',
    logLevel: 'warning',
  });
  // One line for one line, so the source map stays true.
  const code = readFileSync(outfile, 'utf8');
  writeFileSync(
    outfile,
    code.startsWith('#!') ? code.replace(/^#![^\n]*/, NODE_HASHBANG) : `${NODE_HASHBANG}\n${code}`,
  );
  if (outDir !== BRIDGE_IMAGE_SOURCE_DIR) {
    copyFileSync(join(BRIDGE_IMAGE_SOURCE_DIR, 'Dockerfile'), join(outDir, 'Dockerfile'));
  }
  return { bytes: statSync(outfile).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const started = Date.now();
  const { bytes } = await bundleBridge();
  console.log(
    `bundled the bridge: ${join(BRIDGE_IMAGE_SOURCE_DIR, 'bridge.mjs')} (${(bytes / 1024).toFixed(0)} KiB) in ${Date.now() - started} ms`,
  );
}
