import {
  AbortError,
  ClosedError,
  CloseTimeoutError,
  InvalidArgumentError,
  TimeoutError,
  XError,
  assertBoolean,
  assertFunction,
  assertKnownKeys,
  assertNumber,
  assertOneOf,
  assertString,
  describe as describeValue,
  describeThrown,
  isXError,
} from '../src/index.js';

class LockHeldError extends XError<'ERR_LOCK_HELD'> {
  constructor(readonly resource: string) {
    super('ERR_LOCK_HELD', `lock on ${resource} is held`);
  }
}

describe('XError', () => {
  it('carries a stable code, its subclass name and the cause', () => {
    const cause = new Error('socket closed');
    const error = new XError('ERR_SOMETHING', 'it broke', { cause });
    expect(error.code).toBe('ERR_SOMETHING');
    expect(error.message).toBe('it broke');
    expect(error.cause).toBe(cause);
    expect(error).toBeInstanceOf(Error);
    const held = new LockHeldError('orders:42');
    expect(held.name).toBe('LockHeldError');
    expect(held.resource).toBe('orders:42');
    expect(String(held)).toBe('LockHeldError: lock on orders:42 is held');
    expect(held.stack).toContain('LockHeldError');
  });

  it('has no cause property when none is given', () => {
    expect('cause' in new XError('ERR_X', 'm')).toBe(false);
  });

  it('isXError narrows by code and rejects look-alikes', () => {
    const held = new LockHeldError('r');
    expect(isXError(held)).toBe(true);
    expect(isXError(held, 'ERR_LOCK_HELD')).toBe(true);
    expect(isXError(held, 'ERR_OTHER')).toBe(false);
    // Node's own errors carry ERR_* codes too; they are not ours.
    const nodeError = Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' });
    expect(isXError(nodeError)).toBe(false);
    expect(isXError({ code: 'ERR_LOCK_HELD' })).toBe(false);
    expect(isXError(null)).toBe(false);
    expect(isXError('ERR_LOCK_HELD')).toBe(false);
  });

  it('isXError recognises an error from another copy of the package by its registry brand', () => {
    const foreign = new Error('from another copy');
    Object.defineProperty(foreign, Symbol.for('@x/core.XError'), { value: true });
    Object.assign(foreign, { code: 'ERR_LOCK_HELD' });
    expect(isXError(foreign, 'ERR_LOCK_HELD')).toBe(true);
  });

  it('ships the common errors with their codes', () => {
    expect(new AbortError().code).toBe('ERR_ABORTED');
    expect(new TimeoutError(250)).toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 250, message: expect.stringContaining('250 ms') });
    expect(new ClosedError('queue')).toMatchObject({ code: 'ERR_CLOSED', message: 'queue is closed' });
    expect(new CloseTimeoutError(50, 2, { consequence: 'they run again', ids: ['a', 'b'] })).toMatchObject({
      code: 'ERR_CLOSE_TIMEOUT',
      message: '2 handler(s) still running after 50 ms; they run again',
      timeoutMs: 50,
      running: 2,
      ids: ['a', 'b'],
    });
    expect(new CloseTimeoutError(50, 1, { consequence: 'x' }).ids).toEqual([]);
  });
});

describe('describe()', () => {
  it('renders values briefly and never throws', () => {
    expect(describeValue('x'.repeat(100))).toHaveLength(66);
    expect(describeValue(NaN)).toBe('NaN');
    expect(describeValue(10n)).toBe('10n');
    expect(describeValue(null)).toBe('null');
    expect(describeValue([1, 2])).toBe('array(2)');
    expect(describeValue(new Map())).toBe('object Map');
    expect(describeValue(function named() {})).toBe('function named');
    expect(describeValue(Symbol('s'))).toBe('Symbol(s)');
    const hostile = new Proxy({}, { get: () => { throw new Error('trap'); } });
    expect(() => describeValue(hostile)).not.toThrow();
    const noKeys = new Proxy({}, { ownKeys: () => { throw new Error('trap'); } });
    expect(describeValue(noKeys)).toBe('object');
  });

  it('names a plain object by its first keys and an instance by its class, never calling a getter', () => {
    expect(describeValue({ host: 'a', port: 1 })).toBe('object {host, port}');
    expect(describeValue({})).toBe('object {}');
    expect(describeValue({ a: 1, b: 2, c: 3, d: 4, e: 5 })).toBe('object {a, b, c, d, ...}');
    expect(describeValue({ ['k'.repeat(40)]: 1 })).toBe(`object {${'k'.repeat(17)}...}`);
    expect(describeValue(Object.create(null))).toBe('object {}');
    class Peer {}
    expect(describeValue(new Peer())).toBe('object Peer');
    let called = false;
    expect(describeValue({ get boom() { called = true; return 1; } })).toBe('object {boom}');
    expect(called).toBe(false);
  });
});

