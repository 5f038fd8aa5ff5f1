/**
 * Every redeploy, classified: the default stack against the stack with one setting changed to another valid
 * value, for every user-settable setting, and against itself after a publisher moved an outside value the
 * template resolves at deploy time (a new public Ubuntu image). Each changed resource is classified by
 * CloudFormation's update behaviour (test/support/cfn-update-behaviour.ts: cfn-lint's provider schemas plus the
 * documented "some interruptions" properties of AWS::EC2::Instance).
 *
 * It fails when a setting replaces or interrupts the master instance, replaces or deletes the shared_dir file
 * system, a data volume or a secret, or resets the worker service's desired count, unless the setting is in
 * MAINTENANCE_WINDOW with its reason. docs/deploy.md's table must say, for every setting, what this test finds.
 *
 * Runtime: about 36 syntheses of the whole stack, 40 to 60 s on this kind of machine.
 */
import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import { beforeAll, expect, it } from 'vitest';
import type { ClusterSettings } from '../../cdk/lib/props/cluster-settings.ts';
import { OqElasticStack } from '../../cdk/lib/oq-elastic-stack.ts';
import {
  classifyUpdate,
  type CreateOnlyProperties,
  deployTimeSsmInputs,
  loadCreateOnlyProperties,
  type ResourceChange,
} from '../support/cfn-update-behaviour.ts';
import { REPO_ROOT } from '../support/services.ts';
import { CFN_LINT, describeWithPython } from '../support/python.ts';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any
type Setting = keyof Required<ClusterSettings>;

/**
 * Each setting changed to another valid value (with what else that value needs to be valid). The mapped type
 * makes tsc fail when a setting is added without a case here.
 */
const CHANGES: { readonly [K in Setting]: ClusterSettings } = {
  existingVpc: {
    existingVpc: {
      vpcId: 'vpc-0123456789abcdef0',
      availabilityZones: ['us-east-1a', 'us-east-1b'],
      privateSubnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
    },
  },
  vpcCidr: { vpcCidr: '10.90.0.0/16' },
  maxAzs: { maxAzs: 1 },
  natGateways: { natGateways: 2 },
  subnetType: { subnetType: 'PRIVATE_ISOLATED' },
  interfaceEndpoints: { interfaceEndpoints: false },
  logRetentionDays: { logRetentionDays: 90 },
  masterInstanceType: { masterInstanceType: 'm7i.xlarge' },
  masterArchitecture: { masterArchitecture: 'arm64', masterInstanceType: 'm7g.large' },
  masterImageId: { masterImageId: 'ami-0123456789abcdef0' },
  rabbitmqVolumeGiB: { rabbitmqVolumeGiB: 40 },
  databaseVolumeGiB: { databaseVolumeGiB: 40 },
  webUi: { webUi: true },
  webUiAllowedCidr: { webUiAllowedCidr: '10.20.0.0/16' },
  workerArchitecture: { workerArchitecture: 'arm64' },
  workerVcpu: { workerVcpu: 8 },
  workerMemoryGiB: { workerMemoryGiB: 30 },
  workerConcurrency: { workerConcurrency: 8 },
  maxMemoryPerChildKb: { maxMemoryPerChildKb: 4_000_000 },
  minWorkers: { minWorkers: 1 },
  maxWorkers: { maxWorkers: 20 },
  workerSpot: { workerSpot: true },
  maxStepOut: { maxStepOut: 5 },
  idleGraceSeconds: { idleGraceSeconds: 300 },
  pollSeconds: { pollSeconds: 10 },
  prewarmWorkers: { prewarmWorkers: 4 },
  calculationHoldSeconds: { calculationHoldSeconds: 600 },
  maxHourlyCost: { maxHourlyCost: 5 },
  alarmEmail: { alarmEmail: 'ops@example.org' },
  hourlyBudget: { hourlyBudget: 3 },
  prices: { prices: { fargateX86VcpuHour: 0.05 } },
  retainSharedDir: { retainSharedDir: false },
  retainMasterVolumes: { retainMasterVolumes: false },
  databaseBackup: { databaseBackup: false },
  databaseBackupRetentionDays: { databaseBackupRetentionDays: 90 },
};

/**
 * Settings compared against a base other than the defaults, because they only mean something (or are only
 * valid) on top of another setting. `webUiAllowedCidr` needs the WebUI on: compared against the defaults (WebUI
 * off), the change would also turn the WebUI on and the test would classify two settings at once; against a
 * base with the WebUI on, it classifies exactly what a new CIDR does to a running WebUI (its bind moves from
 * loopback to the private address).
 */
