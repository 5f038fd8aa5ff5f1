/**
 * What CloudFormation does to each resource when a stack moves from one template to another: the part of a
 * change set that can be known offline, for the redeploy classification test.
 *
 * The sources are machine-readable: the resource provider schemas' `createOnlyProperties` (a change replaces
 * the resource), as bundled with cfn-lint, plus the properties of AWS::EC2::Instance that the CloudFormation
 * reference documents as "Update requires: Some interruptions" (the instance is stopped and started), which no
 * schema carries. A resource that is replaced gets a new physical id, so every property of another resource that
 * refers to it (Ref, Fn::GetAtt) is treated as changed too, until nothing more changes (CloudFormation's
 * "conditional" replacements, taken as real). Values CloudFormation resolves at deploy time from outside the
 * template (SSM-typed parameters, `{{resolve:ssm:...}}`) can be marked as moved, to model a publisher changing
 * them between two deploys of the same template.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** What an update does to one resource, from least to most disruptive. */
export type UpdateEffect = 'create' | 'update' | 'interrupt' | 'replace' | 'delete';

/** One resource's fate, with the properties that decide it. */
export interface ResourceChange {
  readonly logicalId: string;
  readonly type: string;
  readonly effect: UpdateEffect;
  /** The changed properties (`Prop` or `Prop (via X)` for a reference to a replaced resource X). */
  readonly properties: readonly string[];
}

/** Per resource type, the JSON pointers of its create-only properties (`/properties/Name`...). */
export type CreateOnlyProperties = ReadonlyMap<string, readonly string[]>;

/**
 * AWS::EC2::Instance properties whose update stops and starts the instance ("Update requires: Some
 * interruptions", CloudFormation template reference, AWS::EC2::Instance). BlockDeviceMappings is counted here
 * too: the reference gives it as replacement except for DeleteOnTermination; either way the master is down.
 */
export const EC2_INSTANCE_INTERRUPTING_PROPERTIES: readonly string[] = [
  'AdditionalInfo',
  'Affinity',
  'BlockDeviceMappings',
  'EbsOptimized',
  'HostId',
  'InstanceType',
  'KernelId',
  'RamdiskId',
  'Tenancy',
  'UserData',
];

/** Reads the createOnlyProperties of every resource type from cfn-lint's bundled provider schemas. */
export function loadCreateOnlyProperties(repoRoot: string, region = 'us-east-1'): CreateOnlyProperties {
  const lib = join(repoRoot, '.venv', 'lib');
  const python = readdirSync(lib).find((d) => existsSync(join(lib, d, 'site-packages', 'cfnlint')));
  if (python === undefined) throw new Error(`cfn-lint is not installed in ${lib}: run scripts/setup.sh`);
  const schemas = join(lib, python, 'site-packages', 'cfnlint', 'data', 'schemas');
  // providers/<region>.json maps each type to the content-addressed file of its schema under resources/.
  const index = JSON.parse(readFileSync(join(schemas, 'providers', `${region}.json`), 'utf8')) as Record<
    string,
    string
  >;
  const out = new Map<string, readonly string[]>();
  for (const [type, file] of Object.entries(index)) {
    const path = join(schemas, 'resources', `${file}.json`);
    if (!existsSync(path)) continue;
    const schema = JSON.parse(readFileSync(path, 'utf8')) as { createOnlyProperties?: string[] };
    out.set(type, schema.createOnlyProperties ?? []);
  }
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The value at a `/properties/A/B` pointer (the schema's form); `*` never occurs in createOnly pointers we use. */
function at(properties: Json, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(2)
    .reduce<Json>(
      (value, key) => (value === undefined || value === null ? undefined : value[key]),
      properties,
    );
}

/** Logical ids (and parameter names) that a value refers to through Ref, Fn::GetAtt or Fn::Sub. */
function referencesIn(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) referencesIn(item, out);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'Ref' && typeof inner === 'string') out.add(inner);
      else if (key === 'Fn::GetAtt')
        out.add(Array.isArray(inner) ? String(inner[0]) : String(inner).split('.')[0]!);
      else if (key === 'Fn::Sub') {
        const text = Array.isArray(inner) ? inner[0] : inner;
        for (const m of String(text).matchAll(/\$\{([^}!.]+)[^}]*\}/g)) out.add(m[1]!);
        referencesIn(inner, out);
      } else referencesIn(inner, out);
    }
  } else if (typeof value === 'string') {
    // A deploy-time dynamic reference is an outside value that a publisher may move.
    for (const m of value.matchAll(/\{\{resolve:ssm:([^}:]+)/g)) out.add(`{{ssm:${m[1]}}}`);
  }
  return out;
}

