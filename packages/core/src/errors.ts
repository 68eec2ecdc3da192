/**
 * The failure vocabulary every `x` package builds on: one base class with a stable, machine-readable `code`.
 *
 * Callers branch on `error.code` (or `instanceof` a subclass), never on message text, so messages can improve
 * without breaking anyone.
 */

/** Options accepted by {@link XError}. */
export interface XErrorOptions {
  /** The lower-level error that caused this one; kept as the standard `Error.cause`. */
  cause?: unknown;
}

// A registry symbol, not a module-local one: two installed copies of @x/core agree on it.
const X_ERROR_BRAND = Symbol.for('@x/core.XError');

/**
 * Base class of every error thrown by `x` packages.
 *
 * @typeParam C - the literal `code` string, so `switch (err.code)` narrows.
 * @example
 * ```ts
 * class LockHeldError extends XError<'ERR_LOCK_HELD'> {
 *   constructor(readonly resource: string) {
 *     super('ERR_LOCK_HELD', `lock on ${resource} is held by another owner`);
 *   }
 * }
 * try { await lock(); } catch (err) { if (isXError(err, 'ERR_LOCK_HELD')) retryLater(); }
 * ```
 */
export class XError<C extends string = string> extends Error {
  /** Stable identifier of the failure, e.g. `ERR_INVALID_ARGUMENT`. */
  readonly code: C;

  constructor(code: C, message: string, options?: XErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    // Subclasses get their own name in stack traces and util.inspect without repeating it by hand.
    this.name = new.target.name;
  }
}
Object.defineProperty(XError.prototype, X_ERROR_BRAND, { value: true });

/**
 * True when `value` is an {@link XError}, optionally with the given `code`.
 *
 * Works across copies of `@x/core` in one process (two versions installed side by side), where `instanceof`
 * would fail, by checking a brand that every copy puts on its prototype. Node's own errors also carry
 * `ERR_*` codes; they are not XErrors.
 */
export function isXError<C extends string>(value: unknown, code?: C): value is XError<C> {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[X_ERROR_BRAND] !== true) return false;
  return code === undefined || (value as XError).code === code;
}

/** Thrown when a public function receives a value it cannot accept. Names the argument and shows the value. */
export class InvalidArgumentError extends XError<'ERR_INVALID_ARGUMENT'> {
  constructor(
    /** Name of the offending argument or option, e.g. `options.ttl`. */
    readonly argument: string,
    /** The value that was passed. */
    readonly value: unknown,
    /** What was expected instead, e.g. `a finite number >= 0`. */
    readonly expected: string,
  ) {
    super('ERR_INVALID_ARGUMENT', `${argument} must be ${expected}, got ${describe(value)}`);
  }
}

/** Thrown (or used as an abort reason) when an operation was cancelled through an AbortSignal. */
export class AbortError extends XError<'ERR_ABORTED'> {
  constructor(message = 'the operation was aborted', options?: XErrorOptions) {
    super('ERR_ABORTED', message, options);
  }
}

/** Thrown (or used as an abort reason) when an operation ran out of time. */
export class TimeoutError extends XError<'ERR_TIMEOUT'> {
  constructor(
    /** The limit that was exceeded, in milliseconds. */
    readonly timeoutMs: number,
    message = `the operation timed out after ${timeoutMs} ms`,
    options?: XErrorOptions,
  ) {
    super('ERR_TIMEOUT', message, options);
  }
}

/** Thrown when an object is used after `close()`. */
export class ClosedError extends XError<'ERR_CLOSED'> {
  constructor(what: string) {
    super('ERR_CLOSED', `${what} is closed`);
  }
}

/**
 * `close()` gave up waiting for running handlers after its timeout: their signals were aborted, and what they
 * were doing is not counted as done (each package says what becomes of it in `consequence`).
 *
 * @example
 * ```ts
 * throw new CloseTimeoutError(5_000, 3, { consequence: 'their records will be consumed again' });
 * ```
 */
export class CloseTimeoutError extends XError<'ERR_CLOSE_TIMEOUT'> {
  /** The timeout that passed, in ms. */
  readonly timeoutMs: number;
  /** Handlers still running at the timeout. */
  readonly running: number;
  /** Ids of what they were running, where the package has them (a delay queue's job ids). */
  readonly ids: readonly string[];

  constructor(timeoutMs: number, running: number, options: { consequence: string; ids?: readonly string[] }) {
    super('ERR_CLOSE_TIMEOUT', `${running} handler(s) still running after ${timeoutMs} ms; ${options.consequence}`);
    this.timeoutMs = timeoutMs;
    this.running = running;
    this.ids = options.ids ?? [];
  }
}

/**
 * A thrown value as one line of text for logs, headers and records of failures: `Name: message` for an Error,
 * `String(value)` otherwise, and a fixed phrase for a value that cannot be turned into text (a null-prototype
 * object, a revoked Proxy, a throwing getter): describing a failure must not fail itself. At most `maxLength`
 * characters (the end cut to `...`).
 */
export function describeThrown(error: unknown, maxLength = 1_000): string {
  let text: string;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    text = 'a thrown value that cannot be described';
  }
  return text.length > maxLength ? `${text.slice(0, Math.max(0, maxLength - 3))}...` : text;
}

/** A short, safe rendering of any value for error messages (no huge dumps, no throwing getters). */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > 64 ? `${value.slice(0, 61)}...` : value);
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return `function ${value.name || '(anonymous)'}`;
    default:
      if (value === null) return 'null';
      try {
        if (Array.isArray(value)) return `array(${value.length})`;
        const tag = Object.prototype.toString.call(value).slice(8, -1);
        if (tag !== 'Object') return `object ${tag}`;
        const prototype: unknown = Object.getPrototypeOf(value);
        if (prototype !== null && prototype !== Object.prototype) {
          const name: unknown = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
          return `object ${typeof name === 'string' && name !== '' ? name.slice(0, 64) : tag}`;
        }
        // A plain object: its first keys say which shape was passed ("got object Object" said nothing).
        const keys = Object.keys(value as object);
        const shown = keys.slice(0, 4).map((key) => (key.length > 20 ? `${key.slice(0, 17)}...` : key));
        return `object {${shown.join(', ')}${keys.length > 4 ? ', ...' : ''}}`;
      } catch {
        // A proxy or exotic object whose traps throw: still describable, just not in detail.
        return 'object';
      }
  }
}
