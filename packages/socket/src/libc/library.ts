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

/** How many arguments a C prototype takes; -1 for a variadic one. */
function arity(prototype: string): number {
  const parameters = prototype.slice(prototype.indexOf('(') + 1, prototype.lastIndexOf(')')).trim();
  if (parameters.includes('...')) return -1;
  return parameters === '' || parameters === 'void' ? 0 : parameters.split(',').length;
}

/**
 * Declares a libc function from its C prototype. The declaration happens at the first call, not at import:
 * importing the package must work where koffi cannot load (for types, for the node:net transport); the first
 * call there throws {@link PlatformUnsupportedError}. The wrapper has the function's own arity, so a call
 * allocates nothing (no rest array) on the hot path.
 */
export function declare<F extends (...args: never[]) => unknown>(prototype: string): F {
  type Native = (...args: unknown[]) => unknown;
  let bound: Native | undefined;
  const native = (): Native => (bound ??= load().library.func(prototype) as unknown as Native);
  switch (arity(prototype)) {
    case 0:
      return (() => native()()) as unknown as F;
    case 1:
      return ((a: unknown) => native()(a)) as unknown as F;
    case 2:
      return ((a: unknown, b: unknown) => native()(a, b)) as unknown as F;
    case 3:
      return ((a: unknown, b: unknown, c: unknown) => native()(a, b, c)) as unknown as F;
    case 4:
      return ((a: unknown, b: unknown, c: unknown, d: unknown) => native()(a, b, c, d)) as unknown as F;
    case 5:
      return ((a: unknown, b: unknown, c: unknown, d: unknown, e: unknown) => native()(a, b, c, d, e)) as unknown as F;
    case 6:
      return ((a: unknown, b: unknown, c: unknown, d: unknown, e: unknown, f: unknown) => native()(a, b, c, d, e, f)) as unknown as F;
    default:
      return ((...args: unknown[]) => native()(...args)) as unknown as F;
  }
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
