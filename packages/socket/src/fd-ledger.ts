/**
 * Which reactor owns which file descriptor, in shared memory: one slot per descriptor number, written only by the
 * thread that opens or closes that descriptor. Threads share descriptors, so a reactor thread that ends without
 * closing its own (terminated while a handler is stuck, or ended by a handler's `process.exit()`) leaves them
 * open for the whole process: a listener or UDP socket stays in its port's reuseport group and takes a share of
 * new connections or flows with nobody serving them, and its clients' connections stay open with nobody reading
 * them. The main thread closes what the ledger still gives to a thread that has ended.
 */
import { readFileSync } from 'node:fs';
import { closeFd } from './libc/sockets.js';

/** What a reactor records through: the descriptors it opens and closes. */
export interface FdOwner {
  /** `fd` was just opened by this reactor (it closes it through {@link close}). */
  opened(fd: number): void;
  /** Forgets `fd`, then closes it. */
  close(fd: number): void;
}

/** A reactor with no ledger (not under a server): closing is all there is. */
export const UNRECORDED: FdOwner = { opened: () => undefined, close: closeFd };

/**
 * Slots for descriptors 0 .. the soft RLIMIT_NOFILE when the ledger is made (at most 2^21: 4 MiB), 2 bytes each;
 * a descriptor past them is not recorded.
 */
export class FdLedger {
  private readonly owners: Uint16Array;

  /** A new ledger, or (with `buffer`) another thread's view of one. */
  constructor(buffer?: SharedArrayBuffer) {
    this.owners = new Uint16Array(buffer ?? new SharedArrayBuffer(2 * openFileLimit()));
  }

  get buffer(): SharedArrayBuffer {
    return this.owners.buffer as SharedArrayBuffer;
  }

  /** Records through this for reactor `id` (0-based; reactors are at most 1,024). */
  owner(id: number): FdOwner {
    const mark = id + 1;
    return {
      opened: (fd) => {
        if (fd < this.owners.length) Atomics.store(this.owners, fd, mark);
      },
      close: (fd) => {
        // Forgotten before it is closed: once closed, the number may be another reactor's at once.
        if (fd < this.owners.length && Atomics.load(this.owners, fd) === mark) Atomics.store(this.owners, fd, 0);
        closeFd(fd);
      },
    };
  }

  /** Closes every descriptor still recorded for reactor `id` (whose thread has ended); returns how many. */
  closeAll(id: number): number {
    const mark = id + 1;
    let closed = 0;
    for (let fd = 0; fd < this.owners.length; fd++) {
      if (this.owners[fd] !== mark) continue;
      // Still open: a reactor forgets a descriptor before closing it, so a dead thread cannot have closed it.
      this.owners[fd] = 0;
      closeFd(fd);
      closed++;
    }
    return closed;
  }
}

/** The soft limit on open files, which bounds descriptor numbers; 65,536 where /proc cannot say. */
function openFileLimit(): number {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (line !== null) return Math.min(Number(line[1]), 1 << 21);
  } catch {
    // Not Linux's /proc: the reactors do not run there either.
  }
  return 65_536;
}
