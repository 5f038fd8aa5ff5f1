/**
 * The bridge image is arm64 and the deploying machine is usually x86_64: with podman (real, as CDK_DOCKER=podman
 * would run it) the image builds for linux/arm64 on this x86_64 host without QEMU/binfmt, because its Dockerfile
 * only copies the bundled bridge. The machine pulls from no registry, so an empty arm64 image stands in for the
 * official Node.js base (what the build takes from it is its architecture, not its files).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BRIDGE_IMAGE_SOURCE_DIR } from '../../scripts/build-bridge.ts';
import { requireServices } from '../support/services.ts';
import { podman } from '../support/worker-image.ts';

const onX86 = process.arch === 'x64';
/** scripts/setup.sh installs podman; only outside CI may a machine without it skip. */
const hasPodman = existsSync('/usr/bin/podman') || requireServices();

describe.skipIf(!onX86 || !hasPodman)(
  'bridge image: arm64 build on an x86_64 host (podman, empty arm64 base)',
  () => {
    const suffix = randomBytes(4).toString('hex');
    const base = `localhost/oqe-empty-arm64-base:${suffix}`;
    const image = `localhost/oqe-bridge-cross:${suffix}`;
    const dir = mkdtempSync(join(tmpdir(), 'oqe-bridge-cross-'));

    beforeAll(async () => {
      const emptyTar = join(dir, 'empty.tar');
      writeFileSync(emptyTar, Buffer.alloc(1024)); // an empty tar archive: two zero blocks
      const imported = await podman(['import', '--arch', 'arm64', '--os', 'linux', emptyTar, base]);
      expect(imported.code, imported.out).toBe(0);
    }, 60_000);

    afterAll(async () => {
      await podman(['rmi', '--force', image, base]);
      rmSync(dir, { recursive: true, force: true });
    });

    it('builds linux/arm64 with the Dockerfile as shipped, and the image holds the bundled bridge', async () => {
      // Whether this host could run arm64 code at all: with no handler, any RUN step would fail here.
      const emulation = existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64');
      const built = await podman(
        [
          'build',
          '--platform',
          'linux/arm64',
          '--pull=never',
          '--build-arg',
          `NODE_IMAGE=${base}`,
          '-t',
          image,
          BRIDGE_IMAGE_SOURCE_DIR,
        ],
        process.env,
        120_000,
      );
      expect(built.code, built.out).toBe(0);
      const inspect = await podman([
        'image',
        'inspect',
        image,
        '--format',
        '{{.Architecture}} {{json .Config.Entrypoint}}',
      ]);
      expect(inspect.out.trim()).toBe('arm64 ["node","--enable-source-maps","bridge.mjs"]');
      // Read through a mount, never run: nothing of arm64 executes on this host.
      const mounted = await podman(['image', 'mount', image]);
      expect(mounted.code, mounted.out).toBe(0);
      try {
        const inImage = readFileSync(join(mounted.out.trim(), 'opt/oq-elastic/bridge.mjs'));
        expect(inImage.equals(readFileSync(join(BRIDGE_IMAGE_SOURCE_DIR, 'bridge.mjs')))).toBe(true);
      } finally {
        await podman(['image', 'unmount', image]);
      }
      console.info(
        `arm64 bridge image built on ${process.arch}; qemu-aarch64 binfmt handler registered: ${emulation}`,
      );
    }, 180_000);
  },
);
