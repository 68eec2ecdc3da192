/**
 * Random identifiers drawn from a pooled CSPRNG buffer.
 *
 * `crypto.randomBytes` costs about 20 µs a call here, as much as a whole uncontended Redis round trip; drawing
 * 4 KiB at a time makes each token a slice of an existing buffer.
 */
import { randomBytes } from 'node:crypto';
import { assertNumber, assertOneOf } from './validate.js';

const POOL_BYTES = 4096;
let pool = randomBytes(POOL_BYTES);
let offset = 0;

/** Encodings {@link randomToken} can produce. */
export type TokenEncoding = 'hex' | 'base64url';

/**
 * A random value of `bytes` bytes (1..256, default 16 = 128 bits) from the CSPRNG, encoded as `hex` (default) or
 * `base64url` (shorter: 22 characters for 16 bytes).
 *
 * @example
 * ```ts
 * const lockValue = randomToken();               // 32 hex characters
 * const jobId = randomToken(12, 'base64url');    // 16 URL-safe characters
 * ```
 */
export function randomToken(bytes = 16, encoding: TokenEncoding = 'hex'): string {
  assertNumber('bytes', bytes, { min: 1, max: 256, integer: true });
  assertOneOf('encoding', encoding, ['hex', 'base64url']);
  if (offset + bytes > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const token = pool.toString(encoding, offset, offset + bytes);
  offset += bytes;
  return token;
}
