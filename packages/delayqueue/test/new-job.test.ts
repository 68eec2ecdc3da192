import { decodeBackoff, encodeBackoff, retryDelay } from '../src/new-job.js';
import { decodeRecord, encodeRecord } from '../src/redis/record.js';

describe('stored backoff', () => {
  it('round-trips through its compact form', () => {
    for (const backoff of [
      { type: 'fixed', delay: 0, maxDelay: 0, jitter: false },
      { type: 'exponential', delay: 1000, maxDelay: 3_600_000, jitter: true },
      { type: 'exponential', delay: 2.5, maxDelay: 10.25, jitter: false },
      { type: 'fixed', delay: 1e-7, maxDelay: 3_600_000, jitter: false },
    ] as const) {
      const text = encodeBackoff(backoff);
      expect(text.length).toBeLessThan(20);
      expect(decodeBackoff(text)).toEqual(backoff);
    }
    expect(() => decodeBackoff('{"type":"fixed"}')).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT_JOB', message: expect.stringMatching(/corrupt backoff/) }));
  });

  it('computes retry delays: fixed, exponential capped, jitter within bounds', () => {
    expect(retryDelay('f40/40', 3)).toBe(40);
    expect([1, 2, 3, 4, 5].map((n) => retryDelay('e100/1000', n))).toEqual([100, 200, 400, 800, 1000]);
    for (let i = 0; i < 100; i++) {
      const delay = retryDelay('e100/1000j', 3);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(400);
    }
  });
});

describe('stored job record', () => {
  it('round-trips, and a corrupt or future record throws CorruptJobError', () => {
    const job = { id: 'a', idGenerated: false, topic: 't', payload: '{"x":"\u001f"}', delay: 0, maxAttempts: 3, ttr: 1000, backoff: 'f0/0' };
    expect(decodeRecord(encodeRecord(job))).toEqual({ topic: 't', maxAttempts: 3, ttr: 1000, backoff: 'f0/0', payload: job.payload });
    expect(() => decodeRecord('1\u001ft')).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT_JOB' }));
    expect(() => decodeRecord(encodeRecord(job).replace(/^1/, '9'))).toThrow(expect.objectContaining({ code: 'ERR_CORRUPT_JOB', message: expect.stringMatching(/version 9/) }));
  });
});
