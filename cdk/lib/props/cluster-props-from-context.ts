import type { Node } from 'constructs';
import type { ClusterSettings } from './cluster-settings.ts';
import { ClusterPropsError } from './cluster-props-error.ts';

type Kind = 'number' | 'boolean' | 'string' | 'object';

/** Every context key the app reads, with its type. Keys are the prop names of {@link ClusterSettings}. */
const CONTEXT_KEYS: { readonly [K in keyof Required<ClusterSettings>]: Kind } = {
  existingVpc: 'object',
  vpcCidr: 'string',
  maxAzs: 'number',
  natGateways: 'number',
  subnetType: 'string',
  interfaceEndpoints: 'boolean',
  logRetentionDays: 'number',
  masterInstanceType: 'string',
  masterArchitecture: 'string',
  masterImageId: 'string',
  rabbitmqVolumeGiB: 'number',
  databaseVolumeGiB: 'number',
  webUi: 'boolean',
  webUiAllowedCidr: 'string',
  workerArchitecture: 'string',
  workerVcpu: 'number',
  workerMemoryGiB: 'number',
  workerConcurrency: 'number',
  maxMemoryPerChildKb: 'number',
  minWorkers: 'number',
  maxWorkers: 'number',
  workerSpot: 'boolean',
  maxStepOut: 'number',
  idleGraceSeconds: 'number',
  prewarmWorkers: 'number',
  calculationHoldSeconds: 'number',
  pollSeconds: 'number',
  maxHourlyCost: 'number',
  alarmEmail: 'string',
  hourlyBudget: 'number',
  prices: 'object',
  retainSharedDir: 'boolean',
  retainMasterVolumes: 'boolean',
  databaseBackup: 'boolean',
  databaseBackupRetentionDays: 'number',
};

/** Context keys that belong to the CDK toolkit itself rather than to this app. */
const TOOLKIT_KEYS = new Set(['acknowledged-issue-numbers', 'cli-telemetry']);

function convert(key: string, kind: Kind, raw: unknown): unknown {
  // `-c key=value` always gives strings; cdk.json gives JSON types.
  if (kind === 'string') {
    if (typeof raw !== 'string') throw new ClusterPropsError(key, raw, 'use a string.');
    return raw;
  }
  if (kind === 'number') {
    const n = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    if (typeof n !== 'number' || Number.isNaN(n)) throw new ClusterPropsError(key, raw, 'use a number.');
    return n;
  }
  if (kind === 'boolean') {
    if (raw === true || raw === 'true') return true;
    if (raw === false || raw === 'false') return false;
    throw new ClusterPropsError(key, raw, 'use true or false.');
  }
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      throw new ClusterPropsError(key, raw, `use a JSON object, e.g. -c '${key}={"...": ...}'.`);
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ClusterPropsError(key, raw, 'use a JSON object.');
  }
  return value;
}

/**
 * Reads the cluster props from CDK context (`cdk.json` "context" or `-c name=value`). An unknown key that
 * looks like one of ours (no `:` or `@`, which the CDK's own keys carry) is rejected, so a typo such as
 * `maxworkers` fails loudly instead of being ignored.
 */
export function clusterPropsFromContext(node: Node): ClusterSettings {
  const props: Record<string, unknown> = {};
  const known = Object.keys(CONTEXT_KEYS);
  const context = node.getAllContext() as Record<string, unknown>;
  for (const [key, raw] of Object.entries(context)) {
    if (raw === undefined || key.includes(':') || key.startsWith('@') || TOOLKIT_KEYS.has(key)) continue;
    const kind = (CONTEXT_KEYS as Record<string, Kind | undefined>)[key];
    if (kind === undefined) {
      const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
      throw new ClusterPropsError(
        key,
        raw,
        near
          ? `unknown context key; did you mean ${near}?`
          : `unknown context key; known keys: ${known.join(', ')}.`,
      );
    }
    props[key] = convert(key, kind, raw);
  }
  return props as ClusterSettings;
}
