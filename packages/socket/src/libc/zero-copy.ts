/**
 * splice through a pipe and sendfile: the kernel moves bytes between descriptors without copying them through
 * JavaScript memory.
 */
import { check, checkWouldBlock } from './check.js';
import { declare } from './library.js';

const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const F_SETPIPE_SZ = 1031;
const SPLICE_F_MOVE = 1;
const SPLICE_F_NONBLOCK = 2;

const pipe2 = declare<(fds: Buffer, flags: number) => number>('int pipe2(uint8_t *fds, int)');
const fcntl = declare<(fd: number, cmd: number, type: 'int', value: number) => number>('int fcntl(int, int, ...)');
const spliceCall = declare<(fdIn: number, offIn: null, fdOut: number, offOut: null, length: number, flags: number) => number>(
  'long splice(int, void *off_in, int, void *off_out, unsigned long, unsigned int)',
);
const sendfileCall = declare<(outFd: number, inFd: number, offset: Buffer, count: number) => number>(
  'long sendfile(int, int, uint8_t *offset, unsigned long)',
);

/** A non-blocking pipe, resized to `size` bytes when the kernel allows (pipe-max-size caps it). */
export function createPipe(size: number): { readFd: number; writeFd: number; size: number } {
  const fds = Buffer.alloc(8);
  check('pipe2', pipe2.native(fds, O_NONBLOCK | O_CLOEXEC));
  const readFd = fds.readInt32LE(0);
  const writeFd = fds.readInt32LE(4);
  // Unprivileged processes may be refused above /proc/sys/fs/pipe-max-size; the default 64 KiB pipe still works.
  const granted = fcntl.native(writeFd, F_SETPIPE_SZ, 'int', size);
  return { readFd, writeFd, size: granted > 0 ? granted : 65536 };
}

/** splice(2) without offsets (socket or pipe ends): bytes moved, 0 at end of stream, -1 on EAGAIN. */
export function spliceSome(fromFd: number, toFd: number, length: number): number {
  return checkWouldBlock('splice', spliceCall.native(fromFd, null, toFd, null, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK));
}

/**
 * sendfile(2) from `fileFd` at `offset` (an 8-byte buffer the kernel advances) to a socket: bytes sent, -1 on
 * EAGAIN.
 */
export function sendfileSome(socketFd: number, fileFd: number, offset: Buffer, count: number): number {
  return checkWouldBlock('sendfile', sendfileCall.native(socketFd, fileFd, offset, count));
}
