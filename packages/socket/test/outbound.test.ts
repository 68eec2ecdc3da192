import { randomBytes } from 'node:crypto';
import { IoVector, readSome } from '../src/libc/io.js';
import { Outbound } from '../src/outbound.js';
import { PipePool } from '../src/pipe-pool.js';

// A real non-blocking pipe of one page: the queue meets partial writes and a full kernel buffer many times.
describe('Outbound on a pipe that fills up', () => {
  const pool = new PipePool(4096);
  afterAll(() => pool.close());

  it('writes every byte once, in order, through partial writes, full buffers and reuse of its slots', () => {
    const pipe = pool.take();
    const outbound = new Outbound();
    const iov = new IoVector();
    const sent: Buffer[] = [];
    const received: Buffer[] = [];
    const scratch = Buffer.alloc(65536);
    const drain = (): void => {
      for (let got = readSome(pipe.readFd, scratch); got > 0; got = readSome(pipe.readFd, scratch)) received.push(Buffer.from(scratch.subarray(0, got)));
    };
    let blockedFlushes = 0;
    const tally = { written: 0, calls: 0 };
    for (let round = 0; round < 30; round++) {
      // Many small chunks and a few large ones per round: more than the pipe holds, so flushes block.
      for (let i = 0; i < 100; i++) {
        const chunk = randomBytes(i % 10 === 0 ? 700 : 1 + (i % 37));
        sent.push(chunk);
        outbound.push(chunk);
      }
      expect(outbound.bytes).toBeGreaterThan(0);
      for (;;) {
        if (!outbound.flush(pipe.writeFd, iov, tally)) break;
        blockedFlushes++;
        drain();
      }
      expect(outbound.isEmpty).toBe(true);
      expect(outbound.bytes).toBe(0);
    }
    drain();
    expect(blockedFlushes).toBeGreaterThan(30);
    expect(Buffer.concat(received).equals(Buffer.concat(sent))).toBe(true);
    expect(tally.written).toBe(Buffer.concat(sent).length);
    expect(tally.calls).toBeGreaterThan(blockedFlushes);
    pool.give(pipe, true);
  });
});
