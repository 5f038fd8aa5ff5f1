import { describe, expect, it } from 'vitest';
import {
  amqpUrl,
  BRIDGE_ENVIRONMENT,
  ConfigError,
  describeConfig,
  loadBridgeConfig,
} from '../../bridge/src/config/bridge-config.ts';

const SECRET = 'p@ss:w/rd-4f9c1e';
const BASE = {
  OQE_BACKEND: 'ecs',
  OQE_BROKER_HOST: '10.0.1.23',
  OQE_BROKER_USER: 'oq-bridge',
  OQE_BROKER_PASSWORD: SECRET,
  OQE_ECS_CLUSTER: 'oq-cluster',
  OQE_ECS_SERVICE: 'oq-workers',
  AWS_REGION: 'us-east-1',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadBridgeConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain(SECRET);
    return [...(error as ConfigError).problems];
  }
  return [];
}

describe('bridge config from the environment', () => {
  it('derives the policy and defaults', () => {
    const c = loadBridgeConfig({ ...BASE, OQE_MAX_WORKERS: '40', OQE_MAX_HOURLY_COST: '5' });
    expect(c.policy).toMatchObject({
      minWorkers: 0,
      maxWorkers: 40,
      slotsPerWorkerFallback: 2,
      maxHourlyCost: 5,
    });
    expect(c.policy.workerHourlyCost).toBeCloseTo(2 * 0.04048 + 4 * 0.004445, 6);
    expect(c.managementUrl).toBe('http://10.0.1.23:15672');
    expect(c.broker).toMatchObject({ port: 5672, vhost: 'openquake' });
    expect(c.queue).toBe('celery');
    expect(c.clusterName).toBe('oq-cluster');
    expect(c.ecs).toEqual({ cluster: 'oq-cluster', service: 'oq-workers', region: 'us-east-1' });
  });

  it('never shows the password, in errors or in the loggable description', () => {
    const c = loadBridgeConfig(BASE);
    expect(JSON.stringify(describeConfig(c))).not.toContain(SECRET);
    expect(amqpUrl(c.broker)).toBe(`amqp://oq-bridge:${encodeURIComponent(SECRET)}@10.0.1.23:5672/openquake`);
    expect(problems({ ...BASE, OQE_MAX_WORKERS: 'lots' }).join('\n')).not.toContain(SECRET);
  });

  it.each([
    [{ OQE_MAX_WORKERS: 'lots' }, /OQE_MAX_WORKERS="lots" must be a whole number from 1 to 5000/],
    [{ OQE_MIN_WORKERS: '5', OQE_MAX_WORKERS: '3' }, /OQE_MIN_WORKERS=5 is above OQE_MAX_WORKERS=3/],
    [{ OQE_BACKEND: 'k8s' }, /OQE_BACKEND="k8s" is not a backend: set it to ecs, process or podman/],
    [{ OQE_BROKER_HOST: '' }, /OQE_BROKER_HOST is not set/],
    [{ OQE_ECS_SERVICE: '' }, /OQE_ECS_SERVICE is not set/],
    [
      { OQE_MANAGEMENT_URL: 'http://admin:hunter2@10.0.1.23:15672' },
      /OQE_MANAGEMENT_URL carries credentials/,
    ],
    [{ OQE_POLL_SECONDS: '60' }, /OQE_STALE_AFTER_SECONDS=30 is below OQE_POLL_SECONDS=60/],
    [{ OQE_MAX_HOURLY_COST: '0.01' }, /OQE_MAX_HOURLY_COST=0.01 pays for fewer than/],
    [{ OQE_WORKER_HOURLY_COST: '-1' }, /OQE_WORKER_HOURLY_COST="-1" must be a positive number/],
    [
      { OQE_EFS_FILE_SYSTEM_ID: 'fs-0123abcd' },
      /OQE_WORKER_SUBNET_IDS is not set but OQE_EFS_FILE_SYSTEM_ID is/,
    ],
    [
      { OQE_EFS_FILE_SYSTEM_ID: 'fs-0123abcd', OQE_WORKER_SUBNET_IDS: 'subnet-0a1b2c3d,nope' },
      /"nope", not a subnet id/,
    ],
  ])('rejects %o naming the variable, value and fix', (override, message) => {
    const found = problems({ ...BASE, ...override });
    expect(found.join('\n')).toMatch(message);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('reports every problem at once', () => {
    expect(problems({ ...BASE, OQE_MAX_WORKERS: 'x', OQE_POLL_SECONDS: '0', AWS_REGION: '' })).toHaveLength(
      3,
    );
  });

  it('local backends need no ECS variables', () => {
    const c = loadBridgeConfig({
      OQE_BACKEND: 'process',
      OQE_BROKER_HOST: '127.0.0.1',
      OQE_BROKER_USER: 'u',
      OQE_BROKER_PASSWORD: 'p',
    });
    expect(c.ecs).toBeUndefined();
    expect(c.clusterName).toBe('local');
  });

  it('documents every variable it reads in docs/bridge.md', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile(new URL('../../docs/bridge.md', import.meta.url), 'utf8');
    for (const name of Object.keys(BRIDGE_ENVIRONMENT)) expect(doc, name).toContain(`\`${name}\``);
  });
});
