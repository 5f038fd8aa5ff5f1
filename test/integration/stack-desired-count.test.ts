import { randomBytes } from 'node:crypto';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  CloudFormationClient,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
} from '@aws-sdk/client-cloudformation';
import {
  DescribeServicesCommand,
  ECSClient,
  ListServicesCommand,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { OqElasticStack } from '../../cdk/lib/oq-elastic-stack.ts';
import { AWS_ENDPOINT_URL, describeWithMoto } from '../support/services.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const clientConfig = {
  endpoint: AWS_ENDPOINT_URL,
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
};

/**
 * A redeploy must not reset the worker count the bridge set. The real stack cannot run in the emulator (EC2
 * user-data, custom-resource Lambdas), so this deploys the worker service's own CloudFormation properties
 * (as synthesized) next to a cluster and a task definition, and plays the deployment history: create, the
 * bridge scales, `cdk deploy` of a new worker revision. CloudFormation leaves an omitted DesiredCount out
 * of the UpdateService call (AWS::ECS::Service, DesiredCount); moto implements the same rule.
 */
describeWithMoto('stack: the worker desired count survives a redeploy (moto CloudFormation and ECS)', () => {
  const suffix = randomBytes(4).toString('hex');
  const cfn = new CloudFormationClient(clientConfig);
  const ecs = new ECSClient(clientConfig);
  const stacks: string[] = [];
  let serviceProperties: Json;
  let initializerCall: Json;
  const clusterName = `oqe-stack-dc-${suffix}`;

  beforeAll(() => {
    const app = new App();
    const stack = new OqElasticStack(app, 'DesiredCount', { cluster: { minWorkers: 2, maxWorkers: 8 } });
    const json = Template.fromStack(stack).toJSON() as Json;
    serviceProperties =
      json.Resources[stack.getLogicalId(stack.cluster.workers.service.node.defaultChild as never)].Properties;
    const init = Object.values<Json>(json.Resources).find(
      (r) => r.Type === 'Custom::OqWorkerInitialDesiredCount',
    )!;
    // The Create call is a JSON string joined with tokens for the cluster and service names; drop the tokens.
    const create = init.Properties.Create as string | { 'Fn::Join': [string, unknown[]] };
    initializerCall = JSON.parse(
      typeof create === 'string'
        ? create
        : create['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : '')).join(''),
    );
  });

  afterAll(async () => {
    for (const name of stacks)
      await cfn.send(new DeleteStackCommand({ StackName: name })).catch(() => undefined);
  });

  /** The worker service as synthesized, wired to an emulator-friendly cluster and task definition. */
  function template(revision: string, overrides: Json = {}): string {
    const service: Json = { Cluster: { Ref: 'Cluster' }, TaskDefinition: { Ref: 'Worker' } };
    for (const key of ['DesiredCount', 'LaunchType', 'PlatformVersion', 'PropagateTags']) {
      if (key in serviceProperties) service[key] = serviceProperties[key];
    }
    return JSON.stringify({
      Resources: {
        Cluster: { Type: 'AWS::ECS::Cluster', Properties: { ClusterName: clusterName } },
        Worker: {
          Type: 'AWS::ECS::TaskDefinition',
          Properties: {
            Family: `oqe-worker-${suffix}`,
            ContainerDefinitions: [
              {
                Name: 'Worker',
                Image: 'worker',
                Memory: 512,
                Environment: [{ Name: 'REV', Value: revision }],
              },
            ],
          },
        },
        // A tag per revision makes the emulator update the service as CloudFormation does when the task
        // definition's ARN changes (the emulator compares the template text of a resource).
        Service: {
          Type: 'AWS::ECS::Service',
          Properties: { ...service, Tags: [{ Key: 'revision', Value: revision }], ...overrides },
        },
      },
    });
  }

  async function waitFor(name: string, status: string): Promise<void> {
    for (let i = 0; i < 50; i++) {
      const stack = (await cfn.send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!;
      if (stack.StackStatus === status) return;
      if (/FAILED|ROLLBACK/.test(stack.StackStatus ?? '')) throw new Error(`${name}: ${stack.StackStatus}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${name}: never reached ${status}`);
  }

  async function service(): Promise<{ desired: number; taskDefinition: string; arn: string }> {
    const arns = (await ecs.send(new ListServicesCommand({ cluster: clusterName }))).serviceArns ?? [];
    const out = await ecs.send(new DescribeServicesCommand({ cluster: clusterName, services: arns }));
    const s = out.services!.find((x) => x.status === 'ACTIVE')!;
    return { desired: s.desiredCount!, taskDefinition: s.taskDefinition!, arn: s.serviceArn! };
  }

  it('the synthesized worker service carries no DesiredCount', () => {
    expect(serviceProperties).not.toHaveProperty('DesiredCount');
    expect(initializerCall).toMatchObject({ action: 'updateService', parameters: { desiredCount: 2 } });
  });

  it('create at the minimum, bridge scales to 7, redeploy of a new worker revision keeps 7', async () => {
    const name = `oqe-stack-dc-${suffix}`;
    stacks.push(name);
    await cfn.send(new CreateStackCommand({ StackName: name, TemplateBody: template('1') }));
    await waitFor(name, 'CREATE_COMPLETE');
    const created = await service();

    // The create-only initializer's own call, with the names filled in.
    await ecs.send(
      new UpdateServiceCommand({
        cluster: clusterName,
        service: created.arn,
        desiredCount: initializerCall.parameters.desiredCount,
      }),
    );
    expect((await service()).desired).toBe(2);

    // The bridge scales out.
    await ecs.send(new UpdateServiceCommand({ cluster: clusterName, service: created.arn, desiredCount: 7 }));

    // `cdk deploy` with a changed worker task definition updates the service.
    await cfn.send(new UpdateStackCommand({ StackName: name, TemplateBody: template('2') }));
    await waitFor(name, 'UPDATE_COMPLETE');
    const after = await service();
    expect(after.taskDefinition).not.toBe(created.taskDefinition);
    expect(after.desired).toBe(7);

    // Control: had the template carried DesiredCount (the CDK default of 1 for a plain service), the same
    // redeploy would have reset the bridge's count.
    await cfn.send(
      new UpdateStackCommand({ StackName: name, TemplateBody: template('3', { DesiredCount: 1 }) }),
    );
    await waitFor(name, 'UPDATE_COMPLETE');
    expect((await service()).desired).toBe(1);
  });
});
