import { CfnResource } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One acknowledged cdk-nag finding: the rule id and why it does not apply to this one resource. */
export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
  /** Restrict the acknowledgement to these findings of the rule (e.g. `Resource::*`, or a `{ regex }`). */
  readonly appliesTo?: readonly (string | { readonly regex: string })[];
}

/**
 * Acknowledges cdk-nag findings on the CloudFormation resource of `construct` only (never its children or
 * siblings). Writes the `cdk_nag` metadata that cdk-nag reads, so the app does not depend on cdk-nag at run time.
 */
export function acknowledgeNag(construct: IConstruct, acknowledgements: readonly NagAcknowledgement[]): void {
  const resource = construct instanceof CfnResource ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnResource)) {
    throw new Error(`acknowledgeNag: ${construct.node.path} has no CloudFormation resource of its own`);
  }
  const existing = (resource.getMetadata('cdk_nag') as { rules_to_suppress?: unknown[] } | undefined)
    ?.rules_to_suppress;
  resource.addMetadata('cdk_nag', {
    rules_to_suppress: [
      ...(existing ?? []),
      ...acknowledgements.map((a) => ({
        id: a.id,
        reason: a.reason,
        ...(a.appliesTo ? { applies_to: a.appliesTo } : {}),
      })),
    ],
  });
}
