import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBridgeConfig } from '../../bridge/src/config/bridge-config.ts';
import { remoteControlSerializer } from '../../cdk/lib/bridge/remote-control-serializer.ts';
import {
  ENGINE_RELEASE,
  OPENQUAKE_GID,
  OPENQUAKE_UID,
  SHARED_DIR,
} from '../../contract/cluster-constants.ts';
import type { ClusterSettings } from '../../cdk/lib/props/cluster-settings.ts';
import { OqElasticStack } from '../../cdk/lib/oq-elastic-stack.ts';
import { WORKER_HEALTHCHECK_COMMAND } from '../../cdk/lib/workers/worker-service.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost } from '../../contract/prices.ts';
import { REPO_ROOT } from '../support/services.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function synth(cluster: ClusterSettings): {
  stack: OqElasticStack;
  template: Template;
  json: Json;
  app: App;
} {
  const app = new App();
  const stack = new OqElasticStack(app, 'Test', { cluster });
  const template = Template.fromStack(stack);
  return { stack, template, json: template.toJSON() as Json, app };
}

function logicalId(stack: Stack, construct: { node: { defaultChild?: unknown } }): string {
  return stack.getLogicalId(construct.node.defaultChild as never);
}

/** Every ingress rule of the template, inline or standalone, as `port(s) <- source`. */
function ingressRules(json: Json): { group: string; ports: string; source: string }[] {
  const out: { group: string; ports: string; source: string }[] = [];
  const describeSource = (rule: Json): string =>
    rule.CidrIp ?? rule.CidrIpv6 ?? rule.SourceSecurityGroupId?.['Fn::GetAtt']?.[0] ?? JSON.stringify(rule);
  const ports = (rule: Json): string =>
    rule.FromPort === rule.ToPort ? `${rule.FromPort}` : `${rule.FromPort}-${rule.ToPort}`;
  for (const [id, r] of Object.entries<Json>(json.Resources)) {
    if (r.Type === 'AWS::EC2::SecurityGroup') {
      for (const rule of r.Properties.SecurityGroupIngress ?? []) {
        out.push({ group: id, ports: ports(rule), source: describeSource(rule) });
      }
    }
    if (r.Type === 'AWS::EC2::SecurityGroupIngress') {
      const group = r.Properties.GroupId['Fn::GetAtt'][0];
      out.push({ group, ports: ports(r.Properties), source: describeSource(r.Properties) });
    }
  }
  return out;
}

function containerOf(json: Json, taskDefinitionId: string): Json {
  return json.Resources[taskDefinitionId].Properties.ContainerDefinitions[0];
}

