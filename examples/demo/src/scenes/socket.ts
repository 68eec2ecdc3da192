import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { type Socket, connect, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { LengthPrefixedDecoder, createProxyServer, createServer, createUdpServer, encodeLengthPrefixed, isSupported } from '@x/socket';
import type { Scene } from '../scene.js';

const CLIENTS = 40;
const ROUND_TRIPS = 200;

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends ROUND_TRIPS frames one after the other; returns the reactor id that answered. */
async function pingPong(port: number): Promise<number> {
  const socket = await open(port);
  const decoder = new LengthPrefixedDecoder();
  let reactor = -1;
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const payload = Buffer.from(`ping ${i}`);
    const reply = await new Promise<Buffer>((resolve) => {
      const onData = (chunk: Buffer): void => {
        const [frame] = decoder.push(chunk);
        if (frame === undefined) return;
        socket.off('data', onData);
        resolve(frame);
      };
      socket.on('data', onData);
      socket.write(encodeLengthPrefixed(payload));
    });
    if (!reply.subarray(1).equals(payload)) throw new Error('echo mismatch');
    reactor = reply[0]!;
  }
  socket.destroy();
  return reactor;
}

/**
 * One dgram socket sends `count` numbered datagrams, 20 at a time (a window not answered within 300 ms is sent
 * again: UDP may drop); returns how many came back intact and the reactor ids that answered.
 */
async function datagrams(port: number, count: number): Promise<{ intact: number; reactors: Set<number> }> {
  const socket = createSocket('udp4');
  const answered = new Set<number>();
  const reactors = new Set<number>();
  socket.on('message', (reply: Buffer) => {
    const n = Number(reply.subarray(1).toString().slice('datagram '.length));
    if (reply.subarray(1).toString() === `datagram ${n}`) answered.add(n);
    reactors.add(reply[0]!);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  for (let from = 0; from < count; from += 20) {
    const window = Array.from({ length: 20 }, (_, i) => from + i);
    for (let attempt = 0; attempt < 10 && window.some((n) => !answered.has(n)); attempt++) {
      for (const n of window.filter((k) => !answered.has(k))) socket.send(`datagram ${n}`, port, '127.0.0.1');
      for (let waited = 0; waited < 300 && window.some((n) => !answered.has(n)); waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
  socket.close();
  return { intact: answered.size, reactors };
}

export const socketScene: Scene = {
  title: '@x/socket — two epoll reactors through koffi, a splice proxy, and UDP in batches',
  async run(log) {
    if (!isSupported()) {
      log('skipped: the reactor needs Linux and koffi (node:net is the portable path)');
      return;
    }
    await using server = createServer({ handler: join(__dirname, '..', 'handlers', 'frame-echo.js'), reactors: 2 });
    const { port } = await server.listen();
    const reactors = await Promise.all(Array.from({ length: CLIENTS }, () => pingPong(port)));
    const served = [0, 1].map((id) => reactors.filter((r) => r === id).length);
    log(`${CLIENTS} clients × ${ROUND_TRIPS} framed round trips on port ${port}: reactor 0 served ${served[0]}, reactor 1 served ${served[1]} (SO_REUSEPORT)`);
    const totals = server.totals();
    // System calls, as the reactors last published them (between turns, when idle): the last few may not be in yet.
    log(`counters from shared memory: ${totals.readCalls.toLocaleString()} read and ${totals.writeCalls.toLocaleString()} write system calls for ${(CLIENTS * ROUND_TRIPS).toLocaleString()} round trips (as last published), ${totals.turns.toLocaleString()} loop turns`);

    const received = createHash('sha256');
    let bytes = 0;
    const sink = createNetServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        received.update(chunk);
        bytes += chunk.length;
      });
      socket.on('end', () => socket.end());
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    try {
      await using proxy = createProxyServer({ target: { host: '127.0.0.1', port: (sink.address() as { port: number }).port } });
      const proxyPort = (await proxy.listen()).port;
      const payload = randomBytes(64 * 1024 * 1024);
      const started = performance.now();
      const client = await open(proxyPort);
      await new Promise<void>((resolve) => {
        client.on('close', () => resolve());
        client.resume();
        client.end(payload);
      });
      const ms = performance.now() - started;
      const same = received.digest('hex') === createHash('sha256').update(payload).digest('hex');
      log(`64 MiB through the splice proxy in ${ms.toFixed(0)} ms, ${bytes.toLocaleString()} bytes arrived, hash ${same ? 'identical' : 'DIFFERENT'}`);
      if (!same) throw new Error('proxy corrupted the stream');
    } finally {
      sink.close();
    }

    await using udp = createUdpServer({ handler: join(__dirname, '..', 'handlers', 'udp-echo.js'), reactors: 2 });
    const udpPort = (await udp.listen()).port;
    const results = await Promise.all(Array.from({ length: 16 }, () => datagrams(udpPort, 200)));
    const intact = results.reduce((sum, r) => sum + r.intact, 0);
    const byReactor = [0, 1].map((id) => results.filter((r) => r.reactors.has(id)).length);
    for (let i = 0; i < 100 && udp.totals().sent < intact; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const counts = udp.totals();
    log(
      `UDP: ${intact.toLocaleString()} of 3,200 datagrams from 16 sockets echoed (reactor 0 served ${byReactor[0]} sockets, reactor 1 ${byReactor[1]}), ` +
        `taken in ${counts.receiveCalls.toLocaleString()} recvmmsg and answered in ${counts.sendCalls.toLocaleString()} sendmmsg calls`,
    );
    if (intact !== 3200) throw new Error('UDP datagrams went unanswered');
  },
};
