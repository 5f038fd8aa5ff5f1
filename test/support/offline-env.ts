import { join } from 'node:path';

/**
 * The environment of a clean machine for a CDK app run as `cdk synth` runs it (the CLI passes context and the
 * output directory through CDK_CONTEXT_JSON and CDK_OUTDIR): no AWS credentials, profile, region or endpoint.
 */
export function offlineEnv(context: Record<string, unknown>, outdir: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_') && !k.startsWith('CDK_')),
  );
  return {
    ...env,
    AWS_SHARED_CREDENTIALS_FILE: join(outdir, 'no-credentials'),
    AWS_CONFIG_FILE: join(outdir, 'no-config'),
    AWS_EC2_METADATA_DISABLED: 'true',
    CDK_OUTDIR: outdir,
    CDK_CONTEXT_JSON: JSON.stringify(context),
  };
}
