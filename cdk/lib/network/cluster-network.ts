import { Annotations, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { ClusterSubnetType } from '../props/cluster-settings.ts';

/** Props of {@link ClusterNetwork}. */
export interface ClusterNetworkProps {
  /** Use this VPC instead of creating one. @default - a new VPC */
  readonly vpc?: ec2.IVpc;
  /** The cluster's subnets in a given `vpc`. @default - the subnets of `subnetType` */
  readonly vpcSubnets?: ec2.SubnetSelection;
  /** CIDR of a new VPC. */
  readonly vpcCidr: string;
  /** Availability zones of a new VPC. */
  readonly maxAzs: number;
  /** NAT gateways of a new VPC. */
  readonly natGateways: number;
  /** Subnet type of the cluster's subnets. */
  readonly subnetType: ClusterSubnetType;
  /** Add interface endpoints (ECR, Logs, Secrets Manager, SSM). */
  readonly interfaceEndpoints: boolean;
  /** Add the S3 gateway endpoint (free; ECR image layers come from S3) to the cluster's subnets' route tables. */
  readonly s3GatewayEndpoint: boolean;
  /** Retention of the flow logs. */
  readonly logRetention: logs.RetentionDays;
}

/**
 * Interface endpoints for the cluster's own AWS traffic: image manifests and auth, logs, secrets. Image layers
 * come from S3 through the (free) gateway endpoint. Each interface endpoint costs about USD 0.01 an hour per AZ
 * (AWS PrivateLink pricing, us-east-1), so only these four are added where a NAT gateway exists.
 */
const INTERFACE_ENDPOINTS: Readonly<Record<string, ec2.InterfaceVpcEndpointAwsService>> = {
  EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
  EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
};

/**
 * Without a NAT gateway, Session Manager (the only way onto the master), the bridge's ECS calls and the
 * metrics need endpoints of their own.
 */
const ISOLATED_ONLY_ENDPOINTS: Readonly<Record<string, ec2.InterfaceVpcEndpointAwsService>> = {
  Ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
  SsmMessages: ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES,
  Ec2Messages: ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES,
  Ecs: ec2.InterfaceVpcEndpointAwsService.ECS,
  Monitoring: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
  Efs: ec2.InterfaceVpcEndpointAwsService.ELASTIC_FILESYSTEM,
};

/**
 * The VPC of the cluster: private subnets for everything (public subnets only hold the NAT gateways), flow
 * logs, an S3 gateway endpoint (ECR image layers come from S3) and interface endpoints whose security group
 * admits HTTPS only from the groups given to {@link allowEndpointsFrom}.
 */
export class ClusterNetwork extends Construct {
  readonly vpc: ec2.IVpc;
  /** The subnets of the master, the workers, the bridge and the EFS mount targets. */
  readonly subnets: ec2.SubnetSelection;
  /** Security group of the interface endpoints, if any. */
  readonly endpointSecurityGroup?: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ClusterNetworkProps) {
    super(scope, id);
    const subnetType =
      props.subnetType === 'PRIVATE_ISOLATED'
        ? ec2.SubnetType.PRIVATE_ISOLATED
        : ec2.SubnetType.PRIVATE_WITH_EGRESS;

    if (props.vpc) {
      this.vpc = props.vpc;
      this.subnets = props.vpcSubnets ?? { subnetType };
    } else {
      const vpc = new ec2.Vpc(this, 'Vpc', {
        ipAddresses: ec2.IpAddresses.cidr(props.vpcCidr),
        maxAzs: props.maxAzs,
        natGateways: props.subnetType === 'PRIVATE_ISOLATED' ? 0 : props.natGateways,
        subnetConfiguration: [
          ...(props.subnetType === 'PRIVATE_ISOLATED'
            ? []
            : [{ name: 'nat', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false }]),
          { name: 'cluster', subnetType, cidrMask: 20 },
        ],
        restrictDefaultSecurityGroup: true,
      });
      this.vpc = vpc;
      this.subnets = { subnetType };
    }

    const flowLogGroup = new logs.LogGroup(this, 'FlowLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    new ec2.FlowLog(this, 'FlowLog', {
      resourceType: ec2.FlowLogResourceType.fromVpc(this.vpc),
      destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.ALL,
    });

    if (props.s3GatewayEndpoint) {
      this.vpc.addGatewayEndpoint('S3', {
        service: ec2.GatewayVpcEndpointAwsService.S3,
        subnets: [this.subnets],
      });
    }

    if (props.subnetType === 'PRIVATE_ISOLATED') {
      Annotations.of(this).addWarningV2(
        'oq-elastic:isolatedSubnets',
        'subnetType=PRIVATE_ISOLATED: nothing reaches the internet, so the master installs the engine and the ' +
          'worker image pulls only from sources inside the VPC (package mirror, ECR); see docs/deploy.md.',
      );
    }

    if (props.interfaceEndpoints) {
      this.endpointSecurityGroup = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
        vpc: this.vpc,
        description: 'oq-elastic interface endpoints: HTTPS from the cluster groups only',
        allowAllOutbound: false,
      });
      const endpoints = {
        ...INTERFACE_ENDPOINTS,
        ...(props.subnetType === 'PRIVATE_ISOLATED' ? ISOLATED_ONLY_ENDPOINTS : {}),
      };
      for (const [name, service] of Object.entries(endpoints)) {
        this.vpc.addInterfaceEndpoint(name, {
          service,
          subnets: this.subnets,
          securityGroups: [this.endpointSecurityGroup],
          open: false,
          privateDnsEnabled: true,
        });
      }
    }
  }

  /** Admits HTTPS to the interface endpoints from these groups (no-op without endpoints). */
  allowEndpointsFrom(...groups: ec2.ISecurityGroup[]): void {
    for (const group of groups) {
      this.endpointSecurityGroup?.addIngressRule(
        group,
        ec2.Port.tcp(443),
        'AWS APIs through the interface endpoints',
      );
    }
  }
}
