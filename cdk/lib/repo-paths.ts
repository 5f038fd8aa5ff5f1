import { fileURLToPath } from 'node:url';

/** The repository root: the build context of the bridge image. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** The worker image's build context (its Dockerfile and entrypoint are owned by the worker image). */
export const WORKER_IMAGE_DIR = fileURLToPath(new URL('../../worker-image/', import.meta.url));
/** The bridge's Dockerfile, relative to {@link REPO_ROOT}. */
export const BRIDGE_DOCKERFILE = 'bridge/Dockerfile';
/** Docker's per-Dockerfile ignore file (BuildKit reads `<Dockerfile>.dockerignore`), relative to {@link REPO_ROOT}. */
export const BRIDGE_DOCKERIGNORE = 'bridge/Dockerfile.dockerignore';
