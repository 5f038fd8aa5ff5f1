import * as ec2 from 'aws-cdk-lib/aws-ec2';

/**
 * The SSM public parameter of Canonical's current Ubuntu 24.04 LTS server image for the architecture
 * (layout .../ubuntu/server/RELEASE/stable/current/ARCH/hvm/VOLUME_TYPE/ami-id, from Canonical's
 * "Finding Ubuntu images with the AWS SSM Parameter Store"; images from 23.10 on are published for gp3).
 */
export function masterAmiParameter(architecture: 'x86_64' | 'arm64'): string {
  const arch = architecture === 'arm64' ? 'arm64' : 'amd64';
  return `/aws/service/canonical/ubuntu/server/24.04/stable/current/${arch}/hvm/ebs-gp3/ami-id`;
}

/**
 * The master's image: Ubuntu 24.04 LTS, resolved by CloudFormation at deploy time from the public parameter
 * (no context lookup, so `cdk synth` works offline). Why Ubuntu 24.04 (docs/master.md): supported to 2029,
 * RabbitMQ and the SSM agent come with the distribution, and the engine's Python 3.8 (which no supported
 * distribution ships any more) is installed beside the system Python by the boot script.
 */
export function masterMachineImage(architecture: 'x86_64' | 'arm64'): ec2.IMachineImage {
  return ec2.MachineImage.fromSsmParameter(masterAmiParameter(architecture), {
    os: ec2.OperatingSystemType.LINUX,
  });
}
