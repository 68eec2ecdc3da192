import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isXError } from '@x/core';
import { eventually } from '@x/testkit';
import { type Connection, type Handler, LineDecoder, SocketStateError } from '../src/index.js';
import { getIntOption } from '../src/libc/sockets.js';
import { closed, connectTo, openFdCount, patternBytes, readAll, readExactly, sha256, startReactor } from './helpers.js';

const echo: Handler = { onData: (conn, bytes) => conn.write(bytes) };

describe('Reactor on loopback', () => {
  it('echoes a large message and a message written one byte at a time', async () => {
    const local = startReactor(echo);
    try {
      const big = patternBytes(8 * 1024 * 1024);
      const client = await connectTo(local.port);
      const received = readExactly(client, big.length);
      client.write(big);
      expect(sha256(await received)).toBe(sha256(big));

      const small = patternBytes(300, 7);
      const fragmented = readExactly(client, small.length);
      for (const byte of small) {
        client.write(Buffer.from([byte]));
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect((await fragmented).equals(small)).toBe(true);
      client.destroy();
    } finally {
      await local.stop();
    }
  });

  it('pauses reading while a slow peer lets the outbound queue pass the high-water mark, so memory stays bounded', async () => {
    let maxBuffered = 0;
    let drains = 0;
    const handler: Handler = {
      onData(conn, bytes) {
        conn.write(bytes);
        maxBuffered = Math.max(maxBuffered, conn.bufferedBytes);
      },
      onDrain: () => drains++,
    };
    const highWaterMark = 256 * 1024;
    const readBufferSize = 64 * 1024;
    const local = startReactor(handler, { highWaterMark, readBufferSize });
    try {
      const client = await connectTo(local.port);
      client.pause();
      const payload = patternBytes(32 * 1024 * 1024, 3);
      client.write(payload);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(local.reactor.counters.readPauses).toBeGreaterThan(0);
      // What the reactor holds is bounded by the mark plus one read, not by what the peer sent.
      expect(maxBuffered).toBeLessThanOrEqual(highWaterMark + readBufferSize);
      expect(local.reactor.counters.bytesRead).toBeLessThan(payload.length);
      const received = readExactly(client, payload.length);
      client.resume();
      expect(sha256(await received)).toBe(sha256(payload));
      expect(drains).toBeGreaterThan(0);
      client.destroy();
    } finally {
      await local.stop();
    }
  });

  it('replies queued as views of the read slab survive its wrap-around while their peer is not reading', async () => {
    // A 1 KiB read size makes the slab 8 KiB: the active connection's traffic wraps it dozens of times while the
    // stalled connection still holds queued views of it.
    const local = startReactor(echo, { readBufferSize: 1024, highWaterMark: 16 * 1024 });
    try {
      const stalled = await connectTo(local.port);
      stalled.pause();
      const held = patternBytes(32 * 1024 * 1024, 5);
      stalled.write(held);
      const active = await connectTo(local.port);
      await eventually(() => local.reactor.counters.readPauses > 0, 'the stalled connection to pause reading', 5000);
      const pieces = patternBytes(256 * 1024, 9);
      const echoed = readExactly(active, pieces.length);
      for (let at = 0; at < pieces.length; at += 100) {
        active.write(pieces.subarray(at, at + 100));
        if (at % 10_000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(sha256(await echoed)).toBe(sha256(pieces));
      const received = readExactly(stalled, held.length);
      stalled.resume();
      expect(sha256(await received)).toBe(sha256(held));
      active.destroy();
      stalled.destroy();
    } finally {
      await local.stop();
    }
  });

  it('bytes written from onData to other connections arrive intact when one turn reads more than the slab holds', async () => {
    // Four sources each relayed to their own sink: a turn reads up to 4 x 4 KiB while the slab holds 8 KiB, so
    // it wraps in the middle of turns while the sinks' replies are still queued.
    const opened: Connection[] = [];
    const relay: Handler = {
      onOpen: (conn) => void opened.push(conn),
      onData: (conn, bytes) => void opened[opened.indexOf(conn) + 1]!.write(bytes),
    };
    const local = startReactor(relay, { readBufferSize: 1024 });
    try {
      const pairs: { source: Socket; sink: Socket }[] = [];
      for (let i = 0; i < 4; i++) {
        const source = await connectTo(local.port);
        await eventually(() => opened.length === 2 * i + 1, 'the source to be accepted', 5000);
        const sink = await connectTo(local.port);
        await eventually(() => opened.length === 2 * i + 2, 'the sink to be accepted', 5000);
        pairs.push({ source, sink });
      }
      const payloads = pairs.map((_, i) => patternBytes(4 * 1024 * 1024, 11 + i));
      const received = pairs.map(({ sink }, i) => readExactly(sink, payloads[i]!.length));
      pairs.forEach(({ source }, i) => source.write(payloads[i]!));
      const hashes = (await Promise.all(received)).map(sha256);
      expect(hashes).toEqual(payloads.map(sha256));
      for (const { source, sink } of pairs) {
        source.destroy();
        sink.destroy();
      }
    } finally {
      await local.stop();
    }
  });

  it('half-close: the peer ends, the reactor sends what is queued and ends too', async () => {
    const local = startReactor({ onData: (conn, bytes) => conn.write(Buffer.from(bytes.toString().toUpperCase())) });
    try {
      const client = await connectTo(local.port);
      const all = readAll(client);
      client.end('hello');
      expect((await all).toString()).toBe('HELLO');
      await closed(client);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(local.reactor.connectionCount).toBe(0);
    } finally {
      await local.stop();
    }
  });

  it('keeps a half-open connection when onEnd does not end it, and closes after end()', async () => {
    let server: Connection | undefined;
    const local = startReactor({ onData: () => undefined, onEnd: (conn) => (server = conn) });
    try {
      const client = await connectTo(local.port);
      const all = readAll(client);
      client.end();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(server?.state).toBe('open');
      server!.write(Buffer.from('late reply'));
      server!.end();
      expect(() => server!.write(Buffer.from('x'))).toThrow(SocketStateError);
      expect((await all).toString()).toBe('late reply');
    } finally {
      await local.stop();
    }
  });

  it('closes idle connections with a TimeoutError and keeps busy ones', async () => {
    const reasons: unknown[] = [];
    const local = startReactor({ ...echo, onClose: (_conn, error) => reasons.push(error) }, { idleTimeoutMs: 150 });
    try {
      const idle = await connectTo(local.port);
      const busy = await connectTo(local.port);
      const ticker = setInterval(() => busy.write('.'), 30);
      await closed(idle);
      clearInterval(ticker);
      expect(busy.destroyed).toBe(false);
      expect(reasons).toHaveLength(1);
      expect(isXError(reasons[0], 'ERR_TIMEOUT')).toBe(true);
      expect(local.reactor.counters.idleClosed).toBe(1);
      busy.destroy();
    } finally {
      await local.stop();
    }
  });

  it('a handler that throws (here: a malformed frame) closes only its connection', async () => {
    const errors: unknown[] = [];
    const local = startReactor({
      onOpen: (conn) => (conn.data = new LineDecoder({ maxLineBytes: 16 })),
      onData: (conn, bytes) => {
        for (const line of (conn.data as LineDecoder).push(bytes)) conn.write(Buffer.from(`${line.length}\n`));
      },
      onClose: (_conn, error) => error !== undefined && errors.push(error),
    });
    try {
      const good = await connectTo(local.port);
      const bad = await connectTo(local.port);
      bad.write(Buffer.from('x'.repeat(40)));
      await closed(bad);
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' })]);
      const reply = readExactly(good, 2);
      good.write('abcd\n');
      expect((await reply).toString()).toBe('4\n');
      expect(local.reactor.counters.handlerErrors).toBe(1);
      good.destroy();
    } finally {
      await local.stop();
    }
  });

  it('end(bytes) after end() throws as write() after end() does, instead of dropping the bytes', async () => {
    let thrown: unknown;
    const local = startReactor({
      onData(conn) {
        conn.end(Buffer.from('bye'));
        try {
          conn.end(Buffer.from('lost'));
        } catch (error) {
          thrown = error;
        }
        conn.end();
      },
    });
    try {
      const client = await connectTo(local.port);
      const all = readAll(client);
      client.write('x');
      expect((await all).toString()).toBe('bye');
      expect(thrown).toBeInstanceOf(SocketStateError);
      client.destroy();
    } finally {
      await local.stop();
    }
  });

  it('write on a closed connection writes nothing and returns false', async () => {
    let server: Connection | undefined;
    const local = startReactor({ onOpen: (conn) => (server = conn), onData: () => undefined });
    try {
      const client = await connectTo(local.port);
      await new Promise((resolve) => setTimeout(resolve, 20));
      server!.close();
      await closed(client);
      expect(server!.isClosed).toBe(true);
      expect(server!.write(Buffer.from('x'))).toBe(false);
      expect(() => server!.write('text' as unknown as Buffer)).not.toThrow();
    } finally {
      await local.stop();
    }
  });

  it('refuses a write of something that is not bytes', async () => {
    let failure: unknown;
    const local = startReactor({
      onData: (conn) => {
        try {
          conn.write('text' as unknown as Buffer);
        } catch (error) {
          failure = error;
          conn.end();
        }
      },
    });
    try {
      const client = await connectTo(local.port);
      client.write('go');
      await closed(client);
      expect(failure).toEqual(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'bytes' }));
    } finally {
      await local.stop();
    }
  });

  it('sets the configured socket options on every accepted connection', async () => {
    const seen: Record<string, number>[] = [];
    const local = startReactor(
      {
        onOpen: (conn) => {
          const read = (name: Parameters<typeof getIntOption>[1]): number => getIntOption(conn.fd, name);
          seen.push({ nodelay: read('TCP_NODELAY'), keepalive: read('SO_KEEPALIVE'), idle: read('TCP_KEEPIDLE'), probes: read('TCP_KEEPCNT'), user: read('TCP_USER_TIMEOUT') });
          conn.end();
        },
        onData: () => undefined,
      },
      { socketOptions: { keepAliveIdleSeconds: 30, keepAliveProbes: 4, userTimeoutMs: 5000, noDelay: false } },
    );
    try {
      await closed(await connectTo(local.port));
      expect(seen).toEqual([{ nodelay: 0, keepalive: 1, idle: 30, probes: 4, user: 5000 }]);
    } finally {
      await local.stop();
    }
  });

  it('refuses unknown or out-of-range socket options without leaking a descriptor', () => {
    const before = openFdCount();
    expect(() => startReactor(echo, { socketOptions: { keepAliveIdleSeconds: -1 } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.socketOptions.keepAliveIdleSeconds' }),
    );
    expect(() => startReactor(echo, { socketOptions: { linger: 1 } as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => startReactor(echo, { highWaterMark: 0 })).toThrow(expect.objectContaining({ argument: 'options.highWaterMark' }));
    expect(openFdCount()).toBe(before);
  });

  describe('sendFile', () => {
    let dir: string;
    beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'x-socket-'))));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('sends a file (and a range of it) byte for byte, after bytes queued before it', async () => {
      const content = patternBytes(20 * 1024 * 1024, 11);
      const path = join(dir, 'file.bin');
      writeFileSync(path, content);
      const local = startReactor({
        onData: (conn, bytes) => {
          const [offset, length] = bytes.toString().split(' ').map(Number) as [number, number];
          conn.write(Buffer.from('HEAD'));
          conn.sendFile(path, offset, length);
          conn.end(Buffer.from('TAIL'));
        },
      });
      try {
        for (const [offset, length] of [
          [0, content.length],
          [12345, 1_000_000],
        ] as const) {
          const client = await connectTo(local.port);
          const all = readAll(client);
          client.write(`${offset} ${length}`);
          const received = await all;
          expect(received.subarray(0, 4).toString()).toBe('HEAD');
          expect(received.subarray(-4).toString()).toBe('TAIL');
          expect(sha256(received.subarray(4, -4))).toBe(sha256(content.subarray(offset, offset + length)));
        }
      } finally {
        await local.stop();
      }
    });

    it('counts the bytes that went out before a file that cannot be sent failed the connection', async () => {
      const closes: unknown[] = [];
      const local = startReactor({
        onData: (conn) => {
          conn.write(Buffer.from('HEAD!'));
          conn.sendFile(dir); // a directory: open(2) takes it, sendfile(2) refuses it (EINVAL)
        },
        onClose: (_conn, error) => closes.push(error),
      });
      try {
        const client = await connectTo(local.port);
        const got = readAll(client).catch(() => Buffer.alloc(0));
        client.write('go');
        await closed(client);
        expect(closes).toEqual([expect.objectContaining({ code: 'ERR_SYSCALL', syscall: 'sendfile' })]);
        expect(local.reactor.counters.bytesWritten).toBe(5);
        expect((await got).toString()).toBe('HEAD!');
      } finally {
        await local.stop();
      }
    });

    it('ends early when the file is shorter than the range, and refuses a bad range', async () => {
      const path = join(dir, 'short.bin');
      writeFileSync(path, 'short');
      const failures: unknown[] = [];
      const local = startReactor({
        onData: (conn) => {
          for (const bad of [() => conn.sendFile(path, -1), () => conn.sendFile(2 ** 31)]) {
            try {
              bad();
            } catch (error) {
              failures.push(error);
            }
          }
          conn.sendFile(path, 0, 1000);
          conn.end();
        },
      });
      try {
        const client = await connectTo(local.port);
        const all = readAll(client);
        client.write('go');
        expect((await all).toString()).toBe('short');
        expect(failures).toEqual([
          expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'offset' }),
          expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'file' }),
        ]);
      } finally {
        await local.stop();
      }
    });
  });

  it('proxy mode splices each connection to the target, both ways', async () => {
    const upstream: NetServer = createNetServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const target = { host: '127.0.0.1', port: (upstream.address() as { port: number }).port };
    const local = startReactor({ onData: () => undefined }, { proxyTo: target });
    try {
      const payload = patternBytes(16 * 1024 * 1024, 5);
      const client = await connectTo(local.port);
      const all = readAll(client);
      client.end(payload);
      expect(sha256(await all)).toBe(sha256(payload));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(local.reactor.connectionCount).toBe(0);
    } finally {
      await local.stop();
      upstream.close();
    }
  });

  it("gives a connection's own peer address after it closed: in onClose, and after an await when its fd number went to another client", async () => {
    const inOnClose: unknown[] = [];
    const afterAwait: unknown[] = [];
    const local = startReactor({
      onData: (conn) => {
        // Read only after the client left and a new client may hold the same fd number.
        setTimeout(() => afterAwait.push(conn.remoteAddress.port), 150);
      },
      onClose: (conn) => {
        try {
          inOnClose.push(conn.remoteAddress.port);
        } catch (error) {
          inOnClose.push(error);
        }
      },
    });
    try {
      const first = await connectTo(local.port);
      const firstPort = first.localPort;
      first.write('x');
      await new Promise((resolve) => setTimeout(resolve, 30));
      first.destroy();
      await new Promise((resolve) => setTimeout(resolve, 30));
      const second = await connectTo(local.port);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(inOnClose).toEqual([firstPort]);
      expect(afterAwait).toEqual([firstPort]);
      second.destroy();
    } finally {
      await local.stop();
    }
  });

  it('proxy mode closes the client when the target refuses', async () => {
    const local = startReactor({ onData: () => undefined }, { proxyTo: { host: '127.0.0.1', port: 1 } });
    try {
      const client = await connectTo(local.port);
      await closed(client);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(local.reactor.connectionCount).toBe(0);
      expect(local.reactor.counters.handlerErrors).toBe(1);
    } finally {
      await local.stop();
    }
  });

  it('proxy mode counts no error when a peer resets or a shutdown ends the pairs still open', async () => {
    const target = createNetServer((socket) => socket.pipe(socket));
    await new Promise<void>((done) => target.listen(0, '127.0.0.1', done));
    const local = startReactor({ onData: () => undefined }, { proxyTo: { host: '127.0.0.1', port: (target.address() as AddressInfo).port } });
    try {
      const reset = await connectTo(local.port);
      reset.write('ping');
      expect((await readExactly(reset, 4)).toString()).toBe('ping');
      reset.resetAndDestroy();
      const held = await Promise.all([connectTo(local.port), connectTo(local.port)]);
      for (const client of held) {
        client.write('ping');
        await readExactly(client, 4);
      }
      local.reactor.shutdown(0);
      await Promise.all(held.map((client) => closed(client)));
      expect(local.reactor.counters).toMatchObject({ closed: 3, handlerErrors: 0 });
    } finally {
      await local.stop();
      target.close();
    }
  });
});
