// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import layers from './eslint-rules/layer-boundaries.js';

const PRODUCT = ['contract/', 'cdk/', 'bridge/', 'worker-image/'];
const ABOVE_THE_PRODUCT = ['common/', 'local/', 'tools/', 'bench/', 'scripts/', 'test/'];

/** The layers of README's "Project layout"; test/unit/lint-layer-boundaries.test.ts shows each one bites. */
export const LAYER_RULES = [
  {
    from: ['contract/'],
    allowOnly: ['contract/'],
    why: 'the contract is what cdk/ and bridge/ share; it imports neither',
  },
  {
    from: ['common/'],
    allowOnly: ['common/'],
    why: 'common/ holds small helpers (PRNG, percentile, SVG escaping) for everything above the product; it imports nothing',
  },
  {
    from: ['bridge/src/decide/'],
    allowOnly: ['bridge/src/decide/', 'bridge/src/observe/observation.ts', 'contract/'],
    why: 'decide is pure: it reads the observation data and imports no adapter (observe, act, compute, report, loop)',
  },
  { from: ['cdk/'], disallow: ['bridge/'], why: 'cdk/ and bridge/ share only contract/' },
  { from: ['bridge/'], disallow: ['cdk/'], why: 'cdk/ and bridge/ share only contract/' },
  {
    from: PRODUCT,
    disallow: ABOVE_THE_PRODUCT,
    why: 'the product never imports the helpers, local runtime, tooling, benchmarks, scripts or tests',
  },
  {
    from: ['local/'],
    disallow: ['tools/', 'bench/', 'scripts/', 'test/'],
    why: 'the local runtime stands on the product only; tooling and tests sit above it',
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'cdk.out/',
      '.venv/',
      '.venv-checkov/',
      '.engine-venv/',
      '.services/',
      '.cache/',
      'test/fixtures/',
      'dist/',
      'bridge/image/bridge.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.ts', '**/*.js'],
    plugins: { layers },
    rules: { 'layers/layer-boundaries': ['error', LAYER_RULES] },
  },
);
