import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import type { ClusterSettings } from '../../cdk/lib/props/cluster-settings.ts';
import { clusterPropsFromContext } from '../../cdk/lib/props/cluster-props-from-context.ts';
import { FARGATE_TASK_SIZES, fargateMemoryOptions } from '../../cdk/lib/props/fargate-task-sizes.ts';
import { ClusterPropsError } from '../../cdk/lib/props/cluster-props-error.ts';
import { resolveClusterProps } from '../../cdk/lib/props/resolve-cluster-props.ts';

/** Asserts that `props` fail with a message naming the prop, the value and a fix. */
function expectRejected(props: ClusterSettings, prop: string, value: string, fix: RegExp): void {
  let error: unknown;
  try {
    resolveClusterProps(props);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ClusterPropsError);
  const message = (error as Error).message;
  expect(message).toContain(prop);
  expect(message).toContain(value);
  expect(message).toMatch(fix);
}

describe('resolveClusterProps: defaults', () => {
  it('fills every default and derives num_cores from the fleet', () => {
    const p = resolveClusterProps();
    expect(p.minWorkers).toBe(0);
    expect(p.maxWorkers).toBe(10);
    expect(p.workerVcpu).toBe(4);
    expect(p.workerMemoryGiB).toBe(16);
    expect(p.workerConcurrency).toBe(4);
    expect(p.numCores).toBe(40);
    expect(p.workerSpot).toBe(false);
    expect(p.webUi).toBe(false);
    expect(p.webUiAllowedCidr).toBeUndefined();
    expect(p.interfaceEndpoints).toBe(true);
  });

  it('derives concurrency from the vCPUs and num_cores from maxWorkers x concurrency', () => {
    const p = resolveClusterProps({ workerVcpu: 8, workerMemoryGiB: 32, maxWorkers: 7 });
    expect(p.workerConcurrency).toBe(8);
    expect(p.numCores).toBe(56);
    expect(resolveClusterProps({ workerVcpu: 0.5, workerMemoryGiB: 2 }).workerConcurrency).toBe(1);
    expect(resolveClusterProps({ workerConcurrency: 3, maxWorkers: 5 }).numCores).toBe(15);
  });

  it('accepts every Fargate size in the table and merges price overrides', () => {
    for (const size of FARGATE_TASK_SIZES) {
      for (const memoryGiB of size.memoryGiB) {
        expect(
          resolveClusterProps({ workerVcpu: size.vcpu, workerMemoryGiB: memoryGiB }).workerMemoryGiB,
        ).toBe(memoryGiB);
      }
    }
    const p = resolveClusterProps({ prices: { fargateX86VcpuHour: 0.05, ec2Hourly: { 'x1.big': 9 } } });
    expect(p.prices.fargateX86VcpuHour).toBe(0.05);
    expect(p.prices.ec2Hourly['x1.big']).toBe(9);
    expect(p.prices.ec2Hourly['m7i.large']).toBeGreaterThan(0);
  });

  it('knows Fargate memory steps (8 vCPU in 4 GiB steps, 16 vCPU in 8 GiB steps)', () => {
    expect(fargateMemoryOptions(8)).toContain(20);
    expect(fargateMemoryOptions(8)).not.toContain(18);
    expect(fargateMemoryOptions(16)).toContain(120);
    expect(fargateMemoryOptions(16)).not.toContain(36);
    expect(fargateMemoryOptions(3)).toBeUndefined();
  });
});

