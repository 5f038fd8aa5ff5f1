import { existsSync, readFileSync } from 'node:fs';

const ASSETS = new URL('../../assets/master/', import.meta.url);

/** A top-level `from <module> import <names>` line. */
const FROM_IMPORT = /^from (\w+) import (\w+(?:, \w+)*)$/gm;
/** A top-level `import <module>` line. */
const PLAIN_IMPORT = /^import (\S+)$/;

/**
 * A module's definitions (what follows its imports) for inlining into `script`, checked: the script imports
 * every module the definitions use, and the module defines every name the script imports from it.
 */
function definitionsFor(
  script: { name: string; text: string },
  modulePath: URL,
  module: string,
  names: readonly string[],
) {
  const lines = readFileSync(modulePath, 'utf8').trimEnd().split('\n');
  const imports = lines.filter((line) => /^(?:import|from) /.test(line));
  for (const line of imports) {
    const used = PLAIN_IMPORT.exec(line)?.[1];
    if (used === undefined) {
      throw new Error(`${module}.py: only plain imports can be inlined (${line})`);
    }
    if (!script.text.split('\n').includes(line)) {
      throw new Error(`${script.name} inlines ${module}.py, whose definitions use ${used}: add \`${line}\``);
    }
  }
  const lastImport = imports.at(-1);
  const definitions = lastImport === undefined ? lines : lines.slice(lines.lastIndexOf(lastImport) + 1);
  for (const name of names) {
    if (!definitions.some((line) => line.startsWith(`def ${name}(`) || line.startsWith(`${name} = `))) {
      throw new Error(`${script.name} imports ${name} from ${module}.py, which does not define it`);
    }
  }
  return definitions.slice(definitions.findIndex((line) => line !== '')).join('\n');
}

/**
 * A master script from cdk/assets/master/ as the boot installs it: one file, in which each import of a module
 * beside it (`from engine_database import count_executing`) is replaced by that module's definitions. Scripts
 * share code this way and still install as single files; run from cdk/assets/master/ they import the module.
 *
 * @param assets the folder of the script and its modules (a test's fixtures) @default cdk/assets/master/
 */
export function readMasterScript(fileName: string, assets: URL = ASSETS): string {
  const text = readFileSync(new URL(fileName, assets), 'utf8');
  return text.replace(FROM_IMPORT, (line, module: string, names: string) => {
    const modulePath = new URL(`${module}.py`, assets);
    if (!existsSync(modulePath)) return line; // a library's import
    return definitionsFor({ name: fileName, text }, modulePath, module, names.split(', '));
  });
}
