/**
 * Starts three servers on @x/socket and talks to them with plain node:net clients:
 *   1. a line protocol on two reactor threads (connections spread by SO_REUSEPORT);
 *   2. a static file server that sends a 64 MiB file with sendfile;
 *   3. a splice proxy in front of the file server, checked byte for byte;
 *   4. a UDP server on two reactor threads, answered datagram by datagram to 8 node:dgram sockets.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProxyServer, createServer, createUdpServer, isSupported } from '@x/socket';

function exchange(port: number, request: string, untilEnd = true): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!untilEnd && chunk.includes(10)) socket.end();
    });
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

function body(response: Buffer): Buffer {
  return response.subarray(response.indexOf('\r\n\r\n') + 4);
}

/** Waits (up to 2 s) until `done()`: reactors publish their counters when idle, or every few ms when busy. */
async function settled(done: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
}

/**
 * Sends `count` numbered datagrams from one dgram socket, 50 at a time, and resolves with the replies by number.
 * UDP may drop under load: a window not fully answered within 500 ms sends its missing datagrams again.
 */
async function udpRound(port: number, client: number, count: number): Promise<Map<number, string>> {
  const socket = createSocket('udp4');
  const replies = new Map<number, string>();
  socket.on('message', (reply) => {
    const text = reply.toString();
    replies.set(Number(/(\d+)$/.exec(text)?.[1]), text);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  try {
    for (let from = 0; from < count; from += 50) {
      const window = Array.from({ length: Math.min(50, count - from) }, (_, i) => from + i);
      for (let attempt = 0; attempt < 10 && window.some((n) => !replies.has(n)); attempt++) {
        for (const n of window.filter((k) => !replies.has(k))) socket.send(`client ${client} datagram ${n}`, port, '127.0.0.1');
        for (let waited = 0; waited < 500 && window.some((n) => !replies.has(n)); waited += 5) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  } finally {
    socket.close();
  }
  return replies;
}

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex').slice(0, 16);

async function main(): Promise<void> {
  if (!isSupported()) {
    console.log('@x/socket needs Linux with koffi; node:net is the portable path. Nothing to show here.');
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'socket-servers-'));
  // Ctrl-C: the servers go with the process, the 64 MiB file must not stay behind.
  process.once('SIGINT', () => {
    rmSync(root, { recursive: true, force: true });
    console.log('\nstopped early (Ctrl-C): the 64 MiB file is removed');
    process.exit(130);
  });
  const file = randomBytes(64 * 1024 * 1024);
  writeFileSync(join(root, 'blob.bin'), file);
  await using shout = createServer({ handler: join(__dirname, 'handlers', 'shout.js'), reactors: 2 });
  await using files = createServer({ handler: join(__dirname, 'handlers', 'static-files.js'), handlerOptions: { root } });
  try {
    const shoutPort = (await shout.listen()).port;
    const filesPort = (await files.listen()).port;
    await using proxy = createProxyServer({ target: { host: '127.0.0.1', port: filesPort } });
    const proxyPort = (await proxy.listen()).port;

    console.log('1. line protocol on two reactors');
    const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => exchange(shoutPort, `hello ${i}\n`, false)));
    replies.forEach((reply) => console.log(`   ${reply.toString().trim()}`));
    const tooLong = await exchange(shoutPort, `${'x'.repeat(2000)}\n`);
    console.log(`   a 2,000-byte line: connection closed after ${tooLong.length} bytes of reply (limit 1 KiB)`);
    // A reactor publishes its counters when it has nothing to do: wait for all seven connections to show.
    await settled(() => shout.totals().accepted >= 7);
    console.log(`   per reactor: ${shout.reactorInfo().map((r) => `#${r.id} accepted ${r.counters.accepted}`).join(', ')}`);

    console.log('2. static files with sendfile');
    let started = performance.now();
    const direct = body(await exchange(filesPort, 'GET /blob.bin HTTP/1.0\r\n\r\n'));
    const directMs = performance.now() - started;
    console.log(`   GET /blob.bin: ${direct.length.toLocaleString()} bytes in ${directMs.toFixed(0)} ms, sha ${sha(direct)} (file ${sha(file)})`);
    console.log(`   GET /../etc/passwd: ${(await exchange(filesPort, 'GET /../etc/passwd HTTP/1.0\r\n\r\n')).toString().split('\r\n')[0]}`);
    console.log(`   GET /missing: ${(await exchange(filesPort, 'GET /missing HTTP/1.0\r\n\r\n')).toString().split('\r\n')[0]}`);

    console.log('3. the same file through a splice proxy');
    started = performance.now();
    const proxied = body(await exchange(proxyPort, 'GET /blob.bin HTTP/1.0\r\n\r\n'));
    console.log(`   ${proxied.length.toLocaleString()} bytes in ${(performance.now() - started).toFixed(0)} ms, sha ${sha(proxied)}: ${proxied.equals(file) ? 'identical' : 'DIFFERENT'}`);
    await settled(() => proxy.totals().bytesRead >= proxied.length);
    const relayed = proxy.totals();
    // Spliced bytes go from socket to pipe to socket inside the kernel: no read() or write() call counts them.
    console.log(`   proxy: accepted ${relayed.accepted}, relayed ${relayed.bytesRead.toLocaleString()} bytes by splice (read calls ${relayed.readCalls}, write calls ${relayed.writeCalls})`);

    console.log('4. UDP on two reactors (recvmmsg / sendmmsg)');
    await using udp = createUdpServer({ handler: join(__dirname, 'handlers', 'udp-shout.js'), reactors: 2 });
    const udpPort = (await udp.listen()).port;
    const rounds = await Promise.all(Array.from({ length: 8 }, (_, client) => udpRound(udpPort, client, 1000)));
    const right = rounds.reduce((sum, replies, client) => sum + [...replies].filter(([n, text]) => text.endsWith(`CLIENT ${client} DATAGRAM ${n}`)).length, 0);
    console.log(`   ${right.toLocaleString()} of 8,000 datagrams answered, upper-cased, to the socket that sent them`);
    console.log(`   first reply: ${rounds[0]!.get(0)}`);
    await settled(() => udp.totals().sent >= 8000);
    const perReactor = udp.reactorInfo().map((r) => `#${r.id} ${r.counters.received} in ${r.counters.receiveCalls} recvmmsg calls`);
    console.log(`   per reactor: ${perReactor.join(', ')}`);
    if (!direct.equals(file) || !proxied.equals(file) || right !== 8000) process.exitCode = 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