describe('resolveClusterProps: invalid props fail at synth naming the prop, the value and the fix', () => {
  it('min above max', () => {
    expectRejected(
      { minWorkers: 5, maxWorkers: 2 },
      'minWorkers',
      '5',
      /maxWorkers=2.*lower minWorkers or raise maxWorkers/,
    );
  });
  it('a cpu/memory pair Fargate does not offer', () => {
    expectRejected(
      { workerVcpu: 2, workerMemoryGiB: 32 },
      'workerMemoryGiB',
      '32',
      /workerVcpu=2; use 4-16 GiB/,
    );
    expectRejected(
      { workerVcpu: 8, workerMemoryGiB: 18 },
      'workerMemoryGiB',
      '18',
      /16-60 GiB in steps of 4/,
    );
    expectRejected({ workerVcpu: 3 }, 'workerVcpu', '3', /0.25, 0.5, 1, 2, 4, 8, 16/);
  });
  it('a WebUI CIDR wider than /8, however it is spelled (parsed as numbers, not matched as text)', () => {
    for (const open of ['0.0.0.0/0', '1.2.3.4/0', '0.0.0.0/1', '128.0.0.0/1', '10.0.0.0/7']) {
      expectRejected({ webUi: true, webUiAllowedCidr: open }, 'webUiAllowedCidr', open, /\/8 or narrower/);
    }
    expectRejected({ webUi: true, webUiAllowedCidr: '::/0' }, 'webUiAllowedCidr', '::/0', /IPv4 CIDR/);
    expectRejected(
      { webUi: true, webUiAllowedCidr: '10.1.2.0/33' },
      'webUiAllowedCidr',
      '10.1.2.0/33',
      /IPv4 CIDR/,
    );
    expectRejected(
      { webUi: true, webUiAllowedCidr: '010.1.2.0/24' },
      'webUiAllowedCidr',
      '010.1.2.0/24',
      /without leading zeros/,
    );
    expectRejected(
      { webUi: true, webUiAllowedCidr: '203.0.113.7/24' },
      'webUiAllowedCidr',
      '203.0.113.7/24',
      /203\.0\.113\.0\/24: write it that way/,
    );
    expectRejected(
      { webUi: false, webUiAllowedCidr: '10.1.0.0/16' },
      'webUiAllowedCidr',
      '10.1.0.0/16',
      /webUi=false/,
    );
    expect(resolveClusterProps({ webUi: true, webUiAllowedCidr: '10.0.0.0/8' }).webUiAllowedCidr).toBe(
      '10.0.0.0/8',
    );
    expect(resolveClusterProps({ webUi: true, webUiAllowedCidr: '203.0.113.9/32' }).webUiAllowedCidr).toBe(
      '203.0.113.9/32',
    );
  });
  it('an unknown architecture', () => {
    expectRejected({ workerArchitecture: 'sparc' as never }, 'workerArchitecture', 'sparc', /x86_64, arm64/);
    expectRejected({ masterArchitecture: 'amd64' as never }, 'masterArchitecture', 'amd64', /x86_64, arm64/);
  });
  it('a master architecture that does not match its instance type', () => {
    expectRejected(
      { masterInstanceType: 'm7g.large' },
      'masterArchitecture',
      'x86_64',
      /set masterArchitecture=arm64/,
    );
    expect(
      resolveClusterProps({ masterInstanceType: 'm7g.large', masterArchitecture: 'arm64' })
        .masterArchitecture,
    ).toBe('arm64');
  });
  it('a subnet selection without private subnets', () => {
    expectRejected({ subnetType: 'PUBLIC' as never }, 'subnetType', 'PUBLIC', /never run in public subnets/);
    expectRejected(
      { existingVpc: { vpcId: 'vpc-0abc', availabilityZones: [], privateSubnetIds: [] } },
      'existingVpc.privateSubnetIds',
      '[]',
      /at least one private subnet/,
    );
    expectRejected(
      {
        existingVpc: {
          vpcId: 'vpc-0abc',
          availabilityZones: ['eu-west-1a'],
          privateSubnetIds: ['subnet-01', 'subnet-02'],
        },
      },
      'existingVpc.availabilityZones',
      'eu-west-1a',
      /one availability zone per private subnet \(2\)/,
    );
  });
  it('Fargate Spot with ARM workers', () => {
    expectRejected(
      { workerSpot: true, workerArchitecture: 'arm64' },
      'workerSpot',
      'true',
      /x86_64 tasks only/,
    );
  });
  it('isolated subnets without interface endpoints, and no NAT for egress subnets', () => {
    expectRejected(
      { subnetType: 'PRIVATE_ISOLATED', interfaceEndpoints: false },
      'interfaceEndpoints',
      'false',
      /set it to true/,
    );
    expectRejected({ natGateways: 0 }, 'natGateways', '0', /need a NAT gateway/);
  });
  it('numbers out of range', () => {
    expectRejected({ maxWorkers: 0 }, 'maxWorkers', '0', /whole number between 1 and 5000/);
    expectRejected({ maxAzs: 3 }, 'maxAzs', '3', /use 1 or 2.*existingVpc/);
    expectRejected({ minWorkers: 1.5 }, 'minWorkers', '1.5', /whole number/);
    expectRejected({ logRetentionDays: 10 }, 'logRetentionDays', '10', /one of 1, 3, 5/);
    expectRejected({ prices: { fargateX86GbHour: -1 } }, 'prices.fargateX86GbHour', '-1', /zero or more/);
    expectRejected({ maxHourlyCost: 0 }, 'maxHourlyCost', '0', /positive number/);
  });
  it('the master data settings: a malformed image id, a backup retention out of range or without backups', () => {
    expectRejected({ masterImageId: 'ubuntu' }, 'masterImageId', 'ubuntu', /AMI id such as ami-/);
    expectRejected({ databaseBackupRetentionDays: 0 }, 'databaseBackupRetentionDays', '0', /whole number/);
    expectRejected(
      { databaseBackup: false, databaseBackupRetentionDays: 7 },
      'databaseBackupRetentionDays',
      '7',
      /conflicts with databaseBackup=false/,
    );
    const p = resolveClusterProps();
    expect([p.retainMasterVolumes, p.databaseBackupRetentionDays, p.masterImageId]).toEqual([
      true,
      35,
      undefined,
    ]);
    expect(resolveClusterProps({ databaseBackup: false }).databaseBackupRetentionDays).toBeUndefined();
  });
});

describe('clusterPropsFromContext', () => {
  it('reads cdk.json types and -c strings into typed props', () => {
    const app = new App({
      context: {
        maxWorkers: '25',
        workerSpot: 'true',
        webUi: false,
        masterInstanceType: 'r7i.large',
        existingVpc: '{"vpcId":"vpc-0abc","availabilityZones":["a"],"privateSubnetIds":["subnet-01"]}',
        '@aws-cdk/core:someFlag': true,
        'acknowledged-issue-numbers': [1],
      },
    });
    const props = clusterPropsFromContext(app.node);
    expect(props.maxWorkers).toBe(25);
    expect(props.workerSpot).toBe(true);
    expect(props.webUi).toBe(false);
    expect(props.masterInstanceType).toBe('r7i.large');
    expect(props.existingVpc?.privateSubnetIds).toEqual(['subnet-01']);
  });

  it('rejects a typo, a non-number and a non-boolean with the key, the value and the fix', () => {
    expect(() => clusterPropsFromContext(new App({ context: { maxworkers: '3' } }).node)).toThrow(
      /maxworkers="3".*did you mean maxWorkers/,
    );
    expect(() => clusterPropsFromContext(new App({ context: { maxWorkers: 'ten' } }).node)).toThrow(
      /maxWorkers="ten".*use a number/,
    );
    expect(() => clusterPropsFromContext(new App({ context: { workerSpot: 'yes' } }).node)).toThrow(
      /workerSpot="yes".*true or false/,
    );
    expect(() => clusterPropsFromContext(new App({ context: { existingVpc: '{vpc' } }).node)).toThrow(
      /existingVpc.*JSON object/,
    );
  });
});
