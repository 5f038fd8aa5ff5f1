/**
 * The compute backend named by OQE_BACKEND. `ecs` is the production one; the local backends (`process`,
 * `podman`) are wired in by the local-loop code, which knows their state directories and images.
 */
import type { BridgeConfig } from '../config/bridge-config.ts';
import type { ComputeBackend } from './compute-backend.ts';
import { EcsBackend } from './ecs-backend.ts';

/** Backend factories beyond `ecs`, registered by the local-loop code. */
export type BackendFactory = (config: BridgeConfig) => ComputeBackend;

const factories = new Map<string, BackendFactory>();

/** Registers the factory of a local backend (`process`, `podman`). */
export function registerBackend(kind: 'process' | 'podman', factory: BackendFactory): void {
  factories.set(kind, factory);
}

/** Builds the backend of `config.backend`; the error names OQE_BACKEND and the fix. */
export function createBackend(config: BridgeConfig): ComputeBackend {
  if (config.backend === 'ecs') {
    if (!config.ecs) throw new Error('OQE_BACKEND=ecs needs OQE_ECS_CLUSTER, OQE_ECS_SERVICE and AWS_REGION');
    return new EcsBackend({ cluster: config.ecs.cluster, service: config.ecs.service });
  }
  const factory = factories.get(config.backend);
  if (!factory) {
    throw new Error(
      `OQE_BACKEND=${config.backend}: this backend is only available in the local demo (npm run demo), which ` +
        'registers it; use OQE_BACKEND=ecs for a deployed bridge',
    );
  }
  return factory(config);
}
