import { isXError, randomToken } from '../src/index.js';

describe('randomToken', () => {
  it('returns distinct 128-bit hex values by default, also across pool refills', () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const token = randomToken();
      expect(token).toMatch(/^[0-9a-f]{32}$/);
      tokens.add(token);
    }
    expect(tokens.size).toBe(1_000);
  });

  it('encodes base64url with the requested length', () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 2_000; i++) {
      const token = randomToken(12, 'base64url');
      expect(token).toMatch(/^[A-Za-z0-9_-]{16}$/);
      tokens.add(token);
    }
    expect(tokens.size).toBe(2_000);
    expect(randomToken(256)).toHaveLength(512);
  });

  it('rejects bad sizes and encodings with a typed error', () => {
    for (const bad of [0, -1, 1.5, 257, Number.NaN]) {
      expect(() => randomToken(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
    let caught: unknown;
    try {
      randomToken(16, 'base64' as 'hex');
    } catch (error) {
      caught = error;
    }
    expect(isXError(caught, 'ERR_INVALID_ARGUMENT')).toBe(true);
  });
});
