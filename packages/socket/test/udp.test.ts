/**
 * UDP reactors against node:dgram peers: batched receive and send, IPv4, IPv6 and dual-stack, datagrams of 0 and
 * 65,507 bytes, truncation, a handler that throws, bounded sending, bad input, and a multi-thread server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { type Socket, createSocket } from 'node:dgram';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '@x/core';
import { SocketStateError, type UdpCounters, UdpPeer, UdpReactor, type UdpHandler, type UdpReactorOptions, createUdpServer } from '../src/index.js';
import { type LocalReactor, runHere, until } from './helpers.js';

const HANDLER = resolve(__dirname, 'fixtures', 'udp-handler.js');
const FAULTY = resolve(__dirname, 'fixtures', 'udp-faulty.js');

/** True where a network namespace with a rate-limited loopback can be made (root, unshare, tc with tbf). */
function canThrottleLoopback(): boolean {
  try {
    execFileSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && tc qdisc add dev lo root tbf rate 1mbit burst 32kbit latency 400ms'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('skipped: the throttled-loopback UDP test needs root, unshare(1) and tc(8) with tbf');
    return false;
  }
}

const itIf = (condition: boolean): jest.It => (condition ? it : it.skip);

/** A UDP reactor on the test's own thread (it yields between turns, so dgram peers still run). */
function startUdp(handler: UdpHandler, options: UdpReactorOptions = {}, host = '127.0.0.1'): LocalReactor<UdpReactor> {
  const reactor = new UdpReactor(handler, { maxWaitMs: 1, ...options });
  return runHere(reactor, reactor.bind(host, 0).port);
}

const echo: UdpHandler = { onMessage: (socket, bytes, from) => void socket.send(bytes, from) };

