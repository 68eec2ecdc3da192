/**
 * The package's failure vocabulary. Every failing system call becomes a {@link SyscallError} carrying the call and
 * the errno name, so callers branch on `error.errno === 'ECONNRESET'` instead of parsing text.
 */
import { constants } from 'node:os';
import { XError } from '@x/core';

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/** The symbolic name of an errno value (`11` → `EAGAIN`), or `E<number>` when the platform does not name it. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/** A system call failed. */
export class SyscallError extends XError<'ERR_SYSCALL'> {
  /** Symbolic errno, e.g. `EADDRINUSE`. */
  readonly errno: string;

  constructor(
    /** The call that failed, e.g. `bind`. */
    readonly syscall: string,
    /** The numeric errno. */
    readonly errnoValue: number,
    detail?: string,
  ) {
    const name = errnoName(errnoValue);
    super('ERR_SYSCALL', `${syscall} failed: ${name}${detail === undefined ? '' : ` (${detail})`}`);
    this.errno = name;
  }
}

/** The reactor cannot run here: not Linux, or koffi / libc could not be loaded. Use node:net instead. */
export class PlatformUnsupportedError extends XError<'ERR_PLATFORM_UNSUPPORTED'> {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('ERR_PLATFORM_UNSUPPORTED', `@x/socket needs Linux and koffi: ${reason}; node:net is the portable alternative`, options);
  }
}

/** What a frame decoder found wrong. */
export type FrameErrorCode = 'ERR_FRAME_TOO_LARGE' | 'ERR_FRAME_MALFORMED' | 'ERR_FRAME_TRUNCATED';

/**
 * A frame decoder met bytes that break its format, a frame above its size limit, or (at `end()`) a stream that
 * stopped inside a frame.
 */
export class FrameError extends XError<FrameErrorCode> {
  constructor(code: FrameErrorCode, message: string) {
    super(code, message);
  }
}

/** A server or reactor was used in a state that does not allow it (listen twice, write after close). */
export class SocketStateError extends XError<'ERR_SOCKET_STATE'> {
  constructor(message: string) {
    super('ERR_SOCKET_STATE', message);
  }
}
