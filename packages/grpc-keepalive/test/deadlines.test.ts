import { type ServerUnaryCall, type sendUnaryData, Server, ServerCredentials, status } from '@grpc/grpc-js';
import { isXError } from '@x/core';
import { callSignal, deadlineIn, decodeGrpcTimeout, encodeGrpcTimeout, propagatedCallOptions, remainingMs, withDefaultDeadline } from '../src/index.js';
import { EchoClient, echoClient, say, slow, startEcho } from './helpers.js';

describe('grpc-timeout', () => {
  it.each([
    [0.0005, '500n'],
    [1, '1000000n'],
    [99.999999, '99999999n'],
    [100, '100000u'],
    [1500, '1500000u'],
    [100_000, '100000m'],
    [100_000_000, '100000S'],
    [3 * 3600e3 * 1000, '10800000S'],
    [1.08e11, '1800000M'],
    [1e14, '27777778H'],
  ])('encodes %d ms as %s and back without shortening it', (ms, text) => {
    expect(encodeGrpcTimeout(ms)).toBe(text);
    expect(decodeGrpcTimeout(text)).toBeGreaterThanOrEqual(ms - 1e-9);
  });

  it('encodes an expired deadline as 1n and rounds fractions up', () => {
    expect(encodeGrpcTimeout(0)).toBe('1n');
    expect(encodeGrpcTimeout(-5)).toBe('1n');
    expect(encodeGrpcTimeout(1e-7)).toBe('1n');
  });

  it.each(['', '10', '123456789S', '1s', '-1S', '1.5S', 'S', ' 1S'])('rejects %j with a typed error', (value) => {
    expect(() => decodeGrpcTimeout(value)).toThrow(expect.objectContaining({ code: 'ERR_GRPC_TIMEOUT_FORMAT', value }));
  });
});

it('deadlineIn: ms from now, and no deadline past 2^31-1 ms (grpc-js would fire such a timer at once)', () => {
  const before = Date.now();
  const deadline = deadlineIn(5_000);
  expect(deadline).toBeGreaterThanOrEqual(before + 5_000);
  expect(deadline).toBeLessThanOrEqual(Date.now() + 5_000);
  expect(deadlineIn(2 ** 31 - 1)).toBeLessThan(Infinity);
  expect(deadlineIn(2 ** 31)).toBe(Infinity);
});

describe('deadlines on real calls', () => {
  it('gives calls without a deadline the default, and leaves calls with one alone', async () => {
    const service = await startEcho();
    const client = echoClient(service.port, { interceptors: [withDefaultDeadline(300)] });
    try {
      await expect(slow(client, 2000)).rejects.toEqual(expect.objectContaining({ code: status.DEADLINE_EXCEEDED }));
      expect(await slow(client, 500, { deadline: Date.now() + 3000 })).toBe('slept 500');
      expect(await say(client, 'quick')).toBe('quick');
    } finally {
      client.close();
      await service.stop();
    }
    expect(() => withDefaultDeadline(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('a default of 30 days, or a propagated one past 2^31-1 ms, does not expire at once (grpc-js timers overflow)', async () => {
    const service = await startEcho();
    const client = echoClient(service.port, { interceptors: [withDefaultDeadline(30 * 86_400_000)] });
    try {
      expect(await slow(client, 300)).toBe('slept 300');
      const far = propagatedCallOptions({ getDeadline: () => Date.now() + 2 ** 31 + 5_000 });
      expect(await slow(client, 300, far)).toBe('slept 300');
    } finally {
      client.close();
      await service.stop();
    }
  });

  it('lets a handler see what is left of the deadline, pass it on, and abort its own work when it passes', async () => {
    const seen: { remaining: number; propagated: number | undefined; aborted: unknown }[] = [];
    const server = new Server();
    server.addService(EchoClient.service, {
      Say: (call: ServerUnaryCall<{ text: string }, unknown>, callback: sendUnaryData<unknown>) => {
        const linked = callSignal(call);
        const options = propagatedCallOptions(call, { marginMs: 50 });
        linked.signal.addEventListener('abort', () => {
          seen.push({ remaining: remainingMs(call), propagated: options.deadline as number | undefined, aborted: linked.signal.reason });
          linked.dispose();
          callback(null, { text: 'late' });
        });
      },
      Slow: (_call: unknown, callback: sendUnaryData<unknown>) => callback(null, { text: '' }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const client = echoClient(port);
    try {
      const started = Date.now();
      await expect(say(client, 'x', { deadline: started + 400 })).rejects.toEqual(expect.objectContaining({ code: status.DEADLINE_EXCEEDED }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(seen).toHaveLength(1);
      // The server's own timer and the client's cancel at its deadline race: either typed reason is right.
      expect(isXError(seen[0]!.aborted, 'ERR_TIMEOUT') || isXError(seen[0]!.aborted, 'ERR_ABORTED')).toBe(true);
      expect(seen[0]!.remaining).toBeLessThanOrEqual(20);
      expect(seen[0]!.propagated).toBeLessThanOrEqual(started + 400 - 50 + 20);
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    }
  });

  it('propagates nothing (or the fallback) from a call without a deadline', () => {
    const call = { getDeadline: () => Infinity };
    expect(propagatedCallOptions(call)).toEqual({});
    const options = propagatedCallOptions(call, { fallbackMs: 1000 });
    expect(options.deadline as number).toBeGreaterThan(Date.now() + 900);
    expect(remainingMs({ getDeadline: () => new Date(Date.now() + 5000) })).toBeGreaterThan(4900);
  });
});
