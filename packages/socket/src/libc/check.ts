/** Turns libc's "-1 and errno" convention into thrown {@link SyscallError}s. */
import { SyscallError } from '../errors.js';
import { lastErrno } from './library.js';

export const EINTR = 4;
export const EAGAIN = 11;
export const EINPROGRESS = 115;

/** Returns `result`, or throws the call's errno when it is negative. */
export function check(syscall: string, result: number): number {
  if (result < 0) throw new SyscallError(syscall, lastErrno());
  return result;
}

/**
 * For non-blocking calls: the result when it is not negative, `-1` when the call would block (EAGAIN), and a
 * thrown error for any other errno.
 */
export function checkWouldBlock(syscall: string, result: number): number {
  if (result >= 0) return result;
  const errno = lastErrno();
  if (errno === EAGAIN || errno === EINTR) return -1;
  throw new SyscallError(syscall, errno);
}
