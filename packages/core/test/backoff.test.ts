import {
  InvalidArgumentError,
  decorrelatedJitterBackoff,
  exponentialBackoff,
  fullJitterBackoff,
} from '../src/index.js';

// A deterministic uniform source: cycles through fixed points in [0, 1).
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe('exponentialBackoff', () => {
  it('grows by the factor and stops at max', () => {
    const policy = exponentialBackoff({ initial: 100, max: 1000 });
    expect([1, 2, 3, 4, 5, 6].map((n) => policy.delay(n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const triple = exponentialBackoff({ initial: 10, max: 1e6, factor: 3 });
    expect(triple.delay(3)).toBe(90);
  });

  it('stays finite for huge attempt numbers', () => {
    const policy = exponentialBackoff({ initial: 1, max: 30_000 });
    expect(policy.delay(10_000)).toBe(30_000);
    expect(exponentialBackoff({ initial: 5, max: 5, factor: 1 }).delay(1e6)).toBe(5);
  });
});

describe('fullJitterBackoff', () => {
  it('draws uniformly below the exponential ceiling', () => {
    const policy = fullJitterBackoff({ initial: 100, max: 1000, random: sequence(0, 0.5, 0.999) });
    expect(policy.delay(1)).toBe(0);
    expect(policy.delay(2)).toBe(100);
    expect(policy.delay(10)).toBeCloseTo(999);
  });

  it('spreads real random delays across the whole range', () => {
    const policy = fullJitterBackoff({ initial: 1000, max: 1000 });
    const delays = Array.from({ length: 2000 }, () => policy.delay(1));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1000);
    // Every quarter of the range gets a fair share (binomial: far below 4 sigma of failing).
    for (let q = 0; q < 4; q++) {
      const inQuarter = delays.filter((d) => d >= q * 250 && d < (q + 1) * 250).length;
      expect(inQuarter).toBeGreaterThan(400);
    }
  });
});

describe('decorrelatedJitterBackoff', () => {
  it('draws between initial and three times the previous delay, capped', () => {
    const policy = decorrelatedJitterBackoff({ initial: 100, max: 1000, random: sequence(1 - Number.EPSILON) });
    let delay: number | undefined;
    const seen: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      delay = policy.delay(attempt, delay);
      seen.push(Math.round(delay));
    }
    expect(seen).toEqual([300, 900, 1000, 1000]);
    const low = decorrelatedJitterBackoff({ initial: 100, max: 1000, random: sequence(0) });
    expect(low.delay(3, 900)).toBe(100);
  });
});

describe('backoff input checks', () => {
  it.each([
    [{ initial: 0, max: 10 }, 'options.initial'],
    [{ initial: -5, max: 10 }, 'options.initial'],
    [{ initial: 10, max: 5 }, 'options.max'],
    [{ initial: 1, max: 5, factor: 0.5 }, 'options.factor'],
    [{ initial: NaN, max: 5 }, 'options.initial'],
  ])('rejects %j', (options, argument) => {
    expect(() => exponentialBackoff(options)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument }));
  });

  it('rejects bad attempt numbers and previous delays', () => {
    const policy = fullJitterBackoff({ initial: 1, max: 10 });
    expect(() => policy.delay(0)).toThrow(InvalidArgumentError);
    expect(() => policy.delay(1.5)).toThrow(InvalidArgumentError);
    const decorrelated = decorrelatedJitterBackoff({ initial: 1, max: 10 });
    expect(() => decorrelated.delay(2, -1)).toThrow(InvalidArgumentError);
  });
});
