/**
 * Loads koffi and the C library once per thread. Every other libc file declares its functions through
 * {@link libc}, so the platform check happens in one place and fails with one clear error.
 */
import type * as KoffiModule from 'koffi';
import { PlatformUnsupportedError } from '../errors.js';

type Koffi = typeof KoffiModule;
type LibraryHandle = ReturnType<Koffi['load']>;

interface Loaded {
  koffi: Koffi;
  library: LibraryHandle;
}

let loaded: Loaded | undefined;
let failure: PlatformUnsupportedError | undefined;

function load(): Loaded {
  if (loaded !== undefined) return loaded;
  if (failure !== undefined) throw failure;
  if (process.platform !== 'linux') {
    failure = new PlatformUnsupportedError(`this is ${process.platform}, and epoll, splice and sendfile are Linux calls`);
    throw failure;
  }
  try {
    // Required lazily so that importing the package on another platform (for types, for the fallback) works.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const koffi = require('koffi') as Koffi;
    loaded = { koffi, library: koffi.load('libc.so.6') };
    return loaded;
  } catch (error) {
    failure = new PlatformUnsupportedError(`koffi could not load libc.so.6 (${error instanceof Error ? error.message : String(error)})`, {
      cause: error,
    });
    throw failure;
  }
}

/**
 * A libc function declared from its C prototype and bound through koffi at its first use, not at import:
 * importing the package must work where koffi cannot load (for types, for the node:net transport); the first
 * use there throws {@link PlatformUnsupportedError}.
 *
 * Callers call `native` at their own call site (`epollWait.native(fd, events, max, timeout)`), not through a
 * wrapper function shared by every declaration. That keeps each call site monomorphic: V8 then calls the koffi
 * function through its fast API-call path. A shared wrapper sees every function of its arity at one call site,
 * and a megamorphic call to a native function goes through the C++ runtime on each call (the echo bench
 * served 3.6 % more requests per second once every call site had its own function).
 */
export class LibcFunction<F extends (...args: never[]) => unknown> {
  private bound: F | undefined;

  constructor(readonly prototype: string) {}

  /** The native function. */
  get native(): F {
    return (this.bound ??= load().library.func(this.prototype) as unknown as F);
  }
}

/** Declares a libc function from its C prototype (see {@link LibcFunction}). */
export function declare<F extends (...args: never[]) => unknown>(prototype: string): LibcFunction<F> {
  return new LibcFunction<F>(prototype);
}

/** errno as the last libc call on this thread left it. */
export function lastErrno(): number {
  return load().koffi.errno();
}

/** The address of a buffer's first byte, for structures that hold pointers (iovec). */
export function addressOf(buffer: Uint8Array): bigint {
  return load().koffi.address(buffer);
}

/** Throws {@link PlatformUnsupportedError} (with the reason) unless the reactor can run here. */
export function assertSupported(): void {
  load();
}

/**
 * True when the reactor can run here (Linux, koffi loads, libc found). Never throws.
 *
 * @example
 * ```ts
 * const server = isSupported() ? createServer({ handler }) : net.createServer(fallback);
 * ```
 */
export function isSupported(): boolean {
  try {
    load();
    return true;
  } catch {
    return false;
  }
}