/** A dgram client bound to an ephemeral port; `replies` collects what comes back. */
async function client(type: 'udp4' | 'udp6' = 'udp4'): Promise<{ socket: Socket; replies: Buffer[]; close(): void }> {
  const socket = createSocket(type);
  const replies: Buffer[] = [];
  socket.on('message', (message: Buffer) => replies.push(message));
  await new Promise<void>((done) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', done));
  return { socket, replies, close: () => socket.close() };
}

/** A process serving the fixture UDP handler (tagging replies with its pid) on `port` (0: a new one). */
async function startMember(port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [resolve(__dirname, 'fixtures', 'udp-member.js'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  const bound = await new Promise<number>((done, fail) => {
    child.once('exit', (code) => fail(new Error(`member exited with ${code} before ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /ready (\d+)/.exec(output);
      if (match !== null) done(Number(match[1]));
    });
  });
  child.removeAllListeners('exit');
  return { child, port: bound };
}

/** From a new socket (a new flow), one datagram to `port`; resolves with the tag of whoever answered. */
async function askOnce(port: number): Promise<string> {
  const peer = await client();
  try {
    for (let attempt = 0; attempt < 20 && peer.replies.length === 0; attempt++) {
      await send(peer.socket, 'who', port);
      await new Promise((done) => setTimeout(done, 50));
    }
    if (peer.replies.length === 0) throw new Error('no member answered');
    return String(peer.replies[0]).split(':')[0]!;
  } finally {
    peer.close();
  }
}

function send(socket: Socket, bytes: Buffer | string, port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((done, fail) => socket.send(bytes, port, host, (error) => (error ? fail(error) : done())));
}

describe('UdpReactor', () => {
  it('echoes every datagram, taking several per receive call and sending the replies together', async () => {
    const server = startUdp(echo);
    const peer = await client();
    try {
      // Rounds of 50 sent at once: the kernel holds them until the reactor's next turn takes them in one call.
      for (let round = 0; round < 4; round++) {
        const sends = Array.from({ length: 50 }, (_, i) => send(peer.socket, `datagram ${round}:${i}`, server.port));
        await Promise.all(sends);
        await until(() => peer.replies.length === (round + 1) * 50, `round ${round}'s replies`);
      }
      const texts = peer.replies.map(String).sort();
      expect(texts).toEqual(Array.from({ length: 4 }, (_, r) => Array.from({ length: 50 }, (_, i) => `datagram ${r}:${i}`)).flat().sort());
      const counters = server.reactor.counters;
      expect(counters).toMatchObject({ received: 200, sent: 200, truncated: 0, sendDropped: 0, sendErrors: 0, handlerErrors: 0 });
      expect(counters.bytesSent).toBe(counters.bytesReceived);
      expect(counters.bytesReceived).toBe(texts.reduce((sum, text) => sum + Buffer.byteLength(text), 0));
      // Batching is the point: far fewer calls than datagrams, both ways.
      expect(counters.receiveCalls).toBeLessThan(100);
      expect(counters.sendCalls).toBeLessThan(100);
    } finally {
      peer.close();
      await server.stop();
    }
  });

  it('tells the handler who sent each datagram, and replies reach IPv6 and IPv4 peers of a dual-stack socket', async () => {
    const seen: UdpPeer[] = [];
    const server = startUdp(
      {
        onMessage(socket, bytes, from) {
          seen.push(from);
          socket.send(Buffer.from(`${from.family} ${from.toString()}`), from);
        },
      },
      {},
      '::',
    );
    const v6 = await client('udp6');
    const v4 = await client('udp4');
    try {
      await send(v6.socket, 'six', server.port, '::1');
      await send(v4.socket, 'four', server.port, '127.0.0.1');
      await until(() => v6.replies.length === 1 && v4.replies.length === 1, 'both replies');
      expect(String(v6.replies[0])).toBe(`IPv6 [::1]:${v6.socket.address().port}`);
      expect(String(v4.replies[0])).toBe(`IPv6 [::ffff:127.0.0.1]:${v4.socket.address().port}`);
      expect(seen.map((peer) => peer.toJSON())).toEqual([
        { host: '::1', port: v6.socket.address().port, family: 'IPv6' },
        { host: '::ffff:127.0.0.1', port: v4.socket.address().port, family: 'IPv6' },
      ]);
      // An IPv4 peer given to an IPv6 socket goes out as its mapped address.
      expect(server.reactor.counters.sent).toBe(2);
    } finally {
      v6.close();
      v4.close();
      await server.stop();
    }
  });

  it('delivers empty and 65,507-byte datagrams whole; past maxMessageSize a datagram is counted, never cut', async () => {
    const sizes: number[] = [];
    const record: UdpHandler = {
      onMessage(socket, bytes, from) {
        sizes.push(bytes.length);
        socket.send(bytes, from);
      },
    };
    const whole = startUdp(record);
    const peer = await client();
    try {
      const largest = Buffer.alloc(65_507, 7);
      await send(peer.socket, Buffer.alloc(0), whole.port);
      await send(peer.socket, largest, whole.port);
      await until(() => peer.replies.length === 2, 'both echoes');
      expect(sizes).toEqual([0, 65_507]);
      expect(peer.replies[1]!.equals(largest)).toBe(true);
    } finally {
      await whole.stop();
    }

    sizes.length = 0;
    peer.replies.length = 0;
    const small = startUdp(record, { maxMessageSize: 100 });
    try {
      await send(peer.socket, Buffer.alloc(101, 1), small.port);
      await send(peer.socket, Buffer.alloc(100, 2), small.port);
      await until(() => peer.replies.length === 1, 'the 100-byte echo');
      await until(() => small.reactor.counters.truncated === 1, 'the truncated count');
      expect(sizes).toEqual([100]);
      expect(small.reactor.counters).toMatchObject({ received: 1, truncated: 1 });
    } finally {
      peer.close();
      await small.stop();
    }
  });

  it('goes on after a handler throws, counts it and passes it to onError with the sender', async () => {
    const errors: [string, number][] = [];
    const server = startUdp({
      onMessage(socket, bytes, from) {
        if (String(bytes) === 'bad') throw new Error('bad datagram');
        socket.send(bytes, from);
      },
      onError: (_socket, error, from) => void errors.push([(error as Error).message, from!.port]),
    });
    const peer = await client();
    try {
      await send(peer.socket, 'bad', server.port);
      await send(peer.socket, 'good', server.port);
      await until(() => peer.replies.length === 1, 'the good echo');
      expect(String(peer.replies[0])).toBe('good');
      expect(errors).toEqual([['bad datagram', peer.socket.address().port]]);
      expect(server.reactor.counters.handlerErrors).toBe(1);
    } finally {
      peer.close();
      await server.stop();
    }
  });

  it('refuses datagrams it cannot send with typed errors', async () => {
    const outcomes: unknown[] = [];
    const server = startUdp({
      onMessage(socket, bytes, from) {
        for (const attempt of [() => socket.send(Buffer.alloc(65_508), from), () => socket.send(bytes, UdpPeer.of('::1', from.port))]) {
          try {
            outcomes.push(attempt());
          } catch (error) {
            outcomes.push(error);
          }
        }
        socket.send(Buffer.alloc(65_507), from);
      },
    });
    const peer = await client();
    try {
      await send(peer.socket, 'go', server.port);
      await until(() => peer.replies.length === 1, 'the largest datagram back');
      expect(outcomes.map((outcome) => (outcome as Error).name)).toEqual(['InvalidArgumentError', 'InvalidArgumentError']);
      expect(peer.replies[0]!.length).toBe(65_507);
      expect(server.reactor.counters).toMatchObject({ sent: 1, sendDropped: 0, sendErrors: 0 });
    } finally {
      peer.close();
      await server.stop();
    }
  });

  // Loopback hands a datagram over at once, so its sender never waits; a throttled loopback in a network
  // namespace of its own (root, `unshare -n`, tc) makes the kernel refuse, as a slow NIC would.
  itIf(canThrottleLoopback())('drops past its send queue while the kernel takes nothing, sends the rest once it can, then idles', async () => {
    const script = resolve(__dirname, 'fixtures', 'udp-throttled.js');
    const setup = 'ip link set lo up && tc qdisc add dev lo root tbf rate 1mbit burst 32kbit latency 400ms';
    const output = execFileSync('unshare', ['-n', 'sh', '-c', `${setup} && exec "${process.execPath}" "${script}"`], { encoding: 'utf8', timeout: 30_000 });
    const { accepted, received, idleTurns, counters } = JSON.parse(output) as { accepted: number; received: number; idleTurns: number; counters: UdpCounters };
    // 64 KiB of queue holds 65 datagrams of 1,000 bytes, plus the few the kernel took before refusing.
    expect(accepted).toBeGreaterThanOrEqual(65);
    expect(accepted).toBeLessThan(200);
    expect(counters.sendDropped).toBe(2000 - accepted);
    expect(counters.sent + counters.sendErrors).toBe(accepted);
    expect(received).toBeGreaterThan(0);
    // Once the queue is empty the reactor stops watching for writability: about one turn per maxWaitMs (10 ms),
    // not a turn per wake-up of an always-writable socket.
    expect(idleTurns).toBeLessThan(100);
  });

  it('cuts one buffer into datagrams in the kernel (UDP_SEGMENT), and sends from a timer through the bound socket', async () => {
    const peer = await client();
    const reactor = new UdpReactor({ onMessage: () => undefined }, { maxWaitMs: 1 });
    reactor.bind('127.0.0.1', 0);
    const running = reactor.run();
    try {
      const to = UdpPeer.of('127.0.0.1', peer.socket.address().port);
      // 54 segments of 1,200 bytes and a last one of 100, each numbered in its first byte.
      const buffer = Buffer.alloc(54 * 1200 + 100);
      for (let i = 0; i < 55; i++) buffer.fill(i, i * 1200, Math.min(buffer.length, (i + 1) * 1200));
      setTimeout(() => reactor.socket.sendSegments(buffer, 1200, to), 1);
      await until(() => peer.replies.length === 55, 'the 55 datagrams');
      expect(peer.replies.map((datagram) => [datagram[0], datagram.length])).toEqual(Array.from({ length: 55 }, (_, i) => [i, i < 54 ? 1200 : 100]));
      expect(peer.replies.every((datagram) => datagram.every((byte) => byte === datagram[0]))).toBe(true);
      await until(() => reactor.counters.sent === 55, 'the count');
      expect(reactor.counters).toMatchObject({ sent: 55, bytesSent: buffer.length, sendCalls: 1, sendErrors: 0 });
      // More segments than one send may make, a size of 0 or a fraction: typed errors, nothing queued.
      for (const [bytes, size] of [[Buffer.alloc(65 * 10), 10], [buffer, 0], [buffer, 1.5], [buffer, 2 ** 31]] as const) {
        expect(() => reactor.socket.sendSegments(bytes, size, to)).toThrow(InvalidArgumentError);
      }
      expect(() => reactor.socket.send(Buffer.from('x'), 'x' as unknown as UdpPeer)).toThrow(InvalidArgumentError);
    } finally {
      peer.close();
      reactor.stop();
      await running;
    }
  });

  it('with gro, cuts coalesced datagrams (here a UDP_SEGMENT send over loopback) back into the datagrams they were', async () => {
    const seen: Buffer[] = [];
    const receiver = startUdp({ onMessage: (_socket, bytes) => void seen.push(Buffer.from(bytes)) }, { gro: true });
    const sender = new UdpReactor({ onMessage: () => undefined }, { maxWaitMs: 1 });
    sender.bind('127.0.0.1', 0);
    const running = sender.run();
    try {
      const buffer = Buffer.alloc(54 * 1200 + 100);
      for (let i = 0; i < 55; i++) buffer.fill(i, i * 1200, Math.min(buffer.length, (i + 1) * 1200));
      for (let round = 0; round < 3; round++) sender.socket.sendSegments(buffer, 1200, UdpPeer.of('127.0.0.1', receiver.port));
      await until(() => seen.length === 165, 'the 165 datagrams');
      const expected = Array.from({ length: 55 }, (_, i) => [i, i < 54 ? 1200 : 100]);
      expect(seen.map((datagram) => [datagram[0], datagram.length])).toEqual([...expected, ...expected, ...expected]);
      expect(seen.every((datagram) => datagram.every((byte) => byte === datagram[0]))).toBe(true);
      expect(receiver.reactor.counters).toMatchObject({ received: 165, bytesReceived: 3 * buffer.length, truncated: 0 });
    } finally {
      sender.stop();
      await running;
      await receiver.stop();
    }
    expect(() => new UdpReactor(echo, { gro: true, maxMessageSize: 1500 })).toThrow(InvalidArgumentError);
    expect(() => new UdpReactor(echo, { gro: 'yes' as never })).toThrow(InvalidArgumentError);
  });

  it('sends the bytes of any view or ArrayBuffer, to a UdpPeer or { host, port }; anything else is a typed error', async () => {
    const outcomes: unknown[] = [];
    const server = startUdp({
      onMessage(socket, _bytes, from) {
        socket.send(new Uint16Array([0x4241, 0x4443]), from);
        const text = Buffer.from('xEFx');
        socket.send(new DataView(text.buffer, text.byteOffset + 1, 2), from);
        socket.send(new Uint8Array([71, 72]).buffer, from);
        socket.send(Buffer.from('IJ'), from.toJSON());
        const detached = new ArrayBuffer(8);
        const viewOfDetached = new Uint8Array(detached);
        (detached as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
        for (const [bytes, to] of [['text', from], [null, from], [Buffer.from('x'), undefined], [Buffer.from('x'), 5], [Buffer.from('x'), { host: 'localhost', port: 1 }], [Buffer.from('x'), { host: '127.0.0.1', port: 0 }], [detached, from], [viewOfDetached, from]] as const) {
          try {
            outcomes.push(socket.send(bytes as never, to as never));
          } catch (error) {
            outcomes.push(error);
          }
        }
      },
    });
    const peer = await client();
    try {
      await send(peer.socket, 'go', server.port);
      await until(() => peer.replies.length === 4, 'four replies');
      expect(peer.replies.map(String).sort()).toEqual(['ABCD', 'EF', 'GH', 'IJ']);
      expect(outcomes.map((outcome) => (outcome as Error).name)).toEqual(Array.from({ length: 8 }, () => 'InvalidArgumentError'));
      expect(server.reactor.counters).toMatchObject({ sent: 4, sendDropped: 0, sendErrors: 0 });
    } finally {
      peer.close();
      await server.stop();
    }
  });

  it('echoes the largest IPv6 datagram (65,527 bytes), larger than IPv4 allows', async () => {
    const server = startUdp(echo, {}, '::1');
    const peer = await client('udp6');
    try {
      const largest = Buffer.alloc(65_527, 9);
      await send(peer.socket, largest, server.port, '::1');
      await until(() => peer.replies.length === 1, 'the echo');
      expect(peer.replies[0]!.equals(largest)).toBe(true);
    } finally {
      peer.close();
      await server.stop();
    }
  });

  it('rejects bad options and peers with typed errors, and refuses use after stop', async () => {
    for (const options of [{ batchSize: 0 }, { batchSize: 1025 }, { batchSize: 1.5 }, { maxMessageSize: 0 }, { maxMessageSize: 65_536 }, { sendQueueBytes: 1000 }, { receiveBufferBytes: -1 }, { maxWaitMs: 2 ** 31 }, { sendQueueBytes: 2 ** 31 }, { nope: 1 }, null]) {
      expect(() => new UdpReactor(echo, options as UdpReactorOptions)).toThrow(InvalidArgumentError);
    }
    expect(() => new UdpReactor({} as UdpHandler)).toThrow(InvalidArgumentError);
    for (const [host, port] of [['example.com', 53], ['127.0.0.1', 65_536], ['127.0.0.1', -1], ['127.0.0.1', 2 ** 31], ['127.0.0.1', 1.5], ['1.2.3.4.5', 1], ['\ud800', 1], ['fe80::1%eth0', 1]] as const) {
      expect(() => UdpPeer.of(host, port)).toThrow(InvalidArgumentError);
    }
    expect(UdpPeer.of('10.1.2.3', 65_535).equals(UdpPeer.of('10.1.2.3', 65_535))).toBe(true);
    expect(UdpPeer.of('10.1.2.3', 1).equals(null as never)).toBe(false);
    expect(UdpPeer.of('10.1.2.3', 1).equals({ port: 1 } as never)).toBe(false);
    expect(UdpPeer.of('10.1.2.3', 1).equals(Object.create(UdpPeer.prototype) as UdpPeer)).toBe(false);
    expect(UdpPeer.of('10.1.2.3', 0).toString()).toBe('10.1.2.3:0');
    // A peer kept for later cannot be pointed elsewhere.
    const kept = UdpPeer.of('10.1.2.3', 53);
    expect(() => Object.assign(kept, { port: 1 })).toThrow(TypeError);
    expect(kept.port).toBe(53);
    expect(UdpPeer.of('fe80::1:2', 1).toString()).toBe('[fe80::1:2]:1');

    const reactor = new UdpReactor(echo);
    await expect(reactor.run()).rejects.toThrow(SocketStateError);
    reactor.bind('127.0.0.1', 0);
    expect(() => reactor.bind('127.0.0.1', 0)).toThrow(SocketStateError);
    reactor.stop();
    reactor.stop();
    await expect(reactor.run()).rejects.toThrow(SocketStateError);
  });
});

describe('createUdpServer', () => {
  it('spreads flows over its reactors (one SO_REUSEPORT group), counts them all and frees the port on close', async () => {
    const server = createUdpServer({ handler: HANDLER, handlerOptions: { tag: true }, reactors: 2 });
    const { port } = await server.listen();
    const peers = await Promise.all(Array.from({ length: 16 }, () => client()));
    try {
      await Promise.all(peers.map((peer, i) => send(peer.socket, `hello ${i}`, port)));
      await until(() => peers.every((peer) => peer.replies.length === 1), 'a reply to each of 16 peers');
      const servedBy = peers.map((peer, i) => {
        const [reactor, text] = String(peer.replies[0]).split(':');
        expect(text).toBe(`hello ${i}`);
        return reactor;
      });
      expect(new Set(servedBy)).toEqual(new Set(['r0', 'r1']));
      await until(() => server.totals().sent === 16, 'the counters to be published');
      const perReactor = server.reactorInfo().map((info) => info.counters.received);
      expect(perReactor.reduce((a, b) => a + b)).toBe(16);
      expect(perReactor).toEqual(['r0', 'r1'].map((id) => servedBy.filter((r) => r === id).length));
    } finally {
      peers.forEach((peer) => peer.close());
      await server.close();
    }
    // Closed for good: the port can be bound again by anyone.
    const again = await client();
    await new Promise<void>((done, fail) => {
      const socket = createSocket('udp4');
      socket.once('error', fail);
      socket.bind(port, '127.0.0.1', () => {
        socket.close();
        done();
      });
    });
    again.close();
  });

  // Several processes on one port, as a rolling restart runs them: the kernel spreads flows over every member's
  // sockets, and a member killed with SIGKILL leaves the group at once; the survivor answers everything after.
  it('shares a port with another process, and serves every flow alone once that process is SIGKILLed', async () => {
    const first = await startMember(0);
    const second = await startMember(first.port);
    try {
      const before = await Promise.all(Array.from({ length: 16 }, () => askOnce(first.port)));
      expect(new Set(before)).toEqual(new Set([`p${first.child.pid}`, `p${second.child.pid}`]));

      const exited = new Promise((done) => first.child.once('exit', done));
      first.child.kill('SIGKILL');
      await exited;
      const after = await Promise.all(Array.from({ length: 16 }, () => askOnce(first.port)));
      expect(after).toEqual(Array.from({ length: 16 }, () => `p${second.child.pid}`));
    } finally {
      first.child.kill('SIGKILL');
      second.child.kill('SIGTERM');
      await new Promise((done) => (second.child.exitCode === null ? second.child.once('exit', done) : done(undefined)));
    }
  });

  it('counts a rejected async onMessage and a throwing timer, gives them to onError, and goes on serving', async () => {
    const server = createUdpServer({ handler: FAULTY });
    const { port } = await server.listen();
    const peer = await client();
    try {
      await send(peer.socket, 'reject', port);
      await send(peer.socket, 'timer', port);
      await until(() => server.totals().handlerErrors === 2, 'both errors counted');
      // 'timer' itself was answered before its timer threw; 'hello' is answered after both errors.
      await send(peer.socket, 'hello', port);
      await until(() => peer.replies.length === 2, 'the reply after the errors');
      expect(String(peer.replies[1])).toBe('ok 2');
    } finally {
      peer.close();
      await server.close();
    }
  });

  // Threads share file descriptors: a reactor thread that ends without closing its socket would leave it in the
  // port's reuseport group, taking its share of the flows with nobody reading them.
  for (const [how, datagram] of [
    ['stuck in onMessage (terminated at close)', 'spin'],
    ['ended by process.exit() in its handler', 'exit'],
  ] as const) {
    it(`frees the port of a reactor ${how}`, async () => {
      const server = createUdpServer({ handler: FAULTY });
      const { port } = await server.listen();
      const peer = await client();
      await send(peer.socket, datagram, port);
      await new Promise((done) => setTimeout(done, 100));
      await server.close();
      peer.close();
      // Nothing of it is left bound: a plain socket gets the port (EADDRINUSE otherwise).
      await new Promise<void>((done, fail) => {
        const socket = createSocket('udp4');
        socket.once('error', fail);
        socket.bind(port, '127.0.0.1', () => socket.close(() => done()));
      });
    });
  }

  for (const how of ['exit', 'spin'] as const) {
    it(`frees the port of a reactor whose onListening ${how === 'exit' ? 'ends the thread' : 'never returns'}, and says it is not running`, async () => {
      const server = createUdpServer({ handler: resolve(__dirname, 'fixtures', 'udp-dies-listening.js'), handlerOptions: how });
      const { port } = await server.listen();
      if (how === 'exit') await until(() => server.reactorInfo()[0]!.running === false, 'the reactor to be seen ended');
      else expect(server.reactorInfo()[0]!.running).toBe(true);
      await server.close();
      expect(server.reactorInfo()[0]!.running).toBe(false);
      await new Promise<void>((done, fail) => {
        const socket = createSocket('udp4');
        socket.once('error', fail);
        socket.bind(port, '127.0.0.1', () => socket.close(() => done()));
      });
    });
  }

  it('close() ends a start whose handler module never finishes loading', async () => {
    const server = createUdpServer({ handler: resolve(__dirname, 'fixtures', 'udp-blocks-at-load.js') });
    const listening = server.listen();
    await new Promise((done) => setTimeout(done, 200));
    await server.close();
    await expect(listening).rejects.toThrow(SocketStateError);
  });

  it('leaks no file descriptor when binding fails', async () => {
    const open = (): number => readdirSync('/proc/self/fd').length;
    // Warm up the thread machinery once, so its own descriptors are not counted as leaks.
    const warm = createUdpServer({ handler: HANDLER });
    await warm.listen();
    await warm.close();
    const before = open();
    for (let i = 0; i < 5; i++) {
      const server = createUdpServer({ handler: HANDLER, host: '10.255.255.1' });
      await expect(server.listen()).rejects.toMatchObject({ code: 'ERR_SYSCALL' });
      await server.close();
    }
    expect(open()).toBe(before);
  });

  it('rejects bad options at once and a missing handler module at listen', async () => {
    expect(() => createUdpServer({ handler: HANDLER, reactors: 0 })).toThrow(InvalidArgumentError);
    expect(() => createUdpServer({ handler: HANDLER, batchSize: 2000 })).toThrow(InvalidArgumentError);
    expect(() => createUdpServer({ handler: HANDLER, steering: 'cpu-bpf' })).toThrow(InvalidArgumentError);
    expect(() => createUdpServer({ handler: HANDLER, unknown: true } as never)).toThrow(InvalidArgumentError);
    expect(() => createUdpServer({ handler: HANDLER, handlerOptions: { f: () => 1 } })).toThrow(InvalidArgumentError);
    for (const host of ['', '\ud800', 7, 'h'.repeat(254)]) {
      expect(() => createUdpServer({ handler: HANDLER, host } as never)).toThrow(expect.objectContaining({ argument: 'options.host' }));
    }
    const shapeless = createUdpServer({ handler: resolve(__dirname, 'fixtures', 'no-handler.js') });
    await expect(shapeless.listen()).rejects.toBeInstanceOf(InvalidArgumentError);
    await shapeless.close();
    const missing = createUdpServer({ handler: resolve(__dirname, 'fixtures', 'no-such-handler.js') });
    await expect(missing.listen()).rejects.toThrow(/no-such-handler/);
    await missing.close();
  });
});
