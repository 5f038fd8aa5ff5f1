import { CfnResource, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** One acknowledged cdk-nag finding: the rule id and why it does not apply to this one resource. */
export interface NagAcknowledgement {
  /** The rule, e.g. `AwsSolutions-IAM5`. */
  readonly id: string;
  readonly reason: string;
  /**
   * The rule's individual findings being acknowledged (e.g. `Resource::*`), each as `id[finding]`.
   * @default - the rule as a whole
   */
  readonly findings?: readonly string[];
}

/**
 * Acknowledges cdk-nag findings on the CloudFormation resource of `construct` only, never on a parent scope,
 * through CDK's own `Validations.acknowledge` (which cdk-nag 3 reads), so the app needs no cdk-nag at run time.
 */
export function acknowledgeNag(construct: IConstruct, acknowledgements: readonly NagAcknowledgement[]): void {
  const resource = construct instanceof CfnResource ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnResource)) {
    throw new Error(`acknowledgeNag: ${construct.node.path} has no CloudFormation resource of its own`);
  }
  for (const a of acknowledgements) {
    const ids = a.findings ? a.findings.map((f) => `${a.id}[${f}]`) : [a.id];
    for (const id of ids) Validations.of(resource).acknowledge({ id, reason: a.reason });
  }
}

/**
 * Acknowledges, on the execution role's policy of `taskDefinition` only, the one wildcard CDK grants every
 * task that pulls from ECR: `ecr:GetAuthorizationToken` has no resource-level permissions.
 */
export function acknowledgeEcrAuthorizationToken(
  taskDefinition: IConstruct & { executionRole?: IConstruct },
): void {
  const executionPolicy = taskDefinition.executionRole?.node.tryFindChild('DefaultPolicy');
  if (!executionPolicy) return;
  acknowledgeNag(executionPolicy, [
    {
      id: 'AwsSolutions-IAM5',
      reason: 'ecr:GetAuthorizationToken has no resource-level permissions (CDK grants it on *).',
      findings: ['Resource::*'],
    },
  ]);
}
