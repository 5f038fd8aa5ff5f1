/**
 * The checkov checks that the cluster's template does not pass, each with why (test/integration/stack-checkov.test.ts
 * fails on any other finding, and on a skip that matches none).
 */
export const CHECKOV_SKIPS: Readonly<Record<string, string>> = {
  CKV_AWS_46:
    "The master's user data is its boot script, raw-deflated and base85-encoded to fit EC2's 16 KB (high entropy, no secret): every secret is read from Secrets Manager at boot (stack-template test: no secret value in the template).",
  CKV_AWS_111:
    "The master's Session Manager actions (ssm:UpdateInstanceInformation, ssmmessages:*Channel) have no resource-level permissions.",
  CKV_AWS_115:
    "CDK's deploy-time custom-resource Lambdas (default-SG restriction, initial desired count) run once per deployment: no concurrency to cap.",
  CKV_AWS_116:
    'Those deploy-time custom-resource Lambdas are invoked synchronously by CloudFormation, which reports their failures: a DLQ would stay empty.',
  CKV_AWS_117: 'Those deploy-time custom-resource Lambdas call only AWS APIs and reach nothing in the VPC.',
  CKV_AWS_149:
    'Secrets use the AWS-managed key aws/secretsmanager; a customer key adds cost and key policy but no reader beyond the IAM grants.',
  CKV_AWS_158:
    'Log groups are encrypted at rest by CloudWatch Logs; the logs carry no secrets (redacted by key and value), so a customer key adds cost only.',
};
