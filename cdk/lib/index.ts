/**
 * The oq-elastic construct library: what an own CDK app imports (`import { OqElasticCluster } from 'oq-elastic'`).
 * docs/deploy.md, "Use it in your own CDK app", shows it in use.
 */
export { OqElasticCluster, type OqElasticClusterProps } from './oq-elastic-cluster.ts';
export { OqElasticStack, type OqElasticStackProps } from './oq-elastic-stack.ts';
export type { ClusterSettings, ClusterSubnetType, ExistingVpcProps } from './props/cluster-settings.ts';
export { clusterPropsFromContext } from './props/cluster-props-from-context.ts';
export { ClusterPropsError } from './props/cluster-props-error.ts';
export { resolveClusterProps, type ResolvedClusterProps } from './props/resolve-cluster-props.ts';
export { DEFAULT_PRICES, type CpuArchitecture, type PriceTable } from '../../contract/prices.ts';
