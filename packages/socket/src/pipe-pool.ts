/** A reactor's spare pipes for splice: creating and resizing a pipe costs three system calls, reuse costs none. */
import { closeFd } from './libc/sockets.js';
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
    private readonly maxSpare = 64,
  ) {}

  take(): Pipe {
    return this.spare.pop() ?? createPipe(this.pipeSize);
  }

  /** Returns an empty pipe to the pool; a pipe with bytes left in it is closed instead (they belong to nobody). */
  give(pipe: Pipe, empty: boolean): void {
    if (empty && this.spare.length < this.maxSpare) {
      this.spare.push(pipe);
      return;
    }
    closeFd(pipe.readFd);
    closeFd(pipe.writeFd);
  }

  close(): void {
    for (const pipe of this.spare.splice(0)) this.give(pipe, false);
  }
}
