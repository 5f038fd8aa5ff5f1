import type { ClusterSettings, ClusterSubnetType, ExistingVpcProps } from './cluster-settings.ts';
import { ClusterPropsError } from './cluster-props-error.ts';
import { integer, ipv4Cidr, oneOf } from './prop-checks.ts';

/** The network settings with every default filled in, after validation. */
export interface ResolvedNetworkProps {
  readonly existingVpc?: ExistingVpcProps;
  readonly vpcCidr: string;
  readonly maxAzs: number;
  readonly natGateways: number;
  readonly subnetType: ClusterSubnetType;
  readonly interfaceEndpoints: boolean;
  readonly logRetentionDays: number;
}

/** CloudWatch Logs accepts only these retention periods (PutRetentionPolicy, `retentionInDays`). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
const SUBNET_TYPES: readonly ClusterSubnetType[] = ['PRIVATE_WITH_EGRESS', 'PRIVATE_ISOLATED'];

function resolveExistingVpc(vpc: ExistingVpcProps | undefined): ExistingVpcProps | undefined {
  if (vpc === undefined) return undefined;
  if (!/^vpc-[0-9a-f]+$/.test(vpc.vpcId ?? '')) {
    throw new ClusterPropsError(
      'existingVpc.vpcId',
      vpc.vpcId,
      'use the id of the VPC, e.g. vpc-0123456789abcdef0.',
    );
  }
  const subnets = vpc.privateSubnetIds ?? [];
  if (subnets.length === 0) {
    throw new ClusterPropsError(
      'existingVpc.privateSubnetIds',
      subnets,
      'list at least one private subnet (with a route to a NAT gateway); the cluster never runs in public subnets.',
    );
  }
  const bad = subnets.find((s) => !/^subnet-[0-9a-f]+$/.test(s));
  if (bad !== undefined) {
    throw new ClusterPropsError(
      'existingVpc.privateSubnetIds',
      subnets,
      `"${bad}" is not a subnet id (subnet-...).`,
    );
  }
  if ((vpc.availabilityZones ?? []).length !== subnets.length) {
    throw new ClusterPropsError(
      'existingVpc.availabilityZones',
      vpc.availabilityZones,
      `list one availability zone per private subnet (${subnets.length}), in the same order.`,
    );
  }
  const tables = vpc.privateSubnetRouteTableIds;
  if (tables !== undefined && tables.length !== subnets.length) {
    throw new ClusterPropsError(
      'existingVpc.privateSubnetRouteTableIds',
      tables,
      `list one route table per private subnet (${subnets.length}), in the same order, or leave it unset.`,
    );
  }
  return vpc;
}

/**
 * Validates the network settings (the VPC, its subnets, endpoints and log retention) and fills in their
 * defaults; throws a {@link ClusterPropsError} on the first problem.
 */
export function resolveNetworkProps(props: ClusterSettings): ResolvedNetworkProps {
  const existingVpc = resolveExistingVpc(props.existingVpc);
  const vpcCidr = ipv4Cidr('vpcCidr', props.vpcCidr ?? '10.80.0.0/16');
  // An environment-agnostic stack (synth without credentials or lookups) sees two AZs (Fn::GetAZs).
  const maxAzs = oneOf(
    'maxAzs',
    props.maxAzs ?? 2,
    [1, 2],
    'use 1 or 2: the stack synthesizes without an AWS account, which gives it two availability zones; for more, pass existingVpc.',
  );
  const natGateways = integer('natGateways', props.natGateways ?? 1, 0, maxAzs);
  const subnetType = oneOf(
    'subnetType',
    props.subnetType ?? 'PRIVATE_WITH_EGRESS',
    SUBNET_TYPES,
    'use PRIVATE_WITH_EGRESS (default) or PRIVATE_ISOLATED; the master and workers never run in public subnets.',
  );
  if (subnetType === 'PRIVATE_WITH_EGRESS' && existingVpc === undefined && natGateways === 0) {
    throw new ClusterPropsError(
      'natGateways',
      natGateways,
      'PRIVATE_WITH_EGRESS subnets need a NAT gateway; set natGateways to 1 or more, or subnetType=PRIVATE_ISOLATED.',
    );
  }
  const interfaceEndpoints = props.interfaceEndpoints ?? existingVpc === undefined;
  if (subnetType === 'PRIVATE_ISOLATED' && !interfaceEndpoints) {
    throw new ClusterPropsError(
      'interfaceEndpoints',
      interfaceEndpoints,
      'PRIVATE_ISOLATED subnets reach ECR, logs and secrets only through interface endpoints; set it to true.',
    );
  }
  const logRetentionDays = oneOf('logRetentionDays', props.logRetentionDays ?? 30, LOG_RETENTION_DAYS);
  return { existingVpc, vpcCidr, maxAzs, natGateways, subnetType, interfaceEndpoints, logRetentionDays };
}
