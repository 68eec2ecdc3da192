import { recognizedOptions } from '@grpc/grpc-js/build/src/channel-options';
import {
  GO_DEFAULTS,
  GRPC_JS_OPTION_KEYS,
  checkKeepaliveCompatibility,
  clientChannelOptions,
  ignoredChannelOptions,
  resolveEnforcementPolicy,
  resolveServerParameters,
  serverOptions,
} from '../src/index.js';

describe("Go's keepalive parameters", () => {
  it('raises a client time below 10 s to 10 s and says so', () => {
    const { options, adjustments } = clientChannelOptions({ timeMs: 1000 });
    expect(options).toEqual({ 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 20_000, 'grpc.keepalive_permit_without_calls': 0 });
    expect(adjustments).toEqual([expect.objectContaining({ setting: 'timeMs', given: 1000, used: 10_000 })]);
  });

  it('sets no keepalive option for a client without a time (Go: no pings)', () => {
    expect(clientChannelOptions({}).options).toEqual({});
    expect(clientChannelOptions({ timeMs: 60_000, timeoutMs: 5000, permitWithoutStream: true }).options).toEqual({
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 5000,
      'grpc.keepalive_permit_without_calls': 1,
    });
  });

  it("gives a server Go's 2 h keepalive by default (grpc-js: off) and the A9 options only when set", () => {
    expect(serverOptions().options).toEqual({ 'grpc.keepalive_time_ms': 7_200_000, 'grpc.keepalive_timeout_ms': 20_000 });
    const { options, adjustments } = serverOptions({ timeMs: 200, maxConnectionIdleMs: 60_000, maxConnectionAgeMs: 600_000, maxConnectionAgeGraceMs: 30_000 });
    expect(options).toEqual({
      'grpc.keepalive_time_ms': 1000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.max_connection_idle_ms': 60_000,
      'grpc.max_connection_age_ms': 600_000,
      'grpc.max_connection_age_grace_ms': 30_000,
    });
    expect(adjustments.map((a) => a.setting)).toEqual(['timeMs']);
    expect(resolveServerParameters().maxConnectionAgeMs).toBe(Infinity);
  });

  it('caps huge durations at what grpc-js can hold (2^31-1 ms), and sends an age its jitter would overflow as unlimited', () => {
    expect(serverOptions({ maxConnectionAgeMs: 1e12 }).options['grpc.max_connection_age_ms']).toBe(2 ** 31 - 1);
    expect(serverOptions({ maxConnectionIdleMs: 2 ** 31 }).options['grpc.max_connection_idle_ms']).toBe(2 ** 31 - 1);
    // Each such value is grpc-js's "never", and says so.
    const days30 = 30 * 86_400_000;
    expect(serverOptions({ maxConnectionIdleMs: days30, maxConnectionAgeGraceMs: days30, timeMs: days30 }).adjustments.map((a) => a.setting).sort()).toEqual([
      'maxConnectionAgeGraceMs',
      'maxConnectionIdleMs',
      'timeMs',
    ]);
    expect(clientChannelOptions({ timeMs: 1e15 }).adjustments).toEqual([expect.objectContaining({ setting: 'timeMs', used: 2 ** 31 - 1 })]);
    expect(serverOptions({ maxConnectionAgeMs: 2 ** 31 }).adjustments).toEqual([expect.objectContaining({ setting: 'maxConnectionAgeMs' })]);
    // grpc-js would arm setTimeout(age + up to 10 %): past 2^31-1 Node fires after 1 ms.
    const nearLimit = serverOptions({ maxConnectionAgeMs: 2 ** 31 - 2 });
    expect(nearLimit.options['grpc.max_connection_age_ms']).toBe(2 ** 31 - 1);
    expect(nearLimit.adjustments).toEqual([expect.objectContaining({ setting: 'maxConnectionAgeMs', used: 2 ** 31 - 1 })]);
    expect(serverOptions({ maxConnectionAgeMs: 1_900_000_000 }).options['grpc.max_connection_age_ms']).toBe(1_900_000_000);
  });

  it("reads 0 as unset, as grpc-go does: never for idle and age, Go's defaults for times and the policy", () => {
    expect(resolveServerParameters({ maxConnectionIdleMs: 0, maxConnectionAgeMs: 0, maxConnectionAgeGraceMs: 0, timeMs: 0, timeoutMs: 0 })).toEqual({
      maxConnectionIdleMs: Infinity,
      maxConnectionAgeMs: Infinity,
      maxConnectionAgeGraceMs: Infinity,
      timeMs: 7_200_000,
      timeoutMs: 20_000,
      adjustments: [],
    });
    expect(serverOptions({ maxConnectionIdleMs: 0, timeMs: 0 }).options).toEqual({ 'grpc.keepalive_time_ms': 7_200_000, 'grpc.keepalive_timeout_ms': 20_000 });
    expect(resolveEnforcementPolicy({ minTimeMs: 0 })).toEqual({ minTimeMs: 300_000, permitWithoutStream: false });
    expect(resolveEnforcementPolicy({ minTimeMs: 1 }).minTimeMs).toBe(1);
    // The client's zero time is raised to the 10 s floor (Go's WithKeepaliveParams); a zero timeout is 20 s.
    expect(clientChannelOptions({ timeMs: 0, timeoutMs: 0 }).options).toEqual({
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 20_000,
      'grpc.keepalive_permit_without_calls': 0,
    });
  });

  it("defaults the enforcement policy to Go's 5 minutes without pings on idle connections", () => {
    expect(resolveEnforcementPolicy()).toEqual({ minTimeMs: 300_000, permitWithoutStream: false });
    expect(GO_DEFAULTS.maxPingStrikes).toBe(2);
  });

  it('rejects unknown keys and bad values with typed errors', () => {
    expect(() => clientChannelOptions({ time: 5 } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => clientChannelOptions({ timeMs: -5 })).toThrow(expect.objectContaining({ argument: 'parameters.timeMs' }));
    expect(() => clientChannelOptions({ timeMs: 20_000, permitWithoutStream: 'yes' as never })).toThrow(
      expect.objectContaining({ argument: 'parameters.permitWithoutStream' }),
    );
    expect(() => serverOptions({ maxConnectionAgeMs: Number.NaN })).toThrow(expect.objectContaining({ argument: 'parameters.maxConnectionAgeMs' }));
    expect(() => resolveEnforcementPolicy({ minTime: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('options grpc-js would ignore', () => {
  it('names keys grpc-js does not read, with the key meant', () => {
    expect(ignoredChannelOptions({ 'grpc.keepalive_time': 1, 'grpc.keepalive_timeout_ms': 1, 'grpc.http2.max_ping_strikes': 2, 'my.option': 1 })).toEqual([
      { key: 'grpc.keepalive_time', suggestion: 'grpc.keepalive_time_ms' },
      { key: 'grpc.http2.max_ping_strikes', suggestion: expect.stringContaining('KeepaliveEnforcer') },
      { key: 'my.option', suggestion: undefined },
    ]);
    expect(ignoredChannelOptions(clientChannelOptions({ timeMs: 30_000 }).options)).toEqual([]);
    // Client constructor options ride in the same object, and grpc-js reads them.
    expect(ignoredChannelOptions({ interceptors: [], interceptor_providers: [], channelOverride: {}, channelFactoryOverride: {}, callInvocationTransformer: {} })).toEqual([]);
    expect(ignoredChannelOptions(serverOptions({ maxConnectionAgeMs: 1000, maxConnectionIdleMs: 1, maxConnectionAgeGraceMs: 1 }).options)).toEqual([]);
  });

  it('knows every key the installed grpc-js recognizes (fails when grpc-js adds one)', () => {
    for (const key of Object.keys(recognizedOptions)) expect(GRPC_JS_OPTION_KEYS.has(key) ? key : `missing ${key}`).toBe(key);
  });
});

describe('checkKeepaliveCompatibility', () => {
  it('predicts GOAWAY for a client pinging faster than minTime, after the third strike (fourth ping)', () => {
    expect(checkKeepaliveCompatibility({ timeMs: 30_000 }, { minTimeMs: 60_000 })).toEqual({ goaway: true, reason: expect.any(String), afterMs: 120_000 });
    expect(checkKeepaliveCompatibility({ timeMs: 60_000 }, { minTimeMs: 60_000 }).goaway).toBe(false);
  });

  it("applies Go's 10 s client floor unless told the client is grpc-js", () => {
    expect(checkKeepaliveCompatibility({ timeMs: 1000 }, { minTimeMs: 5000 }).goaway).toBe(false);
    expect(checkKeepaliveCompatibility({ timeMs: 1000 }, { minTimeMs: 5000 }, { applyGoFloor: false })).toEqual({ goaway: true, reason: expect.any(String), afterMs: 4000 });
  });

  it('flags pings without calls when the server does not permit them, whatever minTime says', () => {
    const verdict = checkKeepaliveCompatibility({ timeMs: 600_000, permitWithoutStream: true }, { minTimeMs: 60_000 });
    expect(verdict.goaway).toBe(true);
    expect(verdict.reason).toMatch(/permitWithoutStream/);
    expect(checkKeepaliveCompatibility({ timeMs: 600_000, permitWithoutStream: true }, { minTimeMs: 60_000, permitWithoutStream: true }).goaway).toBe(false);
    expect(checkKeepaliveCompatibility({}, {})).toEqual({ goaway: false, reason: 'the client sends no keepalive pings', afterMs: undefined });
  });
});