const BASES: Partial<Record<Setting, ClusterSettings>> = {
  webUiAllowedCidr: { webUi: true },
};

/** Settings that must replace or interrupt something protected, and why (docs/deploy.md: maintenance window). */
const MAINTENANCE_WINDOW: Partial<Record<Setting, string>> = {
  existingVpc:
    'another VPC: every network-bound resource (the master, EFS mount targets, volumes) is recreated in it',
  vpcCidr: 'a new CIDR replaces the VPC and its subnets, and with them the master and the EFS mount targets',
  subnetType: 'other subnets: the master is recreated in them',
  masterInstanceType: 'EC2 changes an instance type only while the instance is stopped',
  masterArchitecture: 'another architecture needs another image and instance type: a new master',
  masterImageId: 'a new image means a new instance: the explicit, planned way to move to a newer image',
};

/** Resources whose loss or interruption loses calculations or data. */
function protectedResource(change: ResourceChange): string | undefined {
  const replacedOrDeleted = change.effect === 'replace' || change.effect === 'delete';
  if (change.type === 'AWS::EC2::Instance' && change.effect !== 'update' && change.effect !== 'create') {
    return `the master instance would be ${change.effect === 'interrupt' ? 'stopped and started' : change.effect + 'd'}`;
  }
  const data: Record<string, string> = {
    'AWS::EFS::FileSystem': 'the shared_dir file system',
    'AWS::EC2::Volume': 'a master data volume',
    'AWS::SecretsManager::Secret': 'a secret',
  };
  if (data[change.type] !== undefined && replacedOrDeleted)
    return `${data[change.type]} would be ${change.effect}d`;
  if (change.type === 'AWS::ECS::Service' && change.logicalId.startsWith('Workers') && replacedOrDeleted) {
    return 'the worker service would be recreated (its desired count back to the initial one)';
  }
  // Re-created, the create-only initializer would set the desired count back to minWorkers.
  if (change.type === 'Custom::OqWorkerInitialDesiredCount' && change.effect !== 'update') {
    return `the desired-count initializer would be ${change.effect}d (desired count reset)`;
  }
  return undefined;
}

/** What an operator sees, in docs/deploy.md's words. */
function operatorEffect(setting: Setting, changes: readonly ResourceChange[]): string {
  if (MAINTENANCE_WINDOW[setting] !== undefined) return 'needs a maintenance window';
  const effects: string[] = [];
  // A new task definition revision, or a new capacity provider strategy, is a new ECS deployment.
  const deploys = (prefix: string) =>
    changes.some(
      (c) =>
        (c.type === 'AWS::ECS::TaskDefinition' || c.type === 'AWS::ECS::Service') &&
        c.logicalId.startsWith(prefix),
    );
  if (deploys('Workers')) effects.push('rolls workers');
  if (deploys('Bridge')) effects.push('restarts the bridge');
  return effects.length === 0 ? 'nothing' : effects.join(', ');
}

function synth(cluster: ClusterSettings): Json {
  const app = new App();
  // Fixed images: the images are not settings, and building their assets would only slow the test down.
  const stack = new OqElasticStack(app, 'Redeploy', {
    cluster,
    workerImage: ecs.ContainerImage.fromRegistry('example.invalid/oq-worker:1'),
    bridgeImage: ecs.ContainerImage.fromRegistry('example.invalid/oq-bridge:1'),
  });
  return app.synth().getStackByName(stack.stackName).template;
}

/**
 * CloudFormation sends a templated DesiredCount with every update of the service, resetting what the bridge set
 * (AWS::ECS::Service, DesiredCount); without one it leaves the count alone.
 */
function workerServiceHasDesiredCount(template: Json): boolean {
  return Object.entries<Json>(template.Resources).some(
    ([id, r]) =>
      r.Type === 'AWS::ECS::Service' && id.startsWith('Workers') && 'DesiredCount' in (r.Properties ?? {}),
  );
}

function describeChanges(changes: readonly ResourceChange[]): string {
  return changes
    .filter((c) => c.effect !== 'create' || c.type.startsWith('Custom::'))
    .map((c) => `${c.logicalId} (${c.type}) ${c.effect}: ${c.properties.join(', ')}`)
    .join('\n');
}

