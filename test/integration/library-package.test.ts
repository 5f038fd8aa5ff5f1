/**
 * The construct library as a user gets it: `npm pack` of this repository, installed with aws-cdk-lib,
 * constructs and cdk-nag (the versions of this repository's lockfile, from the npm cache when it has them)
 * into a fresh CDK app in a temporary directory, outside the repository. The app (test/fixtures/consumer-app)
 * adds OqElasticCluster to a stack of its own with a VPC of its own; it is type-checked against the package's
 * `.d.ts`, compiled, and synthesized offline with cdk-nag's AWS Solutions rules, then the template is linted.
 * 30 to 85 s on this 2-core machine (the more other work runs, the longer): pack (which builds the package: tsc and esbuild) about 15 s, install
 * 5 s with the npm cache warm from `npm ci`, tsc of the app 5 to 13 s, synth with cdk-nag 5 to 20 s, cfn-lint 2 s.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONSUMER_STACK as STACK,
  expectClusterResources,
  expectTemplateChecksPass,
  synthConsumerApp,
  type ConsumerSynth,
  type Json,
} from '../support/consumer-app.ts';
import { REPO_ROOT } from '../support/services.ts';

const run = promisify(execFile);

function lockedVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as Json;
  return lock.packages[`node_modules/${name}`].version as string;
}

describe('the packed construct library in a fresh CDK app, synthesized offline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oqe-library-'));
  const appDir = join(dir, 'app');
  const outdir = join(dir, 'cdk.out');
  let synth: ConsumerSynth;

  beforeAll(async () => {
    const packed = await run('npm', ['pack', '--silent', '--pack-destination', dir], {
      cwd: REPO_ROOT,
      maxBuffer: 16 * 1024 * 1024,
    });
    const tarball = join(dir, packed.stdout.trim().split('\n').pop()!);
    expect(existsSync(tarball), packed.stdout).toBe(true);

    cpSync(join(REPO_ROOT, 'test/fixtures/consumer-app'), appDir, { recursive: true });
    writeFileSync(
      join(appDir, 'package.json'),
      JSON.stringify({ name: 'model-runs', private: true, type: 'module' }),
    );
    await run(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        tarball,
        ...['aws-cdk-lib', 'constructs', 'cdk-nag'].map((p) => `${p}@${lockedVersion(p)}`),
      ],
      { cwd: appDir, maxBuffer: 16 * 1024 * 1024 },
    );
    // The user's compiler sees only the package's .d.ts files (the app's node_modules, not this repository's).
    await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', appDir], {
      cwd: appDir,
    });

    synth = await synthConsumerApp(process.execPath, ['build/app.js'], appDir, outdir);
  }, 600_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('installs with aws-cdk-lib and constructs as peers and no dependency of its own', () => {
    const installed = JSON.parse(
      readFileSync(join(appDir, 'node_modules/oq-elastic/package.json'), 'utf8'),
    ) as Json;
    expect(installed.dependencies ?? {}).toEqual({});
    expect(Object.keys(installed.peerDependencies).sort()).toEqual(['aws-cdk-lib', 'constructs']);
    // The app's node_modules holds no copy of the bridge's own dependencies: they are inside bridge.mjs.
    expect(existsSync(join(appDir, 'node_modules/amqplib'))).toBe(false);
    expect(existsSync(join(appDir, 'node_modules/oq-elastic/dist/bridge/image/bridge.mjs'))).toBe(true);
  });

  it('has the master, the worker and bridge services, EFS and the dashboard', () => {
    expectClusterResources(synth.template);
  });

  it('stages both images from the installed package: the worker for x86_64, the bridge (bundled) for arm64', () => {
    const assets = JSON.parse(readFileSync(join(outdir, `${STACK}.assets.json`), 'utf8')) as Json;
    const images = Object.values(assets.dockerImages) as Json[];
    const platformOf = (file: string): string[] =>
      images
        .filter((i) => existsSync(join(outdir, i.source.directory as string, file)))
        .map((i) => i.source.platform as string);
    expect(platformOf('bridge.mjs')).toEqual(['linux/arm64']);
    expect(platformOf('entrypoint/oq_worker_entrypoint.py')).toEqual(['linux/amd64']);
    // Nothing in the assembly points back at this repository.
    for (const file of readdirSync(outdir).filter((f) => f.endsWith('.json'))) {
      expect(readFileSync(join(outdir, file), 'utf8'), file).not.toContain(REPO_ROOT.replace(/\/$/, ''));
    }
  });

  it('passes the same template checks as the app: cdk-nag AWS Solutions and cfn-lint', async () => {
    await expectTemplateChecksPass(synth);
  }, 120_000);
});
