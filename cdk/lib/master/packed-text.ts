import { deflateRawSync } from 'node:zlib';

/** Drops whole-line comments (not the shebang) from an embedded file: user-data is limited to 16 KB. */
export function stripComments(text: string): string {
  return text
    .split('\n')
    .filter((line) => !/^\s*#(?!!)/.test(line))
    .join('\n');
}

/** Python's base64.b85encode alphabet (RFC 1924's characters, in Python's order). */
const BASE85 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~';

/**
 * `bytes` in the encoding of Python's `base64.b85encode(bytes)` (no padding): 5 characters for 4 bytes, where
 * base64 needs 5.33, which leaves the user-data about 900 bytes more room under its 16 KB.
 */
export function base85(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 4) {
    const chunk = [0, 1, 2, 3].map((k) => bytes[i + k] ?? 0);
    let value = ((chunk[0]! << 24) >>> 0) + (chunk[1]! << 16) + (chunk[2]! << 8) + chunk[3]!;
    const digits: string[] = [];
    for (let k = 0; k < 5; k++) {
      digits.unshift(BASE85[value % 85]!);
      value = Math.floor(value / 85);
    }
    out += digits.join('').slice(0, Math.min(4, bytes.length - i) + 1);
  }
  return out;
}

/**
 * `text` raw-deflated (no gzip header) and base85-encoded on one line, the smallest form that the master's own
 * python3 unpacks with {@link UNPACK_PYTHON}; for the user-data and SSM parameters, which both count bytes.
 */
export function packText(text: string): string {
  return base85(deflateRawSync(Buffer.from(text), { level: 9 }));
}

/**
 * Unpacks {@link packText}'s output from stdin to stdout on the instance: Ubuntu's python3 (cloud-init's own) has
 * base85 and zlib built in. Whitespace is ignored (the AWS CLI's text output ends with a newline).
 */
export const UNPACK_PYTHON =
  'import base64, sys, zlib; ' +
  'sys.stdout.buffer.write(zlib.decompress(base64.b85decode("".join(sys.stdin.read().split())), -15))';
