import { randomBytes } from 'node:crypto';

// randomBytes costs about 20 µs a call here, as much as the rest of an uncontended acquire; drawing 4 KiB at a
// time makes it a slice.
const POOL_BYTES = 4096;
const TOKEN_BYTES = 16;
let pool = randomBytes(POOL_BYTES);
let offset = 0;

/** A random 128-bit value, hex-encoded: the proof of ownership stored in the lock's keys. */
export function randomToken(): string {
  if (offset + TOKEN_BYTES > POOL_BYTES) {
    pool = randomBytes(POOL_BYTES);
    offset = 0;
  }
  const token = pool.toString('hex', offset, offset + TOKEN_BYTES);
  offset += TOKEN_BYTES;
  return token;
}