describe('stack template (default props, WebUI CIDR given)', () => {
  let stack: OqElasticStack;
  let template: Template;
  let json: Json;
  let app: App;
  let ids: Record<string, string>;

  beforeAll(() => {
    ({ stack, template, json, app } = synth({
      webUi: true,
      webUiAllowedCidr: '10.20.0.0/16',
      maxWorkers: 12,
    }));
    ids = {
      master: logicalId(stack, stack.cluster.securityGroups.master),
      workers: logicalId(stack, stack.cluster.securityGroups.workers),
      bridge: logicalId(stack, stack.cluster.securityGroups.bridge),
      efs: logicalId(stack, stack.cluster.sharedDir.securityGroup),
      endpoints: logicalId(stack, stack.cluster.network.endpointSecurityGroup!),
      workerTask: logicalId(stack, stack.cluster.workers.taskDefinition),
      bridgeTask: logicalId(stack, stack.cluster.bridge.taskDefinition),
      workerService: logicalId(stack, stack.cluster.workers.service),
      bridgeService: logicalId(stack, stack.cluster.bridge.service),
      cluster: logicalId(stack, stack.cluster.cluster),
      bridgeTaskRole: logicalId(stack, stack.cluster.bridge.taskDefinition.taskRole),
    };
  });

  it('master admits 1908 and the receiver ports from workers only, 5672 from workers and bridge, 15672 from the bridge, 8800 from the CIDR', () => {
    const master = ingressRules(json)
      .filter((r) => r.group === ids.master)
      .map((r) => `${r.ports}<-${r.source}`)
      .sort();
    expect(master).toEqual(
      [
        `5672<-${ids.workers}`,
        `5672<-${ids.bridge}`,
        `15672<-${ids.bridge}`,
        `1908<-${ids.workers}`,
        `1912-1920<-${ids.workers}`,
        '8800<-10.20.0.0/16',
      ].sort(),
    );
  });

  it('EFS admits 2049 from master and workers only; endpoints admit 443 from the cluster groups only', () => {
    const efs = ingressRules(json).filter((r) => r.group === ids.efs);
    expect(efs.map((r) => `${r.ports}<-${r.source}`).sort()).toEqual(
      [`2049<-${ids.master}`, `2049<-${ids.workers}`].sort(),
    );
    const endpoints = ingressRules(json).filter((r) => r.group === ids.endpoints);
    expect(endpoints.map((r) => `${r.ports}<-${r.source}`).sort()).toEqual(
      [`443<-${ids.master}`, `443<-${ids.workers}`, `443<-${ids.bridge}`].sort(),
    );
  });

  it('nothing admits 0.0.0.0/0 or ::/0, and workers and bridge accept no inbound at all', () => {
    const rules = ingressRules(json);
    expect(rules.length).toBeGreaterThan(0);
    expect(rules.filter((r) => r.source === '0.0.0.0/0' || r.source === '::/0')).toEqual([]);
    expect(rules.filter((r) => r.group === ids.workers || r.group === ids.bridge)).toEqual([]);
  });

  it('mounts shared_dir read-only in the workers, over TLS with IAM through the access point', () => {
    const worker = containerOf(json, ids.workerTask);
    expect(worker.MountPoints).toEqual([
      { ContainerPath: SHARED_DIR, ReadOnly: true, SourceVolume: 'shared-dir' },
      { ContainerPath: '/tmp', ReadOnly: false, SourceVolume: 'scratch-tmp' },
      { ContainerPath: '/home/openquake', ReadOnly: false, SourceVolume: 'scratch-home' },
    ]);
    const volume = json.Resources[ids.workerTask].Properties.Volumes[0];
    expect(volume.EFSVolumeConfiguration).toMatchObject({
      TransitEncryption: 'ENABLED',
      AuthorizationConfig: { IAM: 'ENABLED', AccessPointId: { Ref: expect.stringMatching(/AccessPoint/) } },
    });
    // The worker role may mount, never write.
    const workerRole = logicalId(stack, stack.cluster.workers.taskDefinition.taskRole);
    const actions = Object.values<Json>(json.Resources)
      .filter(
        (r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === workerRole),
      )
      .flatMap((r) => r.Properties.PolicyDocument.Statement.flatMap((s: Json) => [s.Action].flat()));
    expect(actions).toContain('elasticfilesystem:ClientMount');
    expect(actions).not.toContain('elasticfilesystem:ClientWrite');
    expect(actions).not.toContain('elasticfilesystem:ClientRootAccess');
  });

  it('an encrypted EFS whose access point maps to uid/gid 1200 with a setgid 2750 directory, refusing plain NFS', () => {
    template.hasResourceProperties('AWS::EFS::FileSystem', {
      Encrypted: true,
      FileSystemPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    // The file system policy allows nothing by itself: no write or root access for any principal, no anonymous mount.
    const efsPolicy = Object.values<Json>(json.Resources).find((r) => r.Type === 'AWS::EFS::FileSystem')!
      .Properties.FileSystemPolicy;
    expect(efsPolicy.Statement.filter((s: Json) => s.Effect === 'Allow')).toEqual([]);
    template.hasResourceProperties('AWS::EFS::AccessPoint', {
      PosixUser: { Uid: String(OPENQUAKE_UID), Gid: String(OPENQUAKE_GID) },
      RootDirectory: {
        CreationInfo: {
          OwnerUid: String(OPENQUAKE_UID),
          OwnerGid: String(OPENQUAKE_GID),
          Permissions: '2750',
        },
      },
    });
    const mountSubnets = Object.values<Json>(json.Resources)
      .filter((r) => r.Type === 'AWS::EFS::MountTarget')
      .map((r) => r.Properties.SubnetId.Ref as string);
    expect(mountSubnets.length).toBe(2);
    for (const subnet of mountSubnets) {
      expect(json.Resources[subnet].Properties.MapPublicIpOnLaunch).toBe(false);
      expect(subnet).toMatch(/cluster/i);
    }
  });

  it('passes the broker password and the authkey as ECS secrets, never as plain environment', () => {
    for (const task of [ids.workerTask, ids.bridgeTask]) {
      const container = containerOf(json, task);
      for (const env of container.Environment) expect(env.Name).not.toMatch(/PASSWORD|AUTHKEY|SECRET/);
      for (const secret of container.Secrets) {
        expect(JSON.stringify(secret.ValueFrom)).toMatch(/:(password|authkey)::/);
      }
    }
    expect(
      containerOf(json, ids.workerTask)
        .Secrets.map((s: Json) => s.Name)
        .sort(),
    ).toEqual(['OQ_AMQP_PASSWORD', 'OQ_DBSERVER_AUTHKEY']);
    expect(containerOf(json, ids.bridgeTask).Secrets.map((s: Json) => s.Name)).toEqual([
      'OQE_BROKER_PASSWORD',
    ]);
  });

  it('sets the worker environment of the contract, the stop timeout and the Fargate size', () => {
    const worker = containerOf(json, ids.workerTask);
    const env = Object.fromEntries(worker.Environment.map((e: Json) => [e.Name, e.Value]));
    expect(Object.keys(env).sort()).toEqual(
      [
        'OQ_MASTER_HOST',
        'OQ_AMQP_PORT',
        'OQ_AMQP_USER',
        'OQ_AMQP_VHOST',
        'OQ_CELERY_QUEUE',
        'OQ_DBSERVER_PORT',
        'OQ_RECEIVER_PORTS',
        'OQ_SHARED_DIR',
        'OQ_WORKER_CONCURRENCY',
      ].sort(),
    );
    expect(env).toMatchObject({
      OQ_AMQP_PORT: '5672',
      OQ_AMQP_VHOST: 'openquake',
      OQ_CELERY_QUEUE: 'celery',
    });
    expect(env.OQ_RECEIVER_PORTS).toBe('1912-1920');
    expect(env.OQ_WORKER_CONCURRENCY).toBe('4');
    expect(env.OQ_MASTER_HOST).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Master/), 'PrivateIp'] });
    expect(worker.StopTimeout).toBe(120);
    expect(worker.LogConfiguration.LogDriver).toBe('awslogs');
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '4096',
      Memory: '16384',
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
    });
  });

  it("checks the worker's health with the image's own check (its celery ping through the broker)", () => {
    const worker = containerOf(json, ids.workerTask);
    expect(worker.HealthCheck).toEqual({
      Command: [...WORKER_HEALTHCHECK_COMMAND],
      Interval: 30,
      Timeout: 15,
      StartPeriod: 60,
      Retries: 3,
    });
    // The same command and timings as the image's HEALTHCHECK (which ECS ignores): the paths exist there.
    const dockerfile = readFileSync(join(REPO_ROOT, 'worker-image/Dockerfile'), 'utf8');
    const healthcheck = /^HEALTHCHECK (.*) \\\n\s+CMD (\[.*\])$/m.exec(dockerfile);
    expect(healthcheck?.[1]).toBe('--interval=30s --timeout=15s --start-period=60s --retries=3');
    expect(['CMD', ...(JSON.parse(healthcheck?.[2] ?? '[]') as string[])]).toEqual([
      ...WORKER_HEALTHCHECK_COMMAND,
    ]);
  });

  it('never runs celery with --purge', () => {
    expect(JSON.stringify(json)).not.toMatch(/--purge/);
    // No command override: the image's entrypoint (which never purges) starts celery.
    expect(containerOf(json, ids.workerTask).Command).toBeUndefined();
  });

  it('leaves the worker desired count to the bridge: no DesiredCount, a create-only initializer at the minimum', () => {
    const service = json.Resources[ids.workerService];
    expect(service.Properties).not.toHaveProperty('DesiredCount');
    const init = Object.values<Json>(json.Resources).filter(
      (r) => r.Type === 'Custom::OqWorkerInitialDesiredCount',
    );
    expect(init).toHaveLength(1);
    expect(init[0]!.Properties).not.toHaveProperty('Update');
    expect(init[0]!.Properties).not.toHaveProperty('Delete');
    const create = JSON.stringify(init[0]!.Properties.Create);
    expect(create).toContain('updateService');
    expect(create).toContain('\\"desiredCount\\":0');
    expect(create).toContain(ids.workerService);
    // The bridge comes up only after it, so the initializer cannot undo a first scale-out.
    const initId = Object.keys(json.Resources).find(
      (k) => json.Resources[k].Type === 'Custom::OqWorkerInitialDesiredCount',
    )!;
    expect(json.Resources[ids.bridgeService].DependsOn).toContain(initId);
  });

  it('runs one bridge task, never two during a deployment, on ARM', () => {
    template.hasResourceProperties('AWS::ECS::Service', {
      DesiredCount: 1,
      DeploymentConfiguration: Match.objectLike({ MinimumHealthyPercent: 0, MaximumPercent: 100 }),
      TaskDefinition: { Ref: ids.bridgeTask },
    });
    expect(json.Resources[ids.bridgeTask].Properties.RuntimePlatform.CpuArchitecture).toBe('ARM64');
    const env = Object.fromEntries(
      containerOf(json, ids.bridgeTask).Environment.map((e: Json) => [e.Name, e.Value]),
    );
    expect(env.OQE_BACKEND).toBe('ecs');
    expect(env.OQE_BROKER_USER).toBe('oq-bridge');
    expect(env.OQE_MAX_WORKERS).toBe('12');
    expect(env.OQE_SLOTS_PER_WORKER).toBe('4');
    expect(Number(env.OQE_WORKER_HOURLY_COST)).toBeCloseTo(
      fargateTaskHourlyCost(DEFAULT_PRICES, 'x86_64', 4, 16),
      5,
    );
    expect(JSON.stringify(env.OQE_MANAGEMENT_URL)).not.toMatch(/@/);
  });

  it('the bridge speaks JSON remote control (celery 4.4.7 workers) and labels its metrics with the dashboard cluster', () => {
    const env = Object.fromEntries(
      containerOf(json, ids.bridgeTask).Environment.map((e: Json) => [e.Name, e.Value]),
    );
    expect(ENGINE_RELEASE.celery).toMatch(/^4\./);
    expect(env.OQE_REMOTE_CONTROL_SERIALIZER).toBe('json');
    expect(env.OQE_CLUSTER_NAME).toEqual({ Ref: ids.cluster });
    expect(env.OQE_ECS_CLUSTER).toEqual({ Ref: ids.cluster });

    // The dashboard's and alarms' Cluster dimension is that same reference, everywhere it appears.
    const afterClusterDimension = (parts: unknown[]): unknown[] =>
      parts.flatMap((part, i) =>
        typeof part === 'string' && /"Cluster","$/.test(part) ? [parts[i + 1]] : [],
      );
    const dashboards = Object.values<Json>(json.Resources).filter(
      (r) => r.Type === 'AWS::CloudWatch::Dashboard',
    );
    const bodyParts = dashboards.flatMap((d) => d.Properties.DashboardBody['Fn::Join'][1] as unknown[]);
    const dimensions = afterClusterDimension(bodyParts);
    expect(dimensions.length).toBeGreaterThan(5);
    expect(new Set(dimensions.map((d) => JSON.stringify(d)))).toEqual(
      new Set([JSON.stringify({ Ref: ids.cluster })]),
    );
    const alarmClusters = Object.values<Json>(json.Resources)
      .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
      .flatMap((r) => JSON.stringify(r.Properties).match(/"Name":"Cluster","Value":\{[^}]*\}/g) ?? []);
    expect(alarmClusters.length).toBeGreaterThan(0);
    for (const a of alarmClusters) expect(a).toBe(`"Name":"Cluster","Value":{"Ref":"${ids.cluster}"}`);

    // The master's CalculationsExecuting timer publishes under it too.
    const userData = json.Resources[logicalId(stack, stack.cluster.master.instance)].Properties.UserData[
      'Fn::Base64'
    ]['Fn::Join'][1] as unknown[];
    const i = userData.findIndex((p) => typeof p === 'string' && p.endsWith("\nMETRICS_CLUSTER='"));
    expect(i).toBeGreaterThan(0);
    expect(userData[i + 1]).toEqual({ Ref: ids.cluster });

    // And the bridge's own config loader reads both as the stack meant.
    const resolved: NodeJS.ProcessEnv = { OQE_BROKER_PASSWORD: 'x' };
    for (const [name, value] of Object.entries(env)) {
      resolved[name] =
        typeof value === 'string'
          ? value
          : name === 'OQE_MANAGEMENT_URL'
            ? 'http://10.0.0.9:15672'
            : 'tok-' + name.toLowerCase();
    }
    resolved.OQE_BROKER_HOST = '10.0.0.9';
    resolved.OQE_EFS_FILE_SYSTEM_ID = 'fs-0123456789abcdef0';
    resolved.OQE_WORKER_SUBNET_IDS = 'subnet-0123456789abcdef0';
    resolved.OQE_CLUSTER_NAME = 'test-cluster-a1';
    const config = loadBridgeConfig(resolved);
    expect(config.remoteControlSerializer).toBe('json');
    expect(config.clusterName).toBe('test-cluster-a1');
  });

  it('runs workers with a read-only root, as the openquake user, with every capability dropped', () => {
    const worker = containerOf(json, ids.workerTask);
    expect(worker.ReadonlyRootFilesystem).toBe(true);
    expect(worker.User).toBe('1200:1200');
    expect(worker.LinuxParameters.Capabilities.Drop).toEqual(['ALL']);
    expect(worker.Privileged).not.toBe(true);
    const scratch = json.Resources[ids.workerTask].Properties.Volumes.filter((v: Json) =>
      /^scratch-/.test(v.Name),
    );
    expect(scratch).toEqual([{ Name: 'scratch-tmp' }, { Name: 'scratch-home' }]);
    // Fargate gives a bind mount the image's ownership only for a path the image declares a VOLUME.
    const dockerfile = readFileSync(join(REPO_ROOT, 'worker-image/Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^VOLUME \["\/tmp", "\/home\/openquake"\]$/m);
  });

  it('gives workers a broker user of their own, never the engine user', () => {
    const worker = containerOf(json, ids.workerTask);
    const env = Object.fromEntries(worker.Environment.map((e: Json) => [e.Name, e.Value]));
    expect(env.OQ_AMQP_USER).toBe('oq-worker');
    const password = worker.Secrets.find((x: Json) => x.Name === 'OQ_AMQP_PASSWORD');
    expect(JSON.stringify(password.ValueFrom)).toContain(
      logicalId(stack, stack.cluster.secrets.workerBroker),
    );
    expect(JSON.stringify(password.ValueFrom)).not.toContain(
      `"${logicalId(stack, stack.cluster.secrets.broker)}"`,
    );
  });

  it('limits worker egress to the master, NFS and HTTPS', () => {
    const workers = json.Resources[ids.workers].Properties;
    const inline = (workers.SecurityGroupEgress ?? []).map(
      (r: Json) => `${r.FromPort}-${r.ToPort}->${r.CidrIp}`,
    );
    const separate = Object.values<Json>(json.Resources)
      .filter(
        (r) =>
          r.Type === 'AWS::EC2::SecurityGroupEgress' && r.Properties.GroupId['Fn::GetAtt'][0] === ids.workers,
      )
      .map(
        (r) =>
          `${r.Properties.FromPort}-${r.Properties.ToPort}->${r.Properties.DestinationSecurityGroupId['Fn::GetAtt'][0]}`,
      );
    expect([...inline, ...separate].sort()).toEqual(
      [
        '443-443->0.0.0.0/0',
        `5672-5672->${ids.master}`,
        `1908-1908->${ids.master}`,
        `1912-1920->${ids.master}`,
        `2049-2049->${ids.efs}`,
      ].sort(),
    );
  });

  it('forwards the WebUI to the address it binds: the private address when a CIDR is given', () => {
    const output = JSON.stringify(json.Outputs.WebUiPortForwardCommand.Value);
    expect(output).toContain('AWS-StartPortForwardingSessionToRemoteHost');
    expect(output).toContain('PrivateIp');
    expect(json.Outputs.WebUiAdminSecretArn).toBeDefined();
  });

  it('scopes the bridge IAM to the worker service and the tasks of its cluster', () => {
    const statements = Object.values<Json>(json.Resources)
      .filter(
        (r) =>
          r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: Json) => x.Ref === ids.bridgeTaskRole),
      )
      .flatMap((r) => r.Properties.PolicyDocument.Statement as Json[]);
    const bySid = Object.fromEntries(statements.map((s) => [s.Sid, s]));
    expect(bySid.ScaleTheWorkerService.Resource).toEqual({ Ref: ids.workerService });
    expect(bySid.ScaleTheWorkerService.Action).toBe('ecs:UpdateService');
    // Another task definition only of the worker family; the desiredCount-only calls carry no such key.
    const family = bySid.ScaleTheWorkerService.Condition.ArnLikeIfExists['ecs:task-definition'];
    expect(JSON.stringify(family)).toMatch(/:task-definition\/.*:\*"/);
    expect(JSON.stringify(family)).toContain(
      JSON.stringify(json.Resources[ids.workerTask].Properties.Family).slice(1, -1),
    );
    expect(bySid.DescribeTheWorkerService).toMatchObject({
      Action: 'ecs:DescribeServices',
      Resource: { Ref: ids.workerService },
    });
    expect(bySid.NeverEnableExecuteCommand).toMatchObject({
      Effect: 'Deny',
      Action: 'ecs:UpdateService',
      Condition: { Bool: { 'ecs:enable-execute-command': 'true' } },
    });
    expect(bySid.NeverExecuteCommand).toMatchObject({ Effect: 'Deny', Action: 'ecs:ExecuteCommand' });
    const clusterCondition = { ArnEquals: { 'ecs:cluster': { 'Fn::GetAtt': [ids.cluster, 'Arn'] } } };
    expect(bySid.WorkerTasksOfTheCluster.Condition).toEqual(clusterCondition);
    expect(JSON.stringify(bySid.WorkerTasksOfTheCluster.Resource)).toContain(`:task/`);
    expect(JSON.stringify(bySid.WorkerTasksOfTheCluster.Resource)).toContain(ids.cluster);
    expect([bySid.WorkerTasksOfTheCluster.Action].flat().sort()).toEqual(
      ['ecs:DescribeTasks', 'ecs:GetTaskProtection', 'ecs:StopTask', 'ecs:UpdateTaskProtection'].sort(),
    );
    expect(bySid.ListTasksOfTheCluster.Condition).toEqual(clusterCondition);
    expect(bySid.PublishBridgeMetrics.Condition).toEqual({
      StringEquals: { 'cloudwatch:namespace': 'OqElastic' },
    });
    // No wildcard action, and a wildcard resource only with a condition.
    for (const s of statements) {
      for (const action of [s.Action].flat()) expect(action).not.toMatch(/\*/);
      if (s.Resource === '*' && s.Effect === 'Allow') expect(s.Condition).toBeDefined();
    }
  });

  it('requires IMDSv2 on the master, with no public IP', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ MetadataOptions: Match.objectLike({ HttpTokens: 'required' }) }),
    });
    const instances = Object.values<Json>(json.Resources).filter((r) => r.Type === 'AWS::EC2::Instance');
    expect(instances).toHaveLength(1);
    expect(JSON.stringify(instances[0]!.Properties)).not.toMatch(/AssociatePublicIpAddress":true/);
    expect(instances[0]!.Properties.KeyName).toBeUndefined();
  });

  it('enables Container Insights, flow logs and the endpoints that save NAT traffic', () => {
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
    const services = Object.values<Json>(json.Resources)
      .filter((r) => r.Type === 'AWS::EC2::VPCEndpoint')
      .map((r) => JSON.stringify(r.Properties.ServiceName));
    for (const name of ['ecr.api', 'ecr.dkr', '.logs', '.s3', 'secretsmanager']) {
      expect(services.some((s) => s.includes(name))).toBe(true);
    }
    // With a NAT gateway, Session Manager and the ECS API go through it rather than through paid endpoints.
    expect(services.filter((s) => /\.(ssm|ecs)"/.test(s))).toEqual([]);
  });

  it('outputs the master id, the SSM shell and port-forward commands and the dashboard URL', () => {
    const outputs = json.Outputs as Json;
    expect(outputs.MasterInstanceId.Value).toEqual({ Ref: expect.stringMatching(/^Master/) });
    expect(JSON.stringify(outputs.MasterShellCommand.Value)).toContain('aws ssm start-session');
    expect(JSON.stringify(outputs.WebUiPortForwardCommand.Value)).toMatch(
      /AWS-StartPortForwardingSession.*portNumber=8800,localPortNumber=8800/,
    );
    expect(JSON.stringify(outputs.DashboardUrl.Value)).toContain('#dashboards:name=');
  });

  it('holds no secret value: no default password, no literal password or authkey', () => {
    const text = JSON.stringify(json);
    // `guest` may appear only as the user the master deletes, never as credentials.
    expect(text).not.toMatch(/changeme/i);
    expect(text).not.toMatch(/guest:guest|amqp:\/\/guest|add_user\s+\S+\s+guest/i);
    // Passwords may only ever be generated by Secrets Manager.
    for (const r of Object.values<Json>(json.Resources).filter(
      (x) => x.Type === 'AWS::SecretsManager::Secret',
    )) {
      expect(r.Properties.SecretString).toBeUndefined();
      expect(r.Properties.GenerateSecretString.GenerateStringKey).toMatch(/^(password|authkey)$/);
      expect(r.Properties.GenerateSecretString.SecretStringTemplate).not.toMatch(/password|authkey/i);
    }
    // No key named like a credential carries a literal value, anywhere (user-data included).
    const literal: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${path}[${i}]`));
      else if (node && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) {
          if (/(password|passwd|authkey)$/i.test(k) && typeof v === 'string') literal.push(`${path}.${k}`);
          walk(v, `${path}.${k}`);
        }
      }
    };
    walk(json, '');
    expect(literal).toEqual([]);
    // Rendered configuration (user-data): no password or authkey assigned a literal, no credentials in a URL.
    expect(text).not.toMatch(/(password|authkey)\s*[=:]\s*(openquake|changeme|guest)\b/i);
    // Any `password = ...` / `AUTHKEY=...` in rendered files or scripts takes a placeholder or a variable.
    expect(text).not.toMatch(/(password|passwd|authkey)\s*=\s*(?![@$"'\\\s])\S/i);
    expect(text).not.toMatch(/(add_user|change_password)\s+\S+\s+['"]?(openquake|changeme|guest)\b/);
    expect(text).not.toMatch(/amqp:\/\/[^:/@"\s]+:(?!\$)[^@"\s$]+@/);
  });

  it('stages the bridge image as its Dockerfile and the bundled bridge only, built for arm64 with no RUN step', () => {
    const outdir = app.synth().directory;
    const staged = readdirSync(outdir).filter(
      (d) => d.startsWith('asset.') && existsSync(join(outdir, d, 'bridge.mjs')),
    );
    expect(staged).toHaveLength(1);
    const dir = join(outdir, staged[0]!);
    expect(readdirSync(dir).sort()).toEqual(['Dockerfile', 'bridge.mjs', 'bridge.mjs.map']);
    const dockerfile = readFileSync(join(dir, 'Dockerfile'), 'utf8');
    // A RUN step would execute arm64 code on the deploying machine: QEMU/binfmt on an x86_64 host.
    expect(dockerfile).not.toMatch(/^\s*RUN\b/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "--enable-source-maps", "bridge.mjs"\]$/m);
    // One self-contained file: no import of a package that the image does not have.
    const bundle = readFileSync(join(dir, 'bridge.mjs'), 'utf8');
    const imported = [...bundle.matchAll(/^import .* from ['"]([^'"]+)['"];?$/gm)].map((m) => m[1]);
    expect(imported.filter((m) => !m!.startsWith('node:'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.assets.json`), 'utf8'));
    const image = manifest.dockerImages[staged[0]!.slice('asset.'.length)];
    expect(image.source.platform).toBe('linux/arm64');
  });
});

