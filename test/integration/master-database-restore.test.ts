/**
 * The part of the engine-database restore procedure (docs/master.md, "Restoring the engine database") that runs
 * without AWS: a real engine 3.11.5 database with a finished calculation, copied onto a fresh volume that the
 * boot's own mount logic (cdk/assets/master/mount-data-volume.sh) formatted and mounted, is opened by the
 * DbServer, and the engine lists the old calculation, also after the next boot's mount. The "volume" is a loop
 * device over a file; the fstab is a file of the test's own, never the host's.
 *
 * Restoring the AWS Backup recovery point to a volume and attaching it is not run here (no AWS account).
 * Needs root, losetup and mkfs.ext4, and the pinned engine image (test/support/worker-image.ts, the same one
 * the worker-image engine tests build; cold several minutes, warm about a second). The test itself: 30 to 90 s (three engine commands in containers).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENQUAKE_GID, OPENQUAKE_UID } from '../../contract/cluster-constants.ts';
import { DATABASE_DIR } from '../../cdk/lib/master/openquake-cfg.ts';
import { engineQaDir } from '../../local/engine/engine-env.ts';
import { REPO_ROOT } from '../support/services.ts';
import {
  ensureEngineImage,
  hostPythonAvailable,
  podman,
  PODMAN_RUN_LIMITS,
} from '../support/worker-image.ts';

const run = promisify(execFile);
const MOUNT_SCRIPT = `${REPO_ROOT}cdk/assets/master/mount-data-volume.sh`;
const isRoot = process.getuid?.() === 0;
const hasTools = ['/usr/sbin/losetup', '/usr/sbin/mkfs.ext4', '/usr/sbin/blkid'].every((p) => existsSync(p));
const enabled = (isRoot && hasTools && hostPythonAvailable('3.8')) || process.env.CI !== undefined;

/**
 * A QA calculation of the engine's own test data (a few seconds with no distribution), mounted from the local
 * engine environment: the worker image leaves the QA data out (docs/worker-image.md, "Size").
 */
const QA_CASE_DIR = join(engineQaDir(), 'classical', 'case_1');
const QA_JOB = '/qa/case_1/job.ini';

/** Engine settings for a single-user DbServer on the container's own loopback (no host port is taken). */
const ENGINE_CFG = `[distribution]
oq_distribute = no

[dbserver]
multi_user = false
file = ${DATABASE_DIR}/db.sqlite3
listen = 127.0.0.1
host = 127.0.0.1
port = 1908
receiver_ports = 1912-1920
authkey = restore-test
`;

/**
 * Starts the DbServer in the foreground as the master's unit does (backgrounded here) and waits until it says
 * it runs: the engine's own start-on-demand gives up after 30 s, too short on a loaded machine.
 */
const START_DBSERVER =
  'oq dbserver start -f & for _ in $(seq 90); do oq dbserver status | grep -q "dbserver running" && break; sleep 1; done; ';

