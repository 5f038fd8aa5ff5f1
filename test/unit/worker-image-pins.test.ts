/**
 * The worker image installs exactly the engine the master installs: the Dockerfile's defaults (used when the CDK
 * app builds the image as an asset, without build arguments) equal contract/engine-release.json, and its dependency
 * constraints are the master's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENGINE_RELEASE, OPENQUAKE_GID, OPENQUAKE_UID } from '../../contract/cluster-constants.ts';
import { REPO_ROOT } from '../support/services.ts';

const dockerfile = readFileSync(`${REPO_ROOT}worker-image/Dockerfile`, 'utf8');

function argDefaults(name: string): string[] {
  return [...dockerfile.matchAll(new RegExp(`^ARG ${name}=(\\S+)$`, 'gm'))].map((m) => m[1]);
}

describe('worker image pins', () => {
  it('defaults to the pinned engine, celery and Python of contract/engine-release.json', () => {
    expect(new Set(argDefaults('ENGINE_VERSION'))).toEqual(new Set([ENGINE_RELEASE.engine]));
    expect(new Set(argDefaults('CELERY_VERSION'))).toEqual(new Set([ENGINE_RELEASE.celery]));
    expect(argDefaults('BASE_IMAGE')).toEqual([`python:${ENGINE_RELEASE.python}-slim-bookworm`]);
    expect(argDefaults('TASK_APP')).toEqual(['engine', 'engine']);
  });

  it("installs the engine's dependencies under the master's constraints, unchanged", () => {
    const master = readFileSync(`${REPO_ROOT}cdk/assets/master/engine-constraints-py38.txt`, 'utf8');
    const worker = readFileSync(`${REPO_ROOT}worker-image/engine-constraints.txt`, 'utf8');
    expect(worker).toBe(master);
    expect(dockerfile).toMatch(/-c \/tmp\/engine-constraints\.txt/);
  });

  it('runs as the openquake uid/gid of the EFS access point, never as root', () => {
    expect(dockerfile).toContain(`groupadd --gid ${OPENQUAKE_GID} openquake`);
    expect(dockerfile).toContain(`useradd --uid ${OPENQUAKE_UID} --gid ${OPENQUAKE_GID}`);
    expect(dockerfile).toMatch(new RegExp(`^USER ${OPENQUAKE_UID}:${OPENQUAKE_GID}$`, 'm'));
    expect(dockerfile).not.toMatch(/--purge/);
  });
});