/** Names of the template's parameters that CloudFormation resolves from SSM at every deploy. */
export function deployTimeSsmInputs(template: Json): string[] {
  const parameters = Object.entries<Json>(template.Parameters ?? {})
    .filter(([, p]) => String(p.Type).startsWith('AWS::SSM::Parameter::Value'))
    .map(([name]) => name);
  const dynamic = [...referencesIn(template.Resources)].filter((r) => r.startsWith('{{ssm:'));
  return [...parameters, ...dynamic];
}

/**
 * Classifies every resource of `before` and `after`. `moved` names outside inputs (parameters, dynamic
 * references) whose resolved value changed between the two deploys.
 */
export function classifyUpdate(
  before: Json,
  after: Json,
  createOnly: CreateOnlyProperties,
  moved: readonly string[] = [],
): ResourceChange[] {
  const a: Record<string, Json> = before.Resources ?? {};
  const b: Record<string, Json> = after.Resources ?? {};
  const changes = new Map<string, ResourceChange>();
  for (const id of Object.keys(a)) {
    if (!(id in b)) changes.set(id, { logicalId: id, type: a[id].Type, effect: 'delete', properties: [] });
  }
  const changedOutside = new Set<string>(moved);
  // Fixpoint: a replacement changes the physical id that other resources refer to.
  for (let pass = 0; pass < 50; pass += 1) {
    let grew = false;
    for (const [id, resource] of Object.entries(b)) {
      if (!(id in a)) {
        if (!changes.has(id))
          changes.set(id, { logicalId: id, type: resource.Type, effect: 'create', properties: [] });
        continue;
      }
      const old = a[id];
      const next =
        old.Type !== resource.Type
          ? { logicalId: id, type: resource.Type, effect: 'replace' as const, properties: ['Type'] }
          : classifyResource(id, resource.Type, old, resource, createOnly, changedOutside);
      const previous = changes.get(id);
      if (next !== undefined && (previous === undefined || !same(previous, next))) {
        changes.set(id, next);
        grew = true;
      }
      if (next?.effect === 'replace' && !changedOutside.has(id)) {
        changedOutside.add(id);
        grew = true;
      }
    }
    if (!grew) break;
  }
  return [...changes.values()].sort((x, y) => x.logicalId.localeCompare(y.logicalId));
}

/** Resource attributes outside Properties whose change updates nothing on the resource itself. */
const POLICY_ATTRIBUTES = ['DeletionPolicy', 'UpdateReplacePolicy'] as const;

function classifyResource(
  id: string,
  type: string,
  oldResource: Json,
  newResource: Json,
  createOnly: CreateOnlyProperties,
  changedOutside: ReadonlySet<string>,
): ResourceChange | undefined {
  const before = oldResource.Properties ?? {};
  const after = newResource.Properties ?? {};
  const changed: string[] = POLICY_ATTRIBUTES.filter((a) => !same(oldResource[a], newResource[a]));
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const key of keys) {
    if (!same(before[key], after[key])) {
      changed.push(key);
      continue;
    }
    const via = [...referencesIn(after[key])].filter((r) => changedOutside.has(r));
    if (via.length > 0) changed.push(`${key} (via ${via.join(', ')})`);
  }
  if (changed.length === 0) return undefined;
  const topLevel = (p: string) => p.split(' ')[0]!;
  const pointers = createOnly.get(type) ?? [];
  const replaces = changed.some((p) => {
    const key = topLevel(p);
    return pointers.some((pointer) => {
      if (pointer.split('/')[2] !== key) return false;
      // A nested create-only pointer counts only if its own value changed (or the property refers to a
      // replaced resource, which may sit anywhere inside it).
      return p.includes(' (via ') || !same(at(before, pointer), at(after, pointer));
    });
  });
  const interrupts =
    type === 'AWS::EC2::Instance' &&
    changed.some((p) => EC2_INSTANCE_INTERRUPTING_PROPERTIES.includes(topLevel(p)));
  return {
    logicalId: id,
    type,
    effect: replaces ? 'replace' : interrupts ? 'interrupt' : 'update',
    properties: changed,
  };
}