describe("remote-control serializer for the workers' celery", () => {
  it('is JSON up to celery 5.0 and pickle from 5.1, and names a bad version', () => {
    expect(remoteControlSerializer('4.4.7')).toBe('json');
    expect(remoteControlSerializer('5.0.5')).toBe('json');
    expect(remoteControlSerializer('5.1.0')).toBe('pickle');
    expect(remoteControlSerializer('5.5')).toBe('pickle');
    expect(() => remoteControlSerializer('four')).toThrow(
      /celery="four" in contract\/engine-release.json is not a version/,
    );
  });
});

describe('stack template variants', () => {
  it('without a WebUI CIDR, nothing admits 8800; Fargate Spot is off and no warning is raised', () => {
    const { stack, json } = synth({});
    expect(ingressRules(json).filter((r) => r.ports === '8800')).toEqual([]);
    expect(JSON.stringify(json)).not.toContain('FARGATE_SPOT');
    expect(Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('Fargate Spot'))).toEqual([]);
    // No WebUI by default: the master's settings say so, and there is no tunnel output.
    expect(json.Outputs.WebUiPortForwardCommand).toBeUndefined();
    expect(json.Outputs.WebUiAdminSecretArn).toBeUndefined();
    expect(JSON.stringify(json)).toContain('\\"webUi\\":false');
  });

  it('with the WebUI and no CIDR, the tunnel forwards to the loopback address the WebUI binds', () => {
    const { json } = synth({ webUi: true });
    const output = JSON.stringify(json.Outputs.WebUiPortForwardCommand.Value);
    expect(output).toContain('--document-name AWS-StartPortForwardingSession --parameters portNumber=8800');
    expect(output).not.toContain('ToRemoteHost');
    expect(ingressRules(json).filter((r) => r.ports === '8800')).toEqual([]);
  });

  it('Fargate Spot on opt-in only, with a synth-time warning about re-run tasks duplicating partial results', () => {
    const { stack, template } = synth({ workerSpot: true });
    template.hasResourceProperties('AWS::ECS::Service', {
      CapacityProviderStrategy: [{ CapacityProvider: 'FARGATE_SPOT', Weight: 1 }],
    });
    const warnings = Annotations.fromStack(stack).findWarning(
      '*',
      Match.stringLikeRegexp('partial results twice'),
    );
    expect(warnings).toHaveLength(1);
  });

  it('isolated subnets: no NAT gateway, no public subnet, and endpoints for everything the cluster calls', () => {
    const { stack, json } = synth({ subnetType: 'PRIVATE_ISOLATED' });
    expect(
      Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('PRIVATE_ISOLATED')),
    ).toHaveLength(1);
    const types = Object.values<Json>(json.Resources).map((r) => r.Type);
    expect(types).not.toContain('AWS::EC2::NatGateway');
    expect(types).not.toContain('AWS::EC2::InternetGateway');
    const services = Object.values<Json>(json.Resources)
      .filter((r) => r.Type === 'AWS::EC2::VPCEndpoint')
      .map((r) => JSON.stringify(r.Properties.ServiceName));
    for (const name of ['.ssm"', '.ssmmessages', '.ecs"', '.monitoring', '.elasticfilesystem', 'ecr.dkr']) {
      expect(
        services.some((s) => s.includes(name)),
        name,
      ).toBe(true);
    }
  });

  it('deploys into an existing VPC from its attributes, with no context lookup and no new VPC', () => {
    const { stack, json, app } = synth({
      existingVpc: {
        vpcId: 'vpc-0123456789abcdef0',
        availabilityZones: ['eu-west-1a', 'eu-west-1b'],
        privateSubnetIds: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
      },
      workerArchitecture: 'arm64',
      workerVcpu: 2,
      workerMemoryGiB: 8,
    });
    const types = Object.values<Json>(json.Resources).map((r) => r.Type);
    expect(types).not.toContain('AWS::EC2::VPC');
    expect(types).not.toContain('AWS::EC2::NatGateway');
    expect(types).not.toContain('AWS::EC2::VPCEndpoint');
    const service = json.Resources[logicalId(stack, stack.cluster.workers.service)];
    expect(service.Properties.NetworkConfiguration.AwsvpcConfiguration).toMatchObject({
      AssignPublicIp: 'DISABLED',
      Subnets: ['subnet-0aaaaaaaaaaaaaaaa', 'subnet-0bbbbbbbbbbbbbbbb'],
    });
    expect(app.synth().manifest.missing ?? []).toEqual([]);
    const task = json.Resources[logicalId(stack, stack.cluster.workers.taskDefinition)];
    expect(task.Properties).toMatchObject({ Cpu: '2048', Memory: '8192' });
    expect(task.Properties.RuntimePlatform.CpuArchitecture).toBe('ARM64');
  });
});

