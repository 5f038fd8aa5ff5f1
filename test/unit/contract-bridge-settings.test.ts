/**
 * The one schema of the bridge's settings (contract/bridge-settings.ts) seen from both sides: what the CDK app
 * accepts at synth, the deployed bridge accepts at start-up, and what the bridge would refuse stops synth with
 * the prop's name.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadBridgeConfig } from '../../bridge/src/config/bridge-config.ts';
import type { ClusterSettings } from '../../cdk/lib/props/cluster-settings.ts';
import { OqElasticStack } from '../../cdk/lib/oq-elastic-stack.ts';
import { FARGATE_TASK_SIZES } from '../../cdk/lib/props/fargate-task-sizes.ts';
import { ClusterPropsError } from '../../cdk/lib/props/cluster-props-error.ts';
import { resolveClusterProps } from '../../cdk/lib/props/resolve-cluster-props.ts';
import { DEFAULT_PRICES, fargateTaskHourlyCost, type PriceTable } from '../../contract/prices.ts';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * The bridge container's environment from a synthesized template, as ECS would hand it over: tokens (the
 * master's address, the cluster's name...) replaced by plausible deploy-time values, the secret injected.
 */
function bridgeEnvironmentOf(cluster: ClusterSettings): NodeJS.ProcessEnv {
  const stack = new OqElasticStack(new App(), 'Test', { cluster });
  const json = Template.fromStack(stack).toJSON() as Json;
  const container = Object.values<Json>(json.Resources)
    .filter((r) => r.Type === 'AWS::ECS::TaskDefinition')
    .flatMap((r) => r.Properties.ContainerDefinitions as Json[])
    .find((c) => c.Name === 'Bridge');
  expect(container).toBeDefined();
  const deployTime: Record<string, string> = {
    OQE_BROKER_HOST: '10.0.0.9',
    OQE_MANAGEMENT_URL: 'http://10.0.0.9:15672',
    OQE_EFS_FILE_SYSTEM_ID: 'fs-0123456789abcdef0',
    OQE_WORKER_SUBNET_IDS: 'subnet-0123456789abcdef0',
  };
  const env: NodeJS.ProcessEnv = { OQE_BROKER_PASSWORD: 'injected-from-secret' };
  for (const { Name, Value } of container!.Environment as { Name: string; Value: unknown }[]) {
    env[Name] = typeof Value === 'string' ? Value : (deployTime[Name] ?? `token-${Name.toLowerCase()}`);
  }
  return env;
}

/** Every value a user may give, inside and around the bounds (so some are refused). */
const numericProps = fc.record(
  {
    minWorkers: fc.integer({ min: -1, max: 60 }),
    maxWorkers: fc.integer({ min: 0, max: 60 }),
    maxStepOut: fc.integer({ min: 0, max: 501 }),
    idleGraceSeconds: fc.integer({ min: -1, max: 86_401 }),
    pollSeconds: fc.integer({ min: 0, max: 301 }),
    maxHourlyCost: fc.double({ min: 0.01, max: 20, noNaN: true }),
    size: fc.constantFrom(...FARGATE_TASK_SIZES.map((s) => ({ vcpu: s.vcpu, memoryGiB: s.memoryGiB[0]! }))),
    workerArchitecture: fc.constantFrom('x86_64' as const, 'arm64' as const),
    fargateX86VcpuHour: fc.double({ min: 0, max: 0.2, noNaN: true }),
    efsStandardGbMonth: fc.double({ min: 0, max: 1, noNaN: true }),
  },
  { requiredKeys: ['size', 'workerArchitecture'] },
);
type NumericProps = typeof numericProps extends fc.Arbitrary<infer T> ? T : never;

function clusterProps(n: NumericProps): ClusterSettings {
  const prices: Partial<PriceTable> = {
    ...(n.fargateX86VcpuHour !== undefined ? { fargateX86VcpuHour: n.fargateX86VcpuHour } : {}),
    ...(n.efsStandardGbMonth !== undefined ? { efsStandardGbMonth: n.efsStandardGbMonth } : {}),
  };
  return {
    minWorkers: n.minWorkers,
    maxWorkers: n.maxWorkers,
    maxStepOut: n.maxStepOut,
    idleGraceSeconds: n.idleGraceSeconds,
    pollSeconds: n.pollSeconds,
    maxHourlyCost: n.maxHourlyCost,
    workerVcpu: n.size.vcpu,
    workerMemoryGiB: n.size.memoryGiB,
    workerArchitecture: n.workerArchitecture,
    prices,
  };
}

/**
 * The environment the bridge would get for these props, written here from the props' meaning (not by the
 * stack's code), for the bridge's own loader to judge.
 */
