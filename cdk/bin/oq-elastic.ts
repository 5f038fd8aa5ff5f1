#!/usr/bin/env -S npx tsx
/**
 * Entry point of the CDK app: `npx cdk synth` / `npx cdk deploy`. Cluster props come from CDK context
 * (`cdk.json` or `-c name=value`, see docs/deploy.md). The stack is environment-agnostic, so synth needs no
 * AWS credentials and makes no context lookups; the region is the one of the deploying profile.
 */
import { App } from 'aws-cdk-lib';
import { OqElasticStack } from '../lib/oq-elastic-stack.ts';
import { clusterPropsFromContext } from '../lib/props/cluster-props-from-context.ts';

const app = new App();
const stackName = (app.node.tryGetContext('oq-elastic:stackName') as string | undefined) ?? 'OqElastic';
new OqElasticStack(app, stackName, {
  cluster: clusterPropsFromContext(app.node),
  description: 'OpenQuake Engine celery cluster with elastic Fargate workers (oq-elastic)',
});
app.synth();
