/**
 * The template checks every synthesized cluster must pass, wherever it was synthesized (this repository's app or
 * an own CDK app using the packaged construct): cdk-nag's AWS Solutions rules, read from the validation report
 * CDK writes into the assembly, and cfn-lint over the template.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CFN_LINT } from './python.ts';

const run = promisify(execFile);

/** One construct that breaks one rule. */
export interface NagViolation {
  readonly rule: string;
  readonly path: string;
}

interface ValidationReport {
  readonly pluginReports: {
    readonly pluginName: string;
    readonly violations: {
      readonly ruleName: string;
      readonly severity: string;
      readonly violatingConstructs: { readonly constructPath: string }[];
    }[];
  }[];
}

/** The AwsSolutions errors of `<assemblyDir>/validation-report.json` (written before the plugins fail synth). */
export function awsSolutionsErrors(assemblyDir: string): NagViolation[] {
  const report = JSON.parse(
    readFileSync(join(assemblyDir, 'validation-report.json'), 'utf8'),
  ) as ValidationReport;
  return report.pluginReports
    .filter((p) => p.pluginName === 'AwsSolutions')
    .flatMap((p) =>
      p.violations
        .filter((v) => v.severity === 'error')
        .flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))),
    );
}

/** cfn-lint's errors for a template, one parseable line each; warnings and informational findings pass. */
export async function cfnLintErrors(templateFile: string): Promise<string[]> {
  // Exit codes are a bit mask: 2 = error, 4 = warning, 8 = informational.
  const result = await run(CFN_LINT, ['--format', 'parseable', templateFile]).then(
    (r) => ({ code: 0, out: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
  );
  const errors = result.out.split('\n').filter((l) => /:E\d{4}:/.test(l));
  if (errors.length === 0 && (result.code & 2) !== 0)
    return [`cfn-lint exited ${result.code}: ${result.out}`];
  return errors;
}
