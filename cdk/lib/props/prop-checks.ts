/**
 * The checks that several cluster props share: each returns the value it accepts and throws a
 * {@link ClusterPropsError} naming the prop, the value and the fix otherwise.
 */
import type { CpuArchitecture } from '../../../contract/prices.ts';
import { ClusterPropsError } from './cluster-props-error.ts';
import { parseIpv4Cidr } from './ipv4-cidr.ts';

const ARCHITECTURES: readonly CpuArchitecture[] = ['x86_64', 'arm64'];

/** A whole number from `min` to `max` (no upper bound when `max` is left out). */
export function integer(prop: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const bound = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
    throw new ClusterPropsError(prop, value, `use a whole number ${bound}.`);
  }
  return value;
}

/** A positive finite number, or unset. */
export function positive(prop: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) {
    throw new ClusterPropsError(prop, value, 'use a positive number, or leave it unset.');
  }
  return value;
}

/** One of `allowed`; the fix lists them unless given. */
export function oneOf<T>(
  prop: string,
  value: T,
  allowed: readonly T[],
  fix = `use one of ${allowed.join(', ')}.`,
): T {
  if (!allowed.includes(value)) throw new ClusterPropsError(prop, value, fix);
  return value;
}

/** One of the CPU architectures the cluster runs on. */
export function architecture(prop: string, value: string): CpuArchitecture {
  return oneOf(prop, value as CpuArchitecture, ARCHITECTURES);
}

/** An IPv4 CIDR block no wider than `/minPrefixLength`, in its canonical spelling. */
export function ipv4Cidr(prop: string, value: string, minPrefixLength = 0): string {
  const parsed = parseIpv4Cidr(value, minPrefixLength);
  if ('problem' in parsed) throw new ClusterPropsError(prop, value, parsed.problem);
  return parsed.canonical;
}
