import { spawnSync } from 'node:child_process';
import {
  CreateFileSystemCommand,
  CreateMountTargetCommand,
  DeleteFileSystemCommand,
  DeleteMountTargetCommand,
  EFSClient,
} from '@aws-sdk/client-efs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { SharedDirProbe } from '../../bridge/src/observe/shared-dir-probe.ts';
import { AWS_ENDPOINT_URL, describeWithMoto, PYTHON } from '../support/services.ts';

const region = 'us-east-1';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/**
 * Two subnets in a fresh VPC on the moto server (boto3 from .venv: the project has no EC2 client), in two
 * zones: EFS allows one mount target per zone, and moto otherwise picks a subnet's zone itself.
 */
function makeSubnets(): string[] {
  const code =
    'import boto3, sys\n' +
    `ec2 = boto3.client('ec2', region_name='${region}', endpoint_url='${AWS_ENDPOINT_URL}', aws_access_key_id='testing', aws_secret_access_key='testing')\n` +
    "vpc = ec2.create_vpc(CidrBlock='10.77.0.0/16')['Vpc']['VpcId']\n" +
    "ids = [ec2.create_subnet(VpcId=vpc, CidrBlock=c, AvailabilityZone=z)['Subnet']['SubnetId'] for c, z in (('10.77.1.0/24', 'us-east-1a'), ('10.77.2.0/24', 'us-east-1b'))]\n" +
    "print(' '.join(ids))";
  const run = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', timeout: 30_000 });
  if (run.status !== 0) throw new Error(`creating subnets on moto failed: ${run.stderr}`);
  return run.stdout.trim().split(' ');
}

describeWithMoto('SharedDirProbe against the moto server (EFS describe calls)', () => {
  const client = new EFSClient({ region, endpoint: AWS_ENDPOINT_URL, credentials });
  let subnets: string[];
  let fileSystemId: string;
  const mountTargets: string[] = [];

  beforeAll(async () => {
    subnets = makeSubnets();
    const fs = await client.send(
      new CreateFileSystemCommand({
        CreationToken: `oqe-observe-${Date.now()}-${Math.random()}`,
        Encrypted: true,
      }),
    );
    fileSystemId = fs.FileSystemId!;
  });

  afterAll(async () => {
    for (const id of mountTargets)
      await client.send(new DeleteMountTargetCommand({ MountTargetId: id })).catch(() => undefined);
    if (fileSystemId)
      await client.send(new DeleteFileSystemCommand({ FileSystemId: fileSystemId })).catch(() => undefined);
    client.destroy();
  });

  it('holds while a worker subnet has no mount target, naming the subnet', async () => {
    const mt = await client.send(
      new CreateMountTargetCommand({ FileSystemId: fileSystemId, SubnetId: subnets[0]! }),
    );
    mountTargets.push(mt.MountTargetId!);
    const probe = new SharedDirProbe({ fileSystemId, workerSubnetIds: subnets, client });
    const seen = await probe.observe();
    expect(seen.available).toBe(true);
    expect(seen.mountTargetsReady).toBe(false);
    expect(seen.detail).toBe(`no available mount target in worker subnet(s) ${subnets[1]}`);
    expect(seen.sizeBytes).toBeGreaterThanOrEqual(0);
  });

  it('is ready once every worker subnet has a mount target', async () => {
    const mt = await client.send(
      new CreateMountTargetCommand({ FileSystemId: fileSystemId, SubnetId: subnets[1]! }),
    );
    mountTargets.push(mt.MountTargetId!);
    const probe = new SharedDirProbe({ fileSystemId, workerSubnetIds: subnets, client });
    const seen = await probe.observe();
    expect(seen).toMatchObject({ available: true, mountTargetsReady: true });
    expect(seen.detail).toBeUndefined();
    expect(typeof seen.sizeBytes).toBe('number');
  });

  it('fails clearly for an unknown file system and rejects bad configuration', async () => {
    const probe = new SharedDirProbe({
      fileSystemId: 'fs-0123456789abcdef0',
      workerSubnetIds: subnets,
      client,
    });
    await expect(probe.observe()).rejects.toThrow(/fs-0123456789abcdef0.*(does not exist|not found)/);
    expect(() => new SharedDirProbe({ fileSystemId: 'efs-1', workerSubnetIds: subnets, client })).toThrow(
      /OQE_EFS_FILE_SYSTEM_ID 'efs-1'/,
    );
    expect(() => new SharedDirProbe({ fileSystemId, workerSubnetIds: [], client })).toThrow(
      /OQE_WORKER_SUBNET_IDS/,
    );
  });
});
