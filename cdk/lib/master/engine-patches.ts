import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { STANDARD_PARAMETER_BYTES } from './calculation-events.ts';
import { packText, stripComments } from './packed-text.ts';

/**
 * The engine fixes the master loads into every engine process (no version check, a local pool sized by the
 * master's CPUs, repeated results dropped; docs/master.md, "Engine traps"). The worker image ships the same file.
 */
export const ENGINE_PATCHES_MODULE = readFileSync(
  new URL('../../../worker-image/engine-patches/oq_elastic_engine_patches.py', import.meta.url),
  'utf8',
);
/** The `.pth` line that makes the engine's Python import the patches at start-up (site module, Python 3.8). */
export const ENGINE_PATCHES_PTH = 'import oq_elastic_engine_patches\n';

/** The module as the master installs it: whole-line comments dropped (they document the source, not the machine). */
export function installedEnginePatches(): string {
  return stripComments(ENGINE_PATCHES_MODULE);
}

/**
 * The module as its SSM parameter carries it: {@link installedEnginePatches} packed (raw deflate, base85), about
 * a third of its size, so that it fits the standard tier. Throws when it outgrows it, so that synth, not the
 * boot, says so.
 */
export function enginePatchesParameterText(): string {
  const packed = packText(installedEnginePatches());
  if (packed.length > STANDARD_PARAMETER_BYTES) {
    throw new Error(
      `the engine patches are ${packed.length} bytes packed, above SSM's standard-tier ${STANDARD_PARAMETER_BYTES}: shorten worker-image/engine-patches/oq_elastic_engine_patches.py`,
    );
  }
  return packed;
}

/** SHA-256 (hex) of {@link installedEnginePatches}: the boot checks the module it fetched against it. */
export function enginePatchesDigest(): string {
  return createHash('sha256').update(installedEnginePatches()).digest('hex');
}
