/**
 * The compute backend named by OQE_BACKEND. Only `ecs` is built here: the local demo constructs its
 * `process` or `podman` backend itself (it knows their state directories and images) and hands it to
 * `createBridgeRuntime`, so this function never sees those kinds in the demo.
 */
import type { BridgeConfig } from '../config/bridge-config.ts';
import type { ComputeBackend } from './compute-backend.ts';
import { EcsBackend } from './ecs-backend.ts';

/** Builds the backend of `config.backend`; the error names OQE_BACKEND and the fix. */
export function createBackend(config: BridgeConfig): ComputeBackend {
  if (config.backend !== 'ecs') {
    throw new Error(
      `OQE_BACKEND=${config.backend}: this backend is only available in the local demo (npm run demo), which ` +
        'builds it; use OQE_BACKEND=ecs for a deployed bridge',
    );
  }
  if (!config.ecs) throw new Error('OQE_BACKEND=ecs needs OQE_ECS_CLUSTER, OQE_ECS_SERVICE and AWS_REGION');
  return new EcsBackend({ cluster: config.ecs.cluster, service: config.ecs.service });
}
