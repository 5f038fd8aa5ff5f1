/**
 * The props of the Python package's facade (jsii/src/index.ts), generated from the construct's own at package
 * build, so that they are declared once: `OqElasticClusterProps` of cdk/lib/oq-elastic-cluster.ts, each prop
 * with its JSDoc, in the types jsii translates, and `PriceOverrides`, the price table of contract/prices.ts with
 * every entry optional. jsii cannot compile cdk/lib itself (docs/deploy.md, "From Python").
 *
 * `tsx scripts/jsii-facade-props.ts <out.ts>` writes the module; scripts/build-python-package.sh calls it with
 * the facade's build copy, `.cache/jsii-build/facade/src/cluster-props.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** Where the generator reads the declarations, relative to the repository. */
export const FACADE_PROPS_SOURCES = {
  construct: 'cdk/lib/oq-elastic-cluster.ts',
  prices: 'contract/prices.ts',
} as const;

/** The sources' text, by {@link FACADE_PROPS_SOURCES} key. */
export type FacadePropsSources = { readonly [K in keyof typeof FACADE_PROPS_SOURCES]: string };

/**
 * The types of the library's props that jsii cannot translate (a mapped type, a `Record`), spelled as in the
 * sources, and what the facade declares instead. Any other type must be a keyword type or a type the source
 * imports from a package (aws-cdk-lib): the generator refuses the rest, naming the prop.
 */
export const JSII_TYPE_OF: Readonly<Record<string, string>> = {
  'Partial<PriceTable>': 'PriceOverrides',
  'Readonly<Record<string, number>>': '{ [key: string]: number }',
};

const KEYWORD_TYPES = new Set([
  ts.SyntaxKind.StringKeyword,
  ts.SyntaxKind.NumberKeyword,
  ts.SyntaxKind.BooleanKeyword,
]);

/** One member of an interface: its comments (JSDoc and section headings), name and type as written. */
interface Member {
  readonly comments: string;
  readonly name: string;
  readonly type: ts.TypeNode;
}

function interfaceOf(source: ts.SourceFile, name: string): ts.InterfaceDeclaration {
  const found = source.statements.find(
    (s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name,
  );
  if (found === undefined) throw new Error(`${source.fileName}: no interface ${name}`);
  return found;
}

/** The comments above a node, each line trimmed of its indentation. */
function leadingComments(source: ts.SourceFile, node: ts.Node): string {
  return (ts.getLeadingCommentRanges(source.text, node.getFullStart()) ?? [])
    .map((range) => source.text.slice(range.pos, range.end))
    .join('\n')
    .split('\n')
    .map((line) => line.trim())
    .join('\n');
}

function membersOf(source: ts.SourceFile, declaration: ts.InterfaceDeclaration): Member[] {
  return declaration.members.map((member) => {
    if (!ts.isPropertySignature(member) || member.type === undefined || !ts.isIdentifier(member.name)) {
      throw new Error(
        `${source.fileName}: ${declaration.name.text} has a member other than a typed property`,
      );
    }
    return { comments: leadingComments(source, member), name: member.name.text, type: member.type };
  });
}

/** Where a name a source imports from a package comes from: `import * as <name>` or `import { <name> }`. */
interface PackageImport {
  readonly module: string;
  readonly namespace: boolean;
}

/** The names a source imports from packages (not from its own relative modules). */
function packageImports(source: ts.SourceFile): Map<string, PackageImport> {
  const imports = new Map<string, PackageImport>();
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    const module = statement.moduleSpecifier.text;
    const bindings = statement.importClause?.namedBindings;
    if (module.startsWith('.') || bindings === undefined) continue;
    if (ts.isNamespaceImport(bindings)) imports.set(bindings.name.text, { module, namespace: true });
    else
      for (const element of bindings.elements) imports.set(element.name.text, { module, namespace: false });
  }
  return imports;
}

/**
 * The facade's spelling of a prop's type, and the package name it refers to (if any); throws, naming the prop,
 * on a type jsii cannot translate and {@link JSII_TYPE_OF} does not map.
 */
