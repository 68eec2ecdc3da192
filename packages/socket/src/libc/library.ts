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

/** Declares a libc function from its C prototype. Throws {@link PlatformUnsupportedError} off Linux. */
export function declare<F extends (...args: never[]) => unknown>(prototype: string): F {
  return load().library.func(prototype) as unknown as F;
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
