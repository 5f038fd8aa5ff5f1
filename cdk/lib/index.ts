/**
 * The oq-elastic construct library: what an own CDK app imports (`import { ... } from 'oq-elastic'`).
 * docs/deploy.md, "Use it in your own CDK app", shows it in use.
 */
export { OqElasticStack, type OqElasticStackProps } from './oq-elastic-stack.ts';
export type {
  ClusterSubnetType,
  ExistingVpcProps,
  OqElasticClusterProps,
} from './oq-elastic-cluster-props.ts';
export {
  ClusterPropsError,
  resolveClusterProps,
  type ResolvedClusterProps,
} from './props/resolve-cluster-props.ts';
export { DEFAULT_PRICES, type CpuArchitecture, type PriceTable } from '../../contract/prices.ts';