/** Runs bash with the boot's mount function sourced; returns its exit code and output. */
async function mountVolume(
  device: string,
  label: string,
  mountPoint: string,
  fstab: string,
): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(
      'bash',
      [
        '-c',
        `set -euo pipefail; source "${MOUNT_SCRIPT}"; mount_volume "$1" "$2" "$3"`,
        'mount',
        device,
        label,
        mountPoint,
      ],
      { env: { ...process.env, OQ_FSTAB: fstab } },
    );
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe.skipIf(!enabled)(
  'master: engine database restored onto a fresh volume (loop device, engine 3.11.5 image)',
  () => {
    let image: string;
    let root: string;
    const loops: string[] = [];
    const mounted: string[] = [];
    // ext4 labels hold at most 16 bytes; a random suffix keeps parallel runs apart (blkid sees every device).
    const label = `oqr-${randomBytes(4).toString('hex')}`;

    /** An engine command in the pinned image with `dir` as the master's database directory. */
    async function engine(dir: string, script: string): Promise<{ code: number; out: string }> {
      // prettier-ignore
      return podman([
      'run', '--rm', '--network', 'none', ...PODMAN_RUN_LIMITS, '--health-interval', 'disable',
      '--entrypoint', '/bin/bash', '-e', 'OQ_CONFIG_FILE=/etc/oq/openquake.cfg', '-e', 'OQ_DISTRIBUTE=no',
      // Skips the engine's version check, an HTTP request to its project's server (DESIGN: check_obsolete_version).
      '-e', 'TRAVIS=1',
      '-v', `${join(root, 'cfg')}:/etc/oq:ro`, '-v', `${dir}:${DATABASE_DIR}`, '-v', `${QA_CASE_DIR}:/qa/case_1:ro`,
      image, '-c', script,
    ]);
    }

    async function loopDevice(name: string): Promise<string> {
      const file = join(root, name);
      await run('truncate', ['-s', '64M', file]);
      const { stdout } = await run('losetup', ['--find', '--show', file]);
      loops.push(stdout.trim());
      return stdout.trim();
    }

    beforeAll(async () => {
      image = await ensureEngineImage();
      root = mkdtempSync(join(tmpdir(), 'oqe-db-restore-'));
      mkdirSync(join(root, 'cfg'));
      writeFileSync(join(root, 'cfg', 'openquake.cfg'), ENGINE_CFG);
      writeFileSync(join(root, 'fstab'), '');
    }, 1_900_000);

    afterAll(async () => {
      for (const dir of mounted.reverse()) await run('umount', [dir]).catch(() => undefined);
      for (const loop of loops) await run('losetup', ['-d', loop]).catch(() => undefined);
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('a calculation recorded on the old volume is listed by the DbServer of a fresh volume after the copy, and after the next boot', async () => {
      // The old master: the engine runs a calculation, the DbServer records it.
      const oldVolume = join(root, 'old-volume');
      mkdirSync(oldVolume);
      chownSync(oldVolume, OPENQUAKE_UID, OPENQUAKE_GID);
      const calc = await engine(oldVolume, `${START_DBSERVER}oq engine --run ${QA_JOB} && oq engine --lhc`);
      expect(calc.code, calc.out).toBe(0);
      const calcLine = calc.out.split('\n').find((l) => /^\s*\d+\s*\|\s*complete\s*\|/.test(l));
      expect(calcLine, calc.out).toBeDefined();
      const calcId = calcLine!.split('|')[0]!.trim();

      // The new master's boot: a blank volume is formatted with the label and mounted.
      const device = await loopDevice('fresh.img');
      const mountPoint = join(root, 'var-lib-openquake');
      const first = await mountVolume(device, label, mountPoint, join(root, 'fstab'));
      expect(first.code, first.out).toBe(0);
      mounted.push(mountPoint);
      expect((await run('blkid', ['-s', 'LABEL', '-o', 'value', device])).stdout.trim()).toBe(label);
      expect(readFileSync(join(root, 'fstab'), 'utf8')).toBe(
        `LABEL=${label} ${mountPoint} ext4 defaults,nofail 0 2\n`,
      );
      expect((await run('findmnt', ['-no', 'SOURCE', mountPoint])).stdout.trim()).toBe(device);

      // The restore: the database copied onto it, owned by openquake.
      copyFileSync(join(oldVolume, 'db.sqlite3'), join(mountPoint, 'db.sqlite3'));
      chownSync(mountPoint, OPENQUAKE_UID, OPENQUAKE_GID);
      chownSync(join(mountPoint, 'db.sqlite3'), OPENQUAKE_UID, OPENQUAKE_GID);

      // The next boot: unmounted, mounted again by the same logic, which must keep the labelled file system.
      // (Its online resize2fs of a grown volume is refused in this sandbox, "Permission denied to resize
      // filesystem", so growing is not checked here.)
      await run('umount', [mountPoint]);
      const again = await mountVolume(device, label, mountPoint, join(root, 'fstab'));
      expect(again.code, again.out).toBe(0);
      expect(readFileSync(join(root, 'fstab'), 'utf8').split('\n').filter(Boolean)).toHaveLength(1);

      // The DbServer, as the master's unit starts it, then the listing through it.
      const listed = await engine(mountPoint, `${START_DBSERVER}oq dbserver status && oq engine --lhc`);
      expect(listed.code, listed.out).toBe(0);
      expect(listed.out).toContain('dbserver running');
      expect(listed.out).toMatch(new RegExp(`^\\s*${calcId}\\s*\\|\\s*complete\\s*\\|.*Classical`, 'm'));
    }, 600_000);

    it('refuses a device that carries another file system, and formats nothing', async () => {
      const device = await loopDevice('foreign.img');
      await run('mkfs.ext4', ['-q', '-L', 'foreign', device]);
      const result = await mountVolume(device, label, join(root, 'never'), join(root, 'fstab-foreign'));
      expect(result.code).not.toBe(0);
      expect(result.out).toContain(`has the label foreign, not ${label}: refusing to mount or format it`);
      expect((await run('blkid', ['-s', 'LABEL', '-o', 'value', device])).stdout.trim()).toBe('foreign');
      expect(existsSync(join(root, 'fstab-foreign'))).toBe(false);
    });
  },
);
