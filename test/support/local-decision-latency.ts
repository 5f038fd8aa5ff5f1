/**
 * The real-parts decision-latency benchmark (bench/real/decision-latency.ts) on the local services: a vhost of
 * its own on the shared RabbitMQ, the test administrator, and the moto server for the ECS service.
 */
import {
  type LatencyBenchOptions,
  type LatencyBenchResult,
  measureDecisionLatency,
} from '../../bench/real/decision-latency.ts';
import { AWS_ENDPOINT_URL, createTestVhost, MANAGEMENT_URL } from './services.ts';

/** Runs the benchmark with `options` on a new vhost named after `vhostPrefix`, which it deletes afterwards. */
export async function measureDecisionLatencyLocally(
  vhostPrefix: string,
  options: Omit<LatencyBenchOptions, 'broker' | 'managementUrl' | 'awsEndpoint'>,
): Promise<LatencyBenchResult> {
  const vhost = await createTestVhost(vhostPrefix);
  try {
    return await measureDecisionLatency({
      broker: vhost.endpoint,
      managementUrl: MANAGEMENT_URL,
      awsEndpoint: AWS_ENDPOINT_URL,
      ...options,
    });
  } finally {
    await vhost.cleanup();
  }
}