describe('validation helpers', () => {
  it('assertNumber accepts values within bounds and returns them', () => {
    expect(assertNumber('ttl', 5, { min: 1, max: 10, integer: true })).toBe(5);
    expect(assertNumber('ratio', 0.5)).toBe(0.5);
  });

  it.each([
    [NaN, {}, 'a finite number'],
    [Infinity, {}, 'a finite number'],
    ['5', {}, 'a finite number'],
    [undefined, {}, 'a finite number'],
    [1.5, { integer: true }, 'an integer'],
    [0, { min: 1 }, 'a finite number >= 1'],
    [11, { max: 10 }, 'a finite number <= 10'],
    [-1, { min: 0, max: 3, integer: true }, 'an integer in [0, 3]'],
  ])('assertNumber rejects %p (%j) with a typed error naming the argument', (value, bounds, expected) => {
    let thrown: unknown;
    try {
      assertNumber('options.ttl', value, bounds);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidArgumentError);
    expect(thrown).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.ttl', expected });
    expect((thrown as Error).message).toContain('options.ttl must be');
  });

  it('assertFunction, assertString and assertOneOf reject what they should', () => {
    const fn = (): number => 1;
    expect(assertFunction('fn', fn)).toBe(fn);
    expect(() => assertFunction('fn', 'nope')).toThrow(/fn must be a function, got "nope"/);
    expect(assertBoolean('flag', false)).toBe(false);
    expect(() => assertBoolean('flag', 'yes')).toThrow(/flag must be a boolean, got "yes"/);
    expect(() => assertBoolean('flag', null)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(assertString('name', 'a')).toBe('a');
    expect(() => assertString('name', '')).toThrow(InvalidArgumentError);
    expect(() => assertString('name', 'abcd', 3)).toThrow(/at most 3 characters/);
    expect(() => assertString('name', 7)).toThrow(InvalidArgumentError);
    expect(() => assertString('name', 'a\uD800')).toThrow(/without lone surrogates/);
    expect(() => assertString('name', '\uDC00a')).toThrow(InvalidArgumentError);
    expect(assertString('name', 'a\uD83D\uDE00')).toBe('a\uD83D\uDE00');
    expect(assertOneOf('mode', 'key', ['key', 'partition'] as const)).toBe('key');
    expect(() => assertOneOf('mode', 'keys', ['key', 'partition'])).toThrow(/one of "key", "partition"/);
  });

  it('assertKnownKeys reports a misspelt option', () => {
    expect(() => assertKnownKeys('options', { ttl: 1 }, ['ttl'])).not.toThrow();
    expect(() => assertKnownKeys('options', { ttl: 1, tll: 2 }, ['ttl'])).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.tll' }),
    );
  });

  it.each<[unknown]>([[null], ['ttl'], [5], [['ttl']], [true]])('assertKnownKeys refuses options that are not an object (%p) with a typed error', (value) => {
    expect(() => assertKnownKeys('options', value as object, ['ttl'])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options' }));
  });
});

describe('describeThrown', () => {
  it('gives Name: message for an Error and the text of anything else', () => {
    expect(describeThrown(new TypeError('bad order'))).toBe('TypeError: bad order');
    expect(describeThrown('plain')).toBe('plain');
    expect(describeThrown(undefined)).toBe('undefined');
    expect(describeThrown(null)).toBe('null');
    expect(describeThrown(42)).toBe('42');
    expect(describeThrown(Symbol('s'))).toBe('Symbol(s)');
    expect(describeThrown({ code: 1 })).toBe('[object Object]');
  });

  it('never throws: values without a string form get a fixed phrase', () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const throwing = { toString: () => { throw new Error('no'); } };
    for (const value of [Object.create(null), revoked.proxy, throwing]) expect(describeThrown(value)).toBe('a thrown value that cannot be described');
  });

  it('cuts long text to maxLength with ...', () => {
    expect(describeThrown('x'.repeat(2_000))).toHaveLength(1_000);
    expect(describeThrown('abcdef', 5)).toBe('ab...');
    expect(describeThrown('abcde', 5)).toBe('abcde');
  });
});
