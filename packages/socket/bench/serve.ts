/**
 * One benchmark server per process, so its CPU time can be read from /proc and it can be pinned with taskset.
 * usage: node serve.js KIND [ARG]   prints "ready PORT", serves until SIGTERM.
 *   reactor N | reactor-sdk N | reactor-per-cpu N | bare | net | cluster N | splice-proxy TARGET_PORT | pipe-proxy TARGET_PORT | sendfile PATH | stream-file PATH
 *   | udp-reactor N | dgram | udp-gso-sender SINK_PORT | dgram-sender SINK_PORT  (senders print "ready 0")
 */
import cluster from 'node:cluster';
import { createSocket } from 'node:dgram';
import { createReadStream } from 'node:fs';
import { type Socket, connect, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { type SocketServer, UdpPeer, UdpReactor, createProxyServer, createServer, createUdpServer } from '@x/socket';
import { serveBareEcho } from './bare-echo.js';

const [kind = '', arg = ''] = process.argv.slice(2);

function ready(port: number): void {
  console.log(`ready ${port}`);
}

function serveNode(port: number, onConnection: (socket: Socket) => void): void {
  const server = createNetServer({ noDelay: true }, (socket) => {
    // Load generators exit without a goodbye; a reset is the end of a run, not a failure.
    socket.on('error', () => socket.destroy());
    onConnection(socket);
  }).listen(port, '127.0.0.1', () => {
    if (!cluster.isWorker) ready((server.address() as { port: number }).port);
    else process.send?.((server.address() as { port: number }).port);
  });
}

async function serveReactor(server: SocketServer): Promise<void> {
  ready((await server.listen()).port);
  process.once('SIGTERM', () => void server.close(100).then(() => process.exit(0)));
}

switch (kind) {
  case 'reactor':
    void serveReactor(createServer({ handler: join(__dirname, 'handlers', 'echo.js'), reactors: Number(arg) }));
    break;
  case 'reactor-sdk':
    // The same server with an OpenTelemetry SDK registered first (a reader collecting every second), as an
    // application that exports metrics runs it.
    void import('@x/testkit').then(({ registerMetricsSdk }) => {
      registerMetricsSdk(1_000);
      return serveReactor(createServer({ handler: join(__dirname, 'handlers', 'echo.js'), reactors: Number(arg) }));
    });
    break;
  case 'reactor-per-cpu':
    // The multi-core setup the package is built for: reactor i pinned to CPU i, and each connection handed to
    // the reactor on the CPU that receives its packets, so one core does both the softirq and the serving.
    void serveReactor(
      createServer({ handler: join(__dirname, 'handlers', 'echo.js'), reactors: Number(arg), pinCpus: true, steering: 'cpu-bpf' }),
    );
    break;
  case 'bare':
    // Blocks this process's only thread for good: SIGTERM's default action ends it.
    serveBareEcho(0, ready);
    break;
  case 'net':
    serveNode(0, (socket) => socket.on('data', (bytes) => socket.write(bytes)));
    break;
  case 'cluster':
    if (cluster.isPrimary) {
      // Workers share the primary's listening handle (round-robin on Linux), node's standard multi-core setup;
      // listen(0) in every worker gets the same port.
      let started = 0;
      for (let i = 0; i < Number(arg); i++) {
        cluster.fork().on('message', (port: number) => ++started === Number(arg) && ready(port));
      }
      process.once('SIGTERM', () => {
        for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
        process.exit(0);
      });
    } else {
      serveNode(0, (socket) => socket.on('data', (bytes) => socket.write(bytes)));
    }
    break;
  case 'splice-proxy':
    void serveReactor(createProxyServer({ target: { host: '127.0.0.1', port: Number(arg) } }));
    break;
  case 'pipe-proxy':
    serveNode(0, (socket) => {
      const upstream = connect(Number(arg), '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      socket.on('error', () => upstream.destroy());
      upstream.on('error', () => socket.destroy());
    });
    break;
  case 'sendfile':
    void serveReactor(createServer({ handler: join(__dirname, 'handlers', 'send-file.js'), handlerOptions: { path: arg } }));
    break;
  case 'stream-file':
    serveNode(0, (socket) => createReadStream(arg).pipe(socket));
    break;
  case 'udp-reactor': {
    const server = createUdpServer({ handler: join(__dirname, 'handlers', 'udp-echo.js'), reactors: Number(arg) });
    void server.listen().then(({ port }) => {
      ready(port);
      process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
    });
    break;
  }
  case 'dgram': {
    // What a node service writes today: one 'message' event per datagram, one send per reply.
    const socket = createSocket('udp4');
    socket.on('message', (bytes, from) => socket.send(bytes, from.port, from.address));
    socket.bind(0, '127.0.0.1', () => ready(socket.address().port));
    break;
  }
  case 'udp-gso-sender': {
    // 1,200-byte datagrams, 54 to a buffer the kernel cuts (UDP_SEGMENT), 16 buffers queued per event-loop turn
    // (1 MiB, the default send queue) and sent in one sendmmsg.
    const reactor = new UdpReactor({ onMessage: () => undefined });
    reactor.bind('127.0.0.1', 0);
    const to = UdpPeer.of('127.0.0.1', Number(arg));
    const buffer = Buffer.alloc(54 * 1200, 'x');
    const pump = (): void => {
      for (let i = 0; i < 16; i++) reactor.socket.sendSegments(buffer, 1200, to);
      setImmediate(pump);
    };
    pump();
    void reactor.run();
    ready(0);
    break;
  }
  case 'dgram-sender': {
    // A loop of socket.send with 64 datagrams in flight: each completion sends the next.
    const socket = createSocket('udp4');
    const datagram = Buffer.alloc(1200, 'x');
    const next = (): void => socket.send(datagram, Number(arg), '127.0.0.1', next);
    socket.bind(0, '127.0.0.1', () => {
      for (let i = 0; i < 64; i++) next();
      ready(0);
    });
    break;
  }
  default:
    console.error(`unknown server kind ${kind}`);
    process.exit(2);
}