/** docs/deploy.md's redeploy table: setting -> effect. */
function documentedEffects(): Map<string, string> {
  const text = readFileSync(`${REPO_ROOT}docs/deploy.md`, 'utf8');
  const section = text.slice(text.indexOf('## What a redeploy does'));
  const rows = new Map<string, string>();
  for (const match of section.matchAll(/^\| `([A-Za-z]+)`[^|]*\| ([^|]+?) +\|/gm)) {
    rows.set(match[1]!, match[2]!.trim());
  }
  return rows;
}

describeWithPython(
  'redeploy classification: every setting changed, every changed property classified',
  () => {
    let createOnly: CreateOnlyProperties;
    let base: Json;
    const results = new Map<Setting, ResourceChange[]>();
    /** Settings whose template gives the worker service a DesiredCount, which every update would then reset. */
    const templatedDesiredCount: Setting[] = [];

    beforeAll(() => {
      createOnly = loadCreateOnlyProperties(REPO_ROOT);
      base = synth({});
      const otherBases = new Map<Setting, Json>();
      for (const [setting, cluster] of Object.entries(BASES) as [Setting, ClusterSettings][]) {
        otherBases.set(setting, synth(cluster));
      }
      for (const [setting, cluster] of Object.entries(CHANGES) as [Setting, ClusterSettings][]) {
        const changed = synth({ ...BASES[setting], ...cluster });
        results.set(setting, classifyUpdate(otherBases.get(setting) ?? base, changed, createOnly));
        if (workerServiceHasDesiredCount(changed)) templatedDesiredCount.push(setting);
      }
    }, 300_000);

    it('reads create-only properties from the provider schemas (the source can tell replace from update)', () => {
      expect(createOnly.get('AWS::EC2::Instance')).toContain('/properties/ImageId');
      expect(createOnly.get('AWS::EFS::FileSystem')).toContain('/properties/PerformanceMode');
      // The classifier itself: an ImageId change replaces, a UserData change interrupts, a tag change does not.
      const instance = (properties: Json) => ({
        Resources: {
          M: { Type: 'AWS::EC2::Instance', Properties: { ImageId: 'ami-1', UserData: 'a', ...properties } },
        },
      });
      const effect = (properties: Json) =>
        classifyUpdate(instance({}), instance(properties), createOnly)[0]?.effect;
      expect(effect({ ImageId: 'ami-2' })).toBe('replace');
      expect(effect({ UserData: 'b' })).toBe('interrupt');
      expect(effect({ Tags: [{ Key: 'k', Value: 'v' }] })).toBe('update');
    });

    it('changes something for every setting (each case really is another value)', () => {
      const unchanged = [...results].filter(([, changes]) => changes.length === 0).map(([s]) => s);
      expect(unchanged).toEqual([]);
    });

    it('never replaces or interrupts the master, nor replaces EFS, a data volume or a secret, nor resets the desired count', () => {
      const violations: string[] = [];
      for (const [setting, changes] of results) {
        const found = changes.map(protectedResource).filter((v): v is string => v !== undefined);
        if (found.length > 0 && MAINTENANCE_WINDOW[setting] === undefined) {
          violations.push(`${setting}: ${[...new Set(found)].join('; ')}\n${describeChanges(changes)}`);
        }
      }
      expect(violations.join('\n\n')).toBe('');
      expect(workerServiceHasDesiredCount(base)).toBe(false);
      expect(templatedDesiredCount).toEqual([]);
    });

    it('lists in MAINTENANCE_WINDOW only settings that do disturb something protected', () => {
      const needless = (Object.keys(MAINTENANCE_WINDOW) as Setting[]).filter(
        (s) => !(results.get(s) ?? []).some((c) => protectedResource(c) !== undefined),
      );
      expect(needless).toEqual([]);
    });

    it('a new public image between two deploys of the same template replaces nothing', () => {
      const moved = deployTimeSsmInputs(base);
      const changes = classifyUpdate(base, base, createOnly, moved);
      expect(changes.map(protectedResource).filter(Boolean)).toEqual([]);
      expect(changes.filter((c) => c.effect === 'replace' || c.effect === 'interrupt')).toEqual([]);
    });

    it('docs/deploy.md says, for every setting, what a redeploy does', () => {
      const documented = documentedEffects();
      const expected = new Map([...results].map(([s, changes]) => [s, operatorEffect(s, changes)]));
      expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(expected));
    });
  },
  CFN_LINT,
);
