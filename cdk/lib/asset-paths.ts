import { fileURLToPath } from 'node:url';

/**
 * Where the deploy-time assets sit, found next to this module: the repository root when the app runs from its
 * sources, `dist/` inside the installed package (scripts/build-package.ts lays `dist/` out like the
 * repository). Nothing here depends on the working directory or on a repository checkout.
 */
const PACKAGE_ROOT = new URL('../../', import.meta.url);

/** The worker image's build context (its Dockerfile and entrypoint are owned by the worker image). */
export const WORKER_IMAGE_DIR = fileURLToPath(new URL('worker-image/', PACKAGE_ROOT));
/** The bridge image's build context: its Dockerfile and the bundled bridge (scripts/build-bridge.ts). */
export const BRIDGE_IMAGE_DIR = fileURLToPath(new URL('bridge/image/', PACKAGE_ROOT));
/** The bundled bridge inside {@link BRIDGE_IMAGE_DIR}: one JavaScript file, no node_modules. */
export const BRIDGE_BUNDLE = 'bridge.mjs';
