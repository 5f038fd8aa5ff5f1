/**
 * The Master construct on a small test stack (aws-cdk-lib/assertions): IMDSv2, no public IP, no key pair,
 * SSM, encrypted data volumes, the CreationPolicy, IAM scoped to its secrets, and the props it rejects.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as efs from 'aws-cdk-lib/aws-efs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import {
  Master,
  type MasterProps,
  type MasterWebUi,
  SESSION_MANAGER_ACTIONS,
} from '../../cdk/lib/master/master.ts';
import { masterAmiParameter } from '../../cdk/lib/master/master-machine-image.ts';
import { enginePatchesParameterText } from '../../cdk/lib/master/engine-patches.ts';

function build(
  overrides: Partial<MasterProps> = {},
  webUiBind: MasterWebUi['bind'] = 'loopback',
): { stack: Stack; master: Master } {
  const app = new App();
  const stack = new Stack(app, 'MasterTest', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const securityGroup = new ec2.SecurityGroup(stack, 'MasterSg', { vpc, allowAllOutbound: true });
  const fileSystem = new efs.FileSystem(stack, 'Shared', { vpc, encrypted: true });
  const accessPoint = fileSystem.addAccessPoint('Ap', {
    path: '/shared',
    posixUser: { uid: '1200', gid: '1200' },
    createAcl: { ownerUid: '1200', ownerGid: '1200', permissions: '2750' },
  });
  const secret = (id: string, key: string) =>
    new secretsmanager.Secret(stack, id, {
      generateSecretString: { secretStringTemplate: '{}', generateStringKey: key, excludePunctuation: true },
    });
  const master = new Master(stack, 'Master', {
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    securityGroup,
    instanceType: new ec2.InstanceType('m7i.large'),
    architecture: 'x86_64',
    fileSystem,
    accessPoint,
    brokerSecret: secret('Broker', 'password'),
    workerBrokerSecret: secret('Worker', 'password'),
    bridgeBrokerSecret: secret('Bridge', 'password'),
    dbserverAuthkeySecret: secret('Authkey', 'authkey'),
    numCores: 64,
    webUi: false,
    webUiServer: { bind: webUiBind, adminSecret: secret('WebUiAdmin', 'password') },
    metricsClusterName: 'oq-workers-cluster',
    ...overrides,
  });
  return { stack, master };
}

describe('Master construct', () => {
  const { stack } = build();
  const template = Template.fromStack(stack);

  it('requires IMDSv2 tokens', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ MetadataOptions: Match.objectLike({ HttpTokens: 'required' }) }),
    });
  });

  it('names its launch template uniquely, so two stacks in one region do not collide', () => {
    const names = Object.values(template.findResources('AWS::EC2::LaunchTemplate')).map(
      (r) => (r.Properties as { LaunchTemplateName: string }).LaunchTemplateName,
    );
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^MasterTest.*Master.*Instance/);
  });

  it('has no public IP and no key pair, in the given private subnets and security group', () => {
    const instances = template.findResources('AWS::EC2::Instance');
    expect(Object.keys(instances)).toHaveLength(1);
    const props = Object.values(instances)[0]?.Properties as Record<string, unknown>;
    expect(props.KeyName).toBeUndefined();
    const nic = (props.NetworkInterfaces as Array<Record<string, unknown>>)[0];
    expect(nic?.AssociatePublicIpAddress).toBe(false);
    expect(JSON.stringify(nic?.SubnetId)).toMatch(/PrivateSubnet/);
    expect(JSON.stringify(nic?.GroupSet)).toMatch(/MasterSg/);
  });

  it('boots Ubuntu 24.04 from the public SSM parameter, resolved at launch (a new image never replaces it)', () => {
    template.hasResourceProperties('AWS::EC2::LaunchTemplate', Match.anyValue());
    template.hasResourceProperties('AWS::EC2::Instance', {
      ImageId: `resolve:ssm:${masterAmiParameter('x86_64')}`,
    });
    // No deploy-time parameter whose value would change ImageId when Canonical publishes an image.
    expect(JSON.stringify(template.toJSON().Parameters ?? {})).not.toContain('canonical');
    expect(masterAmiParameter('x86_64')).toContain('/ubuntu/server/24.04/stable/current/amd64/');
  });

  it('takes an explicit image id (the documented way to move to a newer image), and refuses a malformed one', () => {
    const pinned = Template.fromStack(build({ imageId: 'ami-0123456789abcdef0' }).stack);
    pinned.hasResourceProperties('AWS::EC2::Instance', { ImageId: 'ami-0123456789abcdef0' });
    expect(() => build({ imageId: 'ubuntu-24.04' })).toThrow(
      /masterImageId='ubuntu-24.04' is invalid: give an AMI id/,
    );
  });

  it('keeps RabbitMQ and the database on separate encrypted gp3 volumes that outlive the instance', () => {
    // Only the root volume is a block-device mapping (deleted with the instance).
    template.hasResourceProperties('AWS::EC2::Instance', {
      BlockDeviceMappings: [
        { DeviceName: '/dev/sda1', Ebs: { Encrypted: true, VolumeSize: 30, VolumeType: 'gp3' } },
      ],
    });
    const volumes = template.findResources('AWS::EC2::Volume');
    expect(Object.keys(volumes)).toHaveLength(2);
    for (const volume of Object.values(volumes)) {
      expect(volume).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
        Properties: { Encrypted: true, Size: 20, VolumeType: 'gp3' },
      });
    }
    const instance = Object.values(template.findResources('AWS::EC2::Instance'))[0]!.Properties;
    const subnet = JSON.stringify(instance.NetworkInterfaces[0].SubnetId);
    // The volumes sit in the zone of the instance's subnet.
    const subnetResource = template.toJSON().Resources[JSON.parse(subnet).Ref];
    for (const volume of Object.values(volumes)) {
      expect(volume.Properties.AvailabilityZone).toEqual(subnetResource.Properties.AvailabilityZone);
    }
    const deleted = Template.fromStack(build({ retainDataVolumes: false }).stack);
    for (const volume of Object.values(deleted.findResources('AWS::EC2::Volume'))) {
      expect(volume.DeletionPolicy).toBe('Delete');
    }
  });

  it("may take over only its own stack's volumes and stop only its own predecessor (tag-scoped)", () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument
          .Statement,
    );
    const takeover = statements.filter((s) =>
      JSON.stringify(s.Action).match(/ec2:(AttachVolume|DetachVolume|StopInstances)/),
    );
    expect(takeover).toHaveLength(2);
    for (const statement of takeover) {
      expect(statement.Condition).toEqual({
        StringEquals: { 'ec2:ResourceTag/oq-elastic:master': { Ref: 'AWS::StackName' } },
      });
    }
    template.hasResourceProperties('AWS::EC2::Instance', {
      Tags: Match.arrayWith([{ Key: 'oq-elastic:master', Value: { Ref: 'AWS::StackName' } }]),
    });
    template.hasResourceProperties('AWS::EC2::Volume', {
      Tags: Match.arrayWith([{ Key: 'oq-elastic:master', Value: { Ref: 'AWS::StackName' } }]),
    });
  });

  it('hands num_cores, the WebUI and its bind to the master through its settings parameter, not its user-data', () => {
    template.hasResourceProperties('AWS::SSM::Parameter', {
      Type: 'String',
      Value: '{"numCores":64,"webUi":false,"webUiBind":"loopback"}',
    });
    const other = Template.fromStack(build({ numCores: 7, webUi: true }, 'private').stack);
    other.hasResourceProperties('AWS::SSM::Parameter', {
      Value: '{"numCores":7,"webUi":true,"webUiBind":"private"}',
    });
    const userData = (t: Template) =>
      JSON.stringify(Object.values(t.findResources('AWS::EC2::Instance'))[0]!.Properties.UserData);
    expect(userData(other)).toBe(userData(template));
  });

  it('ships the calculation events publisher in an SSM parameter the master may read, and installs it at boot', () => {
    const parameters = template.findResources('AWS::SSM::Parameter');
    const [id, publisher] = Object.entries(parameters).find(([, r]) =>
      String(r.Properties.Value).includes("'x-max-length': 1"),
    )!;
    const text = String(publisher.Properties.Value);
    expect(text).toContain('def snapshot(now)');
    expect(text).not.toMatch(/^\s*#/m);
    expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(`"${id}"`);
    expect(policies).toContain('ssm:GetParameter');
    const userData = JSON.stringify(
      Object.values(template.findResources('AWS::EC2::Instance'))[0]!.Properties.UserData,
    );
    expect(userData).toContain(`{"Ref":"${id}"}`);
  });

  it('ships the engine patches packed in an SSM parameter the master may read, and fetches it at boot', () => {
    const parameters = template.findResources('AWS::SSM::Parameter');
    const [id, patches] = Object.entries(parameters).find(([, r]) =>
      String(r.Properties.Description).includes('engine patches'),
    )!;
    expect(patches.Properties.Value).toBe(enginePatchesParameterText());
    expect(Buffer.byteLength(String(patches.Properties.Value))).toBeLessThanOrEqual(4096);
    expect(patches.Properties.Tier).toBeUndefined(); // standard: the advanced tier is charged per parameter
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(`"${id}"`);
    const userData = JSON.stringify(
      Object.values(template.findResources('AWS::EC2::Instance'))[0]!.Properties.UserData,
    );
    expect(userData).toContain(`PATCHES_PARAMETER='",{"Ref":"${id}"}`);
  });

  it('has detailed (one-minute) monitoring', () => {
    template.hasResourceProperties('AWS::EC2::Instance', { Monitoring: true });
  });

  it('waits for the boot script signal (CreationPolicy)', () => {
    template.hasResource('AWS::EC2::Instance', {
      CreationPolicy: { ResourceSignal: { Count: 1, Timeout: 'PT40M' } },
    });
  });

  it('gives the role the Session Manager actions only: no AmazonSSMManagedInstanceCore, no ssm:GetParameter', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: Match.absent(),
    });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toMatch(/"Action":"\*"|"[a-z0-9]+:\*"/);
    expect(policies).not.toMatch(/ssm:GetDocument|AmazonSSMManagedInstanceCore/);
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument
          .Statement,
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: [...SESSION_MANAGER_ACTIONS], Effect: 'Allow', Resource: '*' }),
    );
  });

  it('lets the instance read exactly its five secrets, mount shared_dir read-write and signal its stack', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument
          .Statement,
    );
    const secretReads = statements.filter((s) =>
      JSON.stringify(s.Action).includes('secretsmanager:GetSecretValue'),
    );
    expect(secretReads.map((s) => JSON.stringify(s.Resource)).sort()).toEqual(
      ['Authkey', 'Bridge', 'Broker', 'WebUiAdmin', 'Worker'].map((id) =>
        expect.stringMatching(new RegExp(`"Ref":"${id}`)),
      ),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: ['elasticfilesystem:ClientMount', 'elasticfilesystem:ClientWrite'],
        Effect: 'Allow',
      }),
    );
    const signal = statements.find((s) => s.Action === 'cloudformation:SignalResource');
    expect(signal?.Resource).toEqual({ Ref: 'AWS::StackId' });
  });

  it('may publish metrics only in the CloudWatch agent and bridge namespaces', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap(
      (p) =>
        (p.Properties as { PolicyDocument: { Statement: Array<Record<string, unknown>> } }).PolicyDocument
          .Statement,
    );
    const puts = statements.filter((s) => JSON.stringify(s.Action).includes('cloudwatch:'));
    expect(puts).toEqual([
      {
        Action: 'cloudwatch:PutMetricData',
        Effect: 'Allow',
        Resource: '*',
        Condition: { StringEquals: { 'cloudwatch:namespace': ['CWAgent', 'OqElastic'] } },
      },
    ]);
    // Not the managed CloudWatchAgentServerPolicy (logs, SSM parameters, DescribeTags: none needed here).
    expect(JSON.stringify(template.findResources('AWS::IAM::Role'))).not.toContain(
      'CloudWatchAgentServerPolicy',
    );
  });

  it('passes the metrics cluster name to the boot, in its header', () => {
    const userData = JSON.stringify(template.findResources('AWS::EC2::Instance'));
    expect(userData).toContain("METRICS_CLUSTER='oq-workers-cluster'");
    expect(userData).toContain("<<'OQ_ELASTIC_EOF' >/run/oq-master-boot-body.sh");
  });

  it('puts the secret ARNs, never their values, into the user-data', () => {
    const json = JSON.stringify(template.toJSON());
    expect(json).not.toMatch(/changeme|guest:guest|amqp:\/\/[^"]*:[^"]*@|password = (?!@)|authkey = (?!@)/);
    const userData = JSON.stringify(template.findResources('AWS::EC2::Instance'));
    for (const id of ['Broker', 'Bridge', 'Authkey'])
      expect(userData).toMatch(new RegExp(`"Ref":"${id}[0-9A-F]+"`));
    expect(userData).toContain("LOGICAL_ID='MasterInstance");
  });

  it('keeps the resolved user-data under the 16 KB EC2 limit (each reference counted as a 160-character value)', () => {
    const instance = Object.values(template.findResources('AWS::EC2::Instance'))[0] as {
      Properties: { UserData: { 'Fn::Base64': { 'Fn::Join': [string, unknown[]] } } };
    };
    const parts = instance.Properties.UserData['Fn::Base64']['Fn::Join'][1];
    const size = parts.reduce<number>(
      (n, part) => n + (typeof part === 'string' ? Buffer.byteLength(part) : 160),
      0,
    );
    expect(size).toBeLessThan(16 * 1024);
    expect(parts[0]).toMatch(/^#!\/bin\/bash\n/);
  });

  it('waits for the EFS mount targets before the instance boots', () => {
    const instance = Object.values(template.findResources('AWS::EC2::Instance'))[0] as {
      DependsOn: string[];
    };
    expect(instance.DependsOn.some((d) => d.startsWith('SharedEfsMountTarget'))).toBe(true);
  });

  it('uses the arm64 image and a longer signal timeout on Graviton', () => {
    const arm = Template.fromStack(
      build({ architecture: 'arm64', instanceType: new ec2.InstanceType('m7g.large') }).stack,
    );
    arm.hasResource('AWS::EC2::Instance', {
      CreationPolicy: { ResourceSignal: { Count: 1, Timeout: 'PT120M' } },
    });
    arm.hasResourceProperties('AWS::EC2::Instance', {
      ImageId: `resolve:ssm:${masterAmiParameter('arm64')}`,
    });
  });

  it('rejects an instance type of the other architecture, naming both props', () => {
    expect(() => build({ architecture: 'arm64' })).toThrow(/instanceType=m7i.large .*architecture='arm64'/);
  });

  it('rejects an unknown architecture', () => {
    expect(() => build({ architecture: 'sparc' as 'arm64' })).toThrow(/architecture='sparc' is invalid/);
  });

  it('rejects bad volume sizes and num_cores with the prop, the value and the fix', () => {
    expect(() => build({ rabbitmqVolumeGiB: 0 })).toThrow(
      /rabbitmqVolumeGiB=0 is invalid: give a whole number/,
    );
    expect(() => build({ databaseVolumeGiB: 20.5 })).toThrow(/databaseVolumeGiB=20.5 is invalid/);
    expect(() => build({ numCores: -1 })).toThrow(/numCores=-1 is invalid/);
  });
});
