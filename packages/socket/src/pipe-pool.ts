/** A reactor's spare pipes for splice: creating and resizing a pipe costs three system calls, reuse costs none. */
import { type FdOwner, UNRECORDED } from './fd-ledger.js';
import { createPipe } from './libc/zero-copy.js';

export interface Pipe {
  readFd: number;
  writeFd: number;
  size: number;
}

export class PipePool {
  private readonly spare: Pipe[] = [];

  constructor(
    private readonly pipeSize: number,
    private readonly fds: FdOwner = UNRECORDED,
    private readonly maxSpare = 64,
  ) {}

  take(): Pipe {
    const spare = this.spare.pop();
    if (spare !== undefined) return spare;
    const pipe = createPipe(this.pipeSize);
    this.fds.opened(pipe.readFd);
    this.fds.opened(pipe.writeFd);
    return pipe;
  }

  /** Returns an empty pipe to the pool; a pipe with bytes left in it is closed instead (they belong to nobody). */
  give(pipe: Pipe, empty: boolean): void {
    if (empty && this.spare.length < this.maxSpare) {
      this.spare.push(pipe);
      return;
    }
    this.fds.close(pipe.readFd);
    this.fds.close(pipe.writeFd);
  }

  close(): void {
    for (const pipe of this.spare.splice(0)) this.give(pipe, false);
  }
}