function intendedEnvironment(p: ClusterSettings): Record<string, string> {
  const prices = { ...DEFAULT_PRICES, ...p.prices };
  const vcpu = p.workerVcpu!;
  const env: Record<string, string> = {
    OQE_BROKER_HOST: '10.0.0.9',
    OQE_BROKER_USER: 'oq-bridge',
    OQE_BROKER_PASSWORD: 'x',
    OQE_ECS_CLUSTER: 'c',
    OQE_ECS_SERVICE: 's',
    AWS_REGION: 'us-east-1',
    OQE_MIN_WORKERS: String(p.minWorkers ?? 0),
    OQE_MAX_WORKERS: String(p.maxWorkers ?? 10),
    OQE_SLOTS_PER_WORKER: String(Math.max(1, Math.floor(vcpu))),
    OQE_MAX_STEP_OUT: String(p.maxStepOut ?? 10),
    OQE_IDLE_GRACE_SECONDS: String(p.idleGraceSeconds ?? 120),
    OQE_POLL_SECONDS: String(p.pollSeconds ?? 5),
    OQE_WORKER_HOURLY_COST: fargateTaskHourlyCost(
      prices,
      p.workerArchitecture!,
      vcpu,
      p.workerMemoryGiB!,
    ).toFixed(6),
    OQE_STORAGE_GB_MONTH_COST: String(prices.efsStandardGbMonth),
  };
  if (p.maxHourlyCost !== undefined) env.OQE_MAX_HOURLY_COST = String(p.maxHourlyCost);
  return env;
}

function bridgeAccepts(env: NodeJS.ProcessEnv): boolean {
  try {
    loadBridgeConfig(env);
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return false;
  }
}

describe('contract: one schema of the bridge settings, for synth and for the bridge', () => {
  it('synth refuses exactly what the bridge would refuse, and names one of the props given', () => {
    fc.assert(
      fc.property(numericProps, (n) => {
        const props = clusterProps(n);
        let refusal: unknown;
        try {
          resolveClusterProps(props);
        } catch (error) {
          refusal = error;
        }
        const accepted = bridgeAccepts(intendedEnvironment(props));
        expect(refusal === undefined).toBe(accepted);
        if (refusal !== undefined) {
          expect(refusal).toBeInstanceOf(ClusterPropsError);
          const prop = (refusal as ClusterPropsError).prop.split('.')[0]!;
          expect([...Object.keys(props), 'workerConcurrency']).toContain(prop);
          expect((refusal as Error).message).toContain(
            `invalid prop ${(refusal as ClusterPropsError).prop}=`,
          );
        }
      }),
      { numRuns: 400, seed: 20261201 },
    );
  });

  it('random valid props -> synth -> the bridge environment in the template passes loadBridgeConfig', () => {
    const valid = numericProps.filter((n) => {
      try {
        resolveClusterProps(clusterProps(n));
        return true;
      } catch {
        return false;
      }
    });
    fc.assert(
      fc.property(valid, (n) => {
        const props = clusterProps(n);
        const config = loadBridgeConfig(bridgeEnvironmentOf(props));
        expect(config.policy.minWorkers).toBe(props.minWorkers ?? 0);
        expect(config.policy.maxWorkers).toBe(props.maxWorkers ?? 10);
        expect(config.policy.maxHourlyCost).toBe(props.maxHourlyCost ?? Infinity);
        expect(config.pollSeconds).toBe(props.pollSeconds ?? 5);
        expect(config.storageGbMonthCost).toBe(props.prices?.efsStandardGbMonth ?? 0.3);
      }),
      { numRuns: 8, seed: 20261201 },
    );
  }, 120_000);

  // Regression: the override reached the dashboard but the bridge always used the default table, so the
  // dashboard's "bridge's own estimate" disagreed with its own cost math.
  it('a prices override reaches the bridge: worker-hour and shared_dir storage costs', () => {
    const prices = { fargateX86VcpuHour: 0.05, fargateX86GbHour: 0.005, efsStandardGbMonth: 0.45 };
    const config = loadBridgeConfig(bridgeEnvironmentOf({ workerVcpu: 4, workerMemoryGiB: 16, prices }));
    expect(config.policy.workerHourlyCost).toBeCloseTo(4 * 0.05 + 16 * 0.005, 6);
    expect(config.storageGbMonthCost).toBe(0.45);
    expect(config.storageGbMonthCost).not.toBe(DEFAULT_PRICES.efsStandardGbMonth);
  });

  it('names the prop when the bridge would refuse a derived value: polling slower than the staleness limit', () => {
    expect(() => resolveClusterProps({ pollSeconds: 60 })).toThrow(
      /invalid prop pollSeconds=60: the bridge's OQE_STALE_AFTER_SECONDS=30 is below pollSeconds=60/,
    );
    expect(() => resolveClusterProps({ prices: { fargateX86VcpuHour: 0, fargateX86GbHour: 0 } })).toThrow(
      /invalid prop prices="0.000000": OQE_WORKER_HOURLY_COST \(from prices\)="0.000000" must be a positive number/,
    );
  });
});
