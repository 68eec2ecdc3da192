import { randomToken } from '../src/token.js';

describe('randomToken', () => {
  it('returns distinct 128-bit hex values, also across pool refills', () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const token = randomToken();
      expect(token).toMatch(/^[0-9a-f]{32}$/);
      tokens.add(token);
    }
    expect(tokens.size).toBe(1_000);
  });
});
