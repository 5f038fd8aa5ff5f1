import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, CfnResource, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OqElasticStack } from '../../cdk/lib/oq-elastic-stack.ts';
import { CFN_LINT, itWithPython } from '../support/python.ts';
import { awsSolutionsErrors, cfnLintErrors, type NagViolation } from '../support/template-checks.ts';

/**
 * The master construct (cdk/lib/master/**) is written by the master engineer, who acknowledges its own
 * findings; this file holds the stack's own constructs to zero and reports the master's separately.
 */
const MASTER_PATH = /^NagTest\/Default\/Master\//;

/** cdk-nag 3's AWS Solutions rules (a CDK validation plugin) and cfn-lint over the default cluster's template. */
describe('stack: cdk-nag AWS Solutions checks and cfn-lint', () => {
  let app: App;
  let stack: OqElasticStack;
  let dir: string;
  let templateFile: string;
  let violations: NagViolation[];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'oqe-stack-nag-'));
    app = new App({ outdir: join(dir, 'cdk.out') });
    stack = new OqElasticStack(app, 'NagTest', {
      cluster: { webUi: true, webUiAllowedCidr: '10.20.0.0/16' },
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    let failed = false;
    try {
      app.synth();
    } catch (error) {
      // Any unacknowledged error interrupts synthesis; the report says which.
      expect(String(error)).toMatch(/ValidationFailed|Validation failed/);
      failed = true;
    }
    violations = awsSolutionsErrors(join(dir, 'cdk.out'));
    expect(failed).toBe(violations.length > 0);
    // The assembly is written before the validation plugins run.
    templateFile = join(dir, 'cdk.out', `${stack.artifactId}.template.json`);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has zero unacknowledged AwsSolutions errors in the stack, its network, workers, bridge, EFS and secrets', () => {
    expect(violations.filter((v) => !MASTER_PATH.test(v.path))).toEqual([]);
    const open = violations.filter((v) => MASTER_PATH.test(v.path)).map((v) => v.rule);
    if (open.length > 0)
      console.info(`cdk-nag findings open in cdk/lib/master (its owner's): ${open.join(', ')}`);
  });

  it('acknowledges each finding on one CloudFormation resource, with a reason', () => {
    const acknowledged: string[] = [];
    for (const construct of app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        // Data: { ruleId: reason }. The CDK itself acknowledges some CloudFormation-Validate rules on stacks.
        for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
          if (!id.includes('AwsSolutions')) continue;
          // Never on a stack or a parent scope, where it would cover every child.
          expect(construct, `${construct.node.path} ${id}`).toBeInstanceOf(CfnResource);
          expect(reason.length, `${construct.node.path} ${id}`).toBeGreaterThan(40);
          acknowledged.push(`${construct.node.path} ${id}`);
        }
      }
    }
    expect(acknowledged.some((a) => a.includes('AwsSolutions-IAM5'))).toBe(true);
    expect(acknowledged.some((a) => a.includes('AwsSolutions-SMG4'))).toBe(true);
  });

  itWithPython(
    'passes cfn-lint with no errors',
    async () => expect(await cfnLintErrors(templateFile)).toEqual([]),
    120_000,
    CFN_LINT,
  );
});
