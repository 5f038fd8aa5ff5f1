/**
 * What the two acceptance tests of the construct library share (test/integration/library-package.test.ts for
 * TypeScript, library-python.test.ts for Python): running an own CDK app offline with cdk-nag, and what its
 * template must hold.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { offlineEnv } from './offline-env.ts';
import { awsSolutionsErrors, cfnLintErrors, type NagViolation } from './template-checks.ts';

const run = promisify(execFile);

/** The stack the fixture apps (test/fixtures/consumer-app, test/fixtures/python-app) define. */
export const CONSUMER_STACK = 'ModelRuns';
/** The master construct's own findings are its owner's (as in test/unit/stack-nag-lint.test.ts). */
const MASTER_PATH = /\/Master\//;

/** A synthesized template, as loosely typed JSON. */
export interface Json {
  [key: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The outcome of one offline synth of a consumer app. */
export interface ConsumerSynth {
  readonly template: Json;
  readonly violations: NagViolation[];
  readonly failed: boolean;
  readonly outdir: string;
}

/**
 * Runs `command args` (an app that adds cdk-nag's AWS Solutions checks and synthesizes) in `cwd` without AWS
 * credentials, writing the assembly to `outdir`. A failed synth must be cdk-nag's, never a crash of the app.
 */
export async function synthConsumerApp(
  command: string,
  args: string[],
  cwd: string,
  outdir: string,
): Promise<ConsumerSynth> {
  const synth = await run(command, args, {
    cwd,
    env: offlineEnv({}, outdir),
    maxBuffer: 16 * 1024 * 1024,
  }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  const failed = synth.code !== 0;
  if (failed) expect(synth.stderr).toMatch(/Validation failed|ValidationFailed/);
  return {
    template: JSON.parse(readFileSync(join(outdir, `${CONSUMER_STACK}.template.json`), 'utf8')) as Json,
    violations: awsSolutionsErrors(outdir),
    failed,
    outdir,
  };
}

/** The cluster's parts in the template: one master, EFS, the dashboard, the worker and the bridge services. */
export function expectClusterResources(template: Json): void {
  const resources = Object.values(template.Resources) as Json[];
  const ofType = (type: string): Json[] => resources.filter((r) => r.Type === type);
  expect(ofType('AWS::EC2::Instance')).toHaveLength(1);
  expect(ofType('AWS::EFS::FileSystem')).toHaveLength(1);
  expect(ofType('AWS::CloudWatch::Dashboard')).toHaveLength(1);
  expect(ofType('AWS::ECS::Service')).toHaveLength(2);
  const containers = ofType('AWS::ECS::TaskDefinition').flatMap((t) =>
    (t.Properties.ContainerDefinitions as Json[]).map((c) => c.Name as string),
  );
  expect(containers.sort()).toEqual(['Bridge', 'Worker']);
}

/** The app's template checks: no AWS Solutions error outside the master's, no cfn-lint error. */
export async function expectTemplateChecksPass(synth: ConsumerSynth): Promise<void> {
  expect(synth.violations.filter((v) => !MASTER_PATH.test(v.path))).toEqual([]);
  expect(synth.failed).toBe(synth.violations.length > 0);
  expect(await cfnLintErrors(join(synth.outdir, `${CONSUMER_STACK}.template.json`))).toEqual([]);
}