describe('stack template: the engine database backup', () => {
  it('backs the database volume up daily into a KMS-encrypted, retained vault, and only that volume', () => {
    const { json, template } = synth({ databaseBackupRetentionDays: 14 });
    template.hasResourceProperties('AWS::Backup::BackupPlan', {
      BackupPlan: {
        BackupPlanRule: [
          Match.objectLike({ ScheduleExpression: 'cron(0 5 * * ? *)', Lifecycle: { DeleteAfterDays: 14 } }),
        ],
      },
    });
    const vault = Object.values<Json>(template.findResources('AWS::Backup::BackupVault'))[0];
    expect(vault.DeletionPolicy).toBe('Retain');
    expect(JSON.stringify(vault.Properties.EncryptionKeyArn)).toMatch(/DatabaseBackupKey/);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const selection = Object.values<Json>(template.findResources('AWS::Backup::BackupSelection'))[0];
    const resources = JSON.stringify(selection.Properties.BackupSelection.Resources);
    const volumes = Object.keys(json.Resources).filter(
      (id) => json.Resources[id].Type === 'AWS::EC2::Volume',
    );
    expect(volumes).toHaveLength(2);
    expect(volumes.filter((id) => resources.includes(id))).toEqual([
      volumes.find((id) => id.startsWith('MasterDatabaseVolume')),
    ]);
  });

  it('has no plan with databaseBackup=false', () => {
    const { template } = synth({ databaseBackup: false });
    template.resourceCountIs('AWS::Backup::BackupPlan', 0);
  });
});
