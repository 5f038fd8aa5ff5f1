import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import {
  facadePropsSource,
  FACADE_PROPS_SOURCES,
  readFacadePropsSources,
} from '../../scripts/jsii-facade-props.ts';
import { REPO_ROOT } from '../support/services.ts';

/** The names of the readonly members declared in `interface <name> { ... }` of a TypeScript source text. */
function declaredProps(source: string, name: string): string[] {
  const start = source.indexOf(`export interface ${name} {`);
  expect(start, `interface ${name}`).toBeGreaterThanOrEqual(0);
  const body = source.slice(start, source.indexOf('\n}\n', start));
  return [...body.matchAll(/^\s+readonly (\w+)\??:/gm)].map((m) => m[1]!).sort();
}

/** `name: type` of each member of an interface in a generated module, read back with the compiler. */
function generatedMembers(module: string, name: string): Map<string, { type: string; optional: boolean }> {
  const source = ts.createSourceFile('cluster-props.ts', module, ts.ScriptTarget.Latest, true);
  const declaration = source.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name,
  );
  expect(declaration, `interface ${name} in the generated module`).toBeDefined();
  return new Map(
    declaration!.members
      .filter(ts.isPropertySignature)
      .map((m) => [
        (m.name as ts.Identifier).text,
        { type: m.type!.getText(source), optional: m.questionToken !== undefined },
      ]),
  );
}

const SOURCES = readFacadePropsSources(REPO_ROOT);
const GENERATED = facadePropsSource(SOURCES);

// The Python package's facade (jsii/src/index.ts) declares no props of its own: the package build generates
// them from the construct's (scripts/jsii-facade-props.ts). A prop the generator dropped or mistyped would be
// missing or wrong in Python without any error.
describe('jsii facade props (scripts/jsii-facade-props.ts)', () => {
  it('declares exactly the props of OqElasticCluster, all optional, with their JSDoc', () => {
    const library = declaredProps(SOURCES.construct, 'OqElasticClusterProps');
    expect(library.length).toBeGreaterThan(30);
    const facade = generatedMembers(GENERATED, 'OqElasticClusterProps');
    expect([...facade.keys()].sort()).toEqual(library);
    expect([...facade.values()].every((m) => m.optional)).toBe(true);
    for (const doc of [
      '@default - the VPC of `cluster` when given',
      'Fargate Spot (x86 only). A reclaimed task',
      '@default RemovalPolicy.RETAIN */',
    ]) {
      expect(GENERATED).toContain(doc);
    }
  });

  it('keeps each CDK type as the construct writes it, and maps prices to the PriceOverrides struct', () => {
    const facade = generatedMembers(GENERATED, 'OqElasticClusterProps');
    expect(facade.get('vpc')?.type).toBe('ec2.IVpc');
    expect(facade.get('idleGrace')?.type).toBe('Duration');
    expect(facade.get('workerMemory')?.type).toBe('Size');
    expect(facade.get('logRetention')?.type).toBe('logs.RetentionDays');
    expect(facade.get('prices')?.type).toBe('PriceOverrides');
    expect(GENERATED).toContain("import { Duration, RemovalPolicy, Size } from 'aws-cdk-lib';");
    expect(GENERATED).toContain("import * as ecs from 'aws-cdk-lib/aws-ecs';");
  });

  it('declares every entry of the price table as an optional override, the per-type map as a jsii map', () => {
    const overrides = generatedMembers(GENERATED, 'PriceOverrides');
    expect([...overrides.keys()].sort()).toEqual(declaredProps(SOURCES.prices, 'PriceTable'));
    expect([...overrides.values()].every((m) => m.optional)).toBe(true);
    expect(overrides.get('ec2Hourly')?.type).toBe('{ [key: string]: number }');
  });

  it('carries a prop added to the construct into the facade', () => {
    const construct = SOURCES.construct.replace(
      '  readonly sharedDirRemovalPolicy?: RemovalPolicy;\n',
      '  readonly sharedDirRemovalPolicy?: RemovalPolicy;\n  /** A new prop. */\n  readonly brandNew?: ec2.IVpc;\n',
    );
    expect(construct).not.toBe(SOURCES.construct);
    const facade = generatedMembers(facadePropsSource({ ...SOURCES, construct }), 'OqElasticClusterProps');
    expect(facade.get('brandNew')).toEqual({ type: 'ec2.IVpc', optional: true });
  });

  it('refuses, naming the prop, a type jsii cannot translate that it does not map', () => {
    const addProp = (declaration: string): string =>
      SOURCES.construct.replace(
        '  readonly sharedDirRemovalPolicy?: RemovalPolicy;\n',
        `  readonly sharedDirRemovalPolicy?: RemovalPolicy;\n  readonly ${declaration};\n`,
      );
    for (const declaration of [
      "mode?: 'fast' | 'cheap'",
      'table?: PriceTable',
      'limits?: Record<string, number>',
      'parts?: Master',
    ]) {
      expect(() => facadePropsSource({ ...SOURCES, construct: addProp(declaration) })).toThrow(
        new RegExp(`OqElasticClusterProps\\.${declaration.split('?')[0]}: jsii cannot translate`),
      );
    }
  });

  it('leaves the facade to import the generated props, declaring none itself', () => {
    const facade = readFileSync(join(REPO_ROOT, 'jsii/src/index.ts'), 'utf8');
    expect(facade).toContain("export * from './cluster-props';");
    expect(facade).not.toMatch(/export interface/);
    const script = readFileSync(join(REPO_ROOT, 'scripts/build-python-package.sh'), 'utf8');
    expect(script).toContain('scripts/jsii-facade-props.ts" src/cluster-props.ts');
    expect(FACADE_PROPS_SOURCES.construct).toBe('cdk/lib/oq-elastic-cluster.ts');
  });
});
