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

/** An AMI id as EC2 writes them. */
export const AMI_ID = /^ami-[0-9a-f]{8}([0-9a-f]{9})?$/;

/**
 * The master's image: Ubuntu 24.04 LTS. Why Ubuntu 24.04 (docs/master.md): supported to 2029, RabbitMQ and the
 * SSM agent come with the distribution, and the engine's Python 3.8 (which no supported distribution ships any
 * more) is installed beside the system Python by the boot script.
 *
 * By default the template's `ImageId` is `resolve:ssm:<public parameter>`, which EC2 resolves when it launches
 * the instance (EC2 user guide, "Use a Systems Manager parameter instead of an AMI ID"): the template never
 * changes when Canonical moves the parameter, so a new image never replaces a running master. A deploy-time
 * reference (`MachineImage.fromSsmParameter`) would change `ImageId`, a create-only property, at the next deploy
 * after every publication. Moving to a newer image is an explicit step: pin `imageId` (docs/master.md).
 *
 * @param imageId - an explicit AMI id (`ami-...`) of Ubuntu 24.04 for the architecture; changing it replaces
 *   the master (a maintenance window; the data volumes move to the new instance).
 */
export function masterMachineImage(architecture: 'x86_64' | 'arm64', imageId?: string): ec2.IMachineImage {
  if (imageId !== undefined) {
    if (!AMI_ID.test(imageId)) {
      throw new Error(
        `masterImageId='${imageId}' is invalid: give an AMI id such as ami-0123456789abcdef0 ` +
          '(or leave it unset for the current Ubuntu 24.04 image at launch)',
      );
    }
    // An AMI id is regional: the same id in every region the stack is deployed to (it is a per-stack setting).
    return {
      getImage: () => ({ imageId, osType: ec2.OperatingSystemType.LINUX, userData: ec2.UserData.forLinux() }),
    };
  }
  return ec2.MachineImage.resolveSsmParameterAtLaunch(masterAmiParameter(architecture), {
    os: ec2.OperatingSystemType.LINUX,
  });
}