function jsiiType(
  source: ts.SourceFile,
  owner: string,
  member: Member,
  imports: ReadonlyMap<string, unknown>,
): { text: string; uses?: string } {
  const written = member.type.getText(source);
  const mapped = JSII_TYPE_OF[written];
  if (mapped !== undefined) return { text: mapped };
  if (KEYWORD_TYPES.has(member.type.kind)) return { text: written };
  if (ts.isTypeReferenceNode(member.type) && member.type.typeArguments === undefined) {
    let name: ts.EntityName = member.type.typeName;
    while (ts.isQualifiedName(name)) name = name.left;
    if (imports.has(name.text)) return { text: written, uses: name.text };
  }
  throw new Error(
    `${owner}.${member.name}: jsii cannot translate its type ${written}; declare it with a type of aws-cdk-lib ` +
      'or a keyword type, or map it in JSII_TYPE_OF (scripts/jsii-facade-props.ts)',
  );
}

/** The imports of the names the generated props use: named ones first, a line a module, then namespaces. */
function importLines(uses: ReadonlySet<string>, imports: ReadonlyMap<string, PackageImport>): string[] {
  const named = new Map<string, string[]>();
  const namespaces: string[] = [];
  for (const name of [...uses].sort()) {
    const { module, namespace } = imports.get(name)!;
    if (namespace) namespaces.push(`import * as ${name} from '${module}';`);
    else named.set(module, [...(named.get(module) ?? []), name]);
  }
  return [
    ...[...named].map(([module, names]) => `import { ${names.join(', ')} } from '${module}';`),
    ...namespaces,
  ];
}

/** A member's lines, optional, indented; a section heading (`// ----- master -----`) after a blank line. */
function memberLines(member: Member, type: string, index: number): string[] {
  const comments = member.comments === '' ? [] : member.comments.split('\n');
  const lines = [...comments, `readonly ${member.name}?: ${type};`].map((line) =>
    line.startsWith('*') ? `   ${line}` : `  ${line}`,
  );
  return index > 0 && member.comments.startsWith('//') ? ['', ...lines] : lines;
}

/**
 * The facade's props module: `PriceOverrides` and `OqElasticClusterProps`, each member with the comments it
 * has in the sources and every one optional.
 */
export function facadePropsSource(sources: FacadePropsSources): string {
  const construct = ts.createSourceFile(
    FACADE_PROPS_SOURCES.construct,
    sources.construct,
    ts.ScriptTarget.Latest,
    true,
  );
  const prices = ts.createSourceFile(
    FACADE_PROPS_SOURCES.prices,
    sources.prices,
    ts.ScriptTarget.Latest,
    true,
  );
  const imports = packageImports(construct);
  const uses = new Set<string>();
  const props = interfaceOf(construct, 'OqElasticClusterProps');
  const propLines = membersOf(construct, props).flatMap((member, index) => {
    const { text, uses: name } = jsiiType(construct, 'OqElasticClusterProps', member, imports);
    if (name !== undefined) uses.add(name);
    return memberLines(member, text, index);
  });
  const priceTable = interfaceOf(prices, 'PriceTable');
  const priceLines = membersOf(prices, priceTable).flatMap((member, index) =>
    memberLines(member, jsiiType(prices, 'PriceTable', member, new Map()).text, index),
  );
  return [
    `// Generated from ${FACADE_PROPS_SOURCES.construct} and ${FACADE_PROPS_SOURCES.prices} by`,
    '// scripts/jsii-facade-props.ts at package build (scripts/build-python-package.sh); do not edit.',
    ...importLines(uses, imports),
    '',
    '/** Overrides of the price table (USD, us-east-1 on-demand by default): each entry of `PriceTable`, optional. */',
    'export interface PriceOverrides {',
    ...priceLines,
    '}',
    '',
    leadingComments(construct, props).replace(/\n\*/g, '\n *'),
    'export interface OqElasticClusterProps {',
    ...propLines,
    '}',
    '',
  ].join('\n');
}

/** The sources as they are in the repository at `root`. */
export function readFacadePropsSources(root: string): FacadePropsSources {
  return {
    construct: readFileSync(join(root, FACADE_PROPS_SOURCES.construct), 'utf8'),
    prices: readFileSync(join(root, FACADE_PROPS_SOURCES.prices), 'utf8'),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (out === undefined) throw new Error('usage: tsx scripts/jsii-facade-props.ts <out.ts>');
  writeFileSync(
    out,
    facadePropsSource(readFacadePropsSources(fileURLToPath(new URL('../', import.meta.url)))),
  );
}
