import { Construct } from 'constructs';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as efs from 'aws-cdk-lib/aws-efs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** Props of the {@link Master} construct (contract fixed by the lead: see /tmp/prompts/01-contracts.md). */
export interface MasterProps {
  readonly vpc: ec2.IVpc;
  /** Private subnets. */
  readonly vpcSubnets: ec2.SubnetSelection;
  /** Created by the stack, which adds the ingress rules. */
  readonly securityGroup: ec2.ISecurityGroup;
  readonly instanceType: ec2.InstanceType;
  readonly architecture: 'x86_64' | 'arm64';
  readonly fileSystem: efs.IFileSystem;
  readonly accessPoint: efs.IAccessPoint;
  readonly brokerSecret: secretsmanager.ISecret;
  readonly bridgeBrokerSecret: secretsmanager.ISecret;
  readonly dbserverAuthkeySecret: secretsmanager.ISecret;
  /** `[distribution] num_cores` = maxWorkers x worker processes per worker. */
  readonly numCores: number;
  /** Run the WebUI/API on 8800. */
  readonly webUi: boolean;
  readonly rabbitmqVolumeGiB?: number;
  readonly databaseVolumeGiB?: number;
}

/** The fixed master of the cluster: RabbitMQ, the OpenQuake DbServer and optionally the WebUI (work in progress). */
export class Master extends Construct {
  readonly instance: ec2.Instance;

  constructor(scope: Construct, id: string, props: MasterProps) {
    super(scope, id);
    this.instance = new ec2.Instance(this, 'Instance', {
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroup: props.securityGroup,
      instanceType: props.instanceType,
      machineImage: ec2.MachineImage.fromSsmParameter(
        `/aws/service/canonical/ubuntu/server/24.04/stable/current/${props.architecture === 'arm64' ? 'arm64' : 'amd64'}/hvm/ebs-gp3/ami-id`,
      ),
      requireImdsv2: true,
      associatePublicIpAddress: false,
      ssmSessionPermissions: true,
    });
  }
}
