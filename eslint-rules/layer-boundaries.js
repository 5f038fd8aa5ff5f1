// @ts-check
/**
 * The repository's layers as an ESLint rule: which top-level folders a file may import from. It resolves
 * every relative import (static, dynamic, re-export) against the importing file and checks the target's
 * repository path against the rules in eslint.config.js, so that `npm run lint` (and CI) fails on an import
 * that crosses a boundary. Package imports (`amqplib`, `node:fs`) are not its concern.
 */
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * @typedef {{ from: string[], allowOnly?: string[], disallow?: string[], why: string }} LayerRule
 * `from`, `allowOnly` and `disallow` are repository path prefixes (`bridge/src/decide/`) or exact files.
 */

/** @param {string} path @param {string[]} prefixes */
const within = (path, prefixes) =>
  prefixes.some((p) => path === p || (p.endsWith('/') && path.startsWith(p)));

/** @type {import('eslint').Rule.RuleModule} */
const layerBoundaries = {
  meta: {
    type: 'problem',
    docs: { description: 'keep imports inside the layers of the project layout (README, "Project layout")' },
    schema: [{ type: 'array' }],
    messages: { crossed: '{{from}} may not import {{target}}: {{why}}' },
  },
  create(context) {
    /** @type {LayerRule[]} */
    const rules = context.options[0] ?? [];
    const file = relative(REPO_ROOT, context.filename).split('\\').join('/');
    const applicable = rules.filter((r) => within(file, r.from));
    if (applicable.length === 0) return {};
    /** @param {import('estree').Node | null | undefined} source */
    const check = (source) => {
      if (!source || source.type !== 'Literal' || typeof source.value !== 'string') return;
      const spec = source.value;
      if (!spec.startsWith('.')) return;
      const target = relative(REPO_ROOT, resolve(dirname(context.filename), spec))
        .split('\\')
        .join('/');
      for (const rule of applicable) {
        const refused =
          (rule.allowOnly !== undefined && !within(target, rule.allowOnly)) ||
          (rule.disallow !== undefined && within(target, rule.disallow));
        if (refused) {
          context.report({ node: source, messageId: 'crossed', data: { from: file, target, why: rule.why } });
          return;
        }
      }
    };
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};

export default { rules: { 'layer-boundaries': layerBoundaries } };
