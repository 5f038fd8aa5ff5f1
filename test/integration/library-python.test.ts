/**
 * The construct library from Python: scripts/build-python-package.sh builds the wheel (jsii facade, jsii/, over
 * the packed library), a virtual environment gets aws-cdk-lib, constructs and cdk-nag
 * (test/fixtures/python-app/requirements.txt) and the wheel, and a Python CDK app (test/fixtures/python-app/app.py)
 * adds OqElasticCluster to a stack with a VPC of its own and synthesizes offline with cdk-nag's AWS Solutions
 * rules; the template is then linted like the app's.
 * Runtime 2 to 2.5 min on this 2-core machine: the wheel 1.5 min (npm pack, jsii, jsii-pacmak) and, alongside
 * it, the virtual environment once per requirements file (about 1 min with downloads, cached in
 * .cache/python-cdk/), then 2 s; synth 20 to 40 s.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectClusterResources,
  expectTemplateChecksPass,
  synthConsumerApp,
  type ConsumerSynth,
  type Json,
} from '../support/consumer-app.ts';
import { REPO_ROOT } from '../support/services.ts';

const run = promisify(execFile);
const APP_DIR = join(REPO_ROOT, 'test/fixtures/python-app');

/** A virtual environment with the app's requirements, made once per content of requirements.txt. */
async function pythonCdkEnvironment(): Promise<string> {
  const requirements = join(APP_DIR, 'requirements.txt');
  const stamp = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 16);
  const venv = join(REPO_ROOT, '.cache/python-cdk', stamp);
  if (!existsSync(join(venv, '.installed'))) {
    rmSync(venv, { recursive: true, force: true });
    await run('python3', ['-m', 'venv', venv]);
    await run(join(venv, 'bin/pip'), ['install', '-q', '--disable-pip-version-check', '-r', requirements], {
      maxBuffer: 16 * 1024 * 1024,
    });
    writeFileSync(join(venv, '.installed'), stamp);
  }
  return venv;
}

describe('the construct library from Python: the built wheel in a Python CDK app, synthesized offline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oqe-library-python-'));
  const outdir = join(dir, 'cdk.out');
  let synth: ConsumerSynth;

  beforeAll(async () => {
    // The wheel and the virtual environment do not depend on each other: on a cold machine both take about a
    // minute, mostly waiting on downloads and single-threaded tools, so they are made side by side.
    const [built, venv] = await Promise.all([
      run('bash', [join(REPO_ROOT, 'scripts/build-python-package.sh')], {
        cwd: REPO_ROOT,
        maxBuffer: 64 * 1024 * 1024,
      }),
      pythonCdkEnvironment(),
    ]);
    const wheel = built.stdout.trim().split('\n').pop()!;
    expect(wheel).toMatch(/oq_elastic-[\d.]+-py3-none-any\.whl$/);
    await run(join(venv, 'bin/pip'), [
      'install',
      '-q',
      '--disable-pip-version-check',
      '--force-reinstall',
      '--no-deps',
      wheel,
    ]);
    synth = await synthConsumerApp(join(venv, 'bin/python'), [join(APP_DIR, 'app.py')], dir, outdir);
  }, 900_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has the master, the worker and bridge services, EFS and the dashboard, in the VPC of the app', () => {
    const { template } = synth;
    expectClusterResources(template);
    const resources = Object.values(template.Resources) as Json[];
    const ofType = (type: string): Json[] => resources.filter((r) => r.Type === type);
    expect(ofType('AWS::EC2::VPC')).toHaveLength(1);
    // The Python props arrived as CDK types: Size.gibibytes(8) and Duration.minutes(3).
    const worker = ofType('AWS::ECS::TaskDefinition').find((t) =>
      (t.Properties.ContainerDefinitions as Json[]).some((c) => c.Name === 'Worker'),
    )!;
    expect(worker.Properties.Memory).toBe('8192');
    const bridge = ofType('AWS::ECS::TaskDefinition')
      .flatMap((t) => t.Properties.ContainerDefinitions as Json[])
      .find((c) => c.Name === 'Bridge')!;
    expect(bridge.Environment).toContainEqual({ Name: 'OQE_IDLE_GRACE_SECONDS', Value: '180' });
  });

  it('passes the same template checks as the app: cdk-nag AWS Solutions and cfn-lint', async () => {
    await expectTemplateChecksPass(synth);
  }, 120_000);
});
