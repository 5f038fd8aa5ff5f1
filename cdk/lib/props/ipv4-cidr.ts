/**
 * IPv4 CIDR blocks parsed as numbers, so that a guard on "how much of the internet may reach this port" looks at
 * the address range and not at the spelling: `1.2.3.4/0` and `0.0.0.0/1` are as open as `0.0.0.0/0`.
 */

/** A parsed IPv4 CIDR block. */
export interface Ipv4Cidr {
  /** The network address as an unsigned 32-bit number. */
  readonly network: number;
  readonly prefixLength: number;
  /** The canonical spelling: network address (host bits zero, no leading zeros) and prefix. */
  readonly canonical: string;
}

const SHAPE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const DECIMAL = /^(0|[1-9]\d*)$/;

function dotted(address: number): string {
  return [24, 16, 8, 0].map((shift) => (address >>> shift) & 0xff).join('.');
}

/**
 * Parses `value`; returns a reason (for an error message) when it is not an IPv4 CIDR block in canonical form
 * with a prefix of at least `minPrefixLength`.
 */
export function parseIpv4Cidr(value: string, minPrefixLength = 0): Ipv4Cidr | { readonly problem: string } {
  const m = SHAPE.exec(value);
  const parts = m?.slice(1) ?? [];
  if (!m || !parts.every((p) => DECIMAL.test(p))) {
    return { problem: 'use an IPv4 CIDR such as 10.80.0.0/16 (decimal octets without leading zeros).' };
  }
  const octets = parts.slice(0, 4).map(Number);
  const prefixLength = Number(parts[4]);
  if (octets.some((o) => o > 255) || prefixLength > 32) {
    return { problem: 'use an IPv4 CIDR such as 10.80.0.0/16 (octets 0-255, prefix 0-32).' };
  }
  const address = octets.reduce((acc, o) => acc * 256 + o, 0) >>> 0;
  const mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
  const network = (address & mask) >>> 0;
  const canonical = `${dotted(network)}/${prefixLength}`;
  if (prefixLength < minPrefixLength) {
    return {
      problem: `a /${prefixLength} admits ${2 ** (32 - prefixLength)} addresses; give a block of /${minPrefixLength} or narrower (your office or VPN range).`,
    };
  }
  if (network !== address) {
    return { problem: `host bits are set; the block is ${canonical}: write it that way.` };
  }
  return { network, prefixLength, canonical };
}
