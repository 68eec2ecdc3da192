/** The servers' OpenTelemetry metrics, read back from the SDK's reader, with real clients on a real server. */
import { join } from 'node:path';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { type MetricsSdk, metricPoints as points, registerMetricsSdk } from '@x/testkit';
import { createSocket } from 'node:dgram';
import { createServer, createUdpServer } from '../src/index.js';
import { connectTo, patternBytes, readExactly } from './helpers.js';

const ECHO = join(__dirname, 'fixtures', 'echo-handler.js');

// One SDK for the file, as an application registers one: the instruments are made with the first server.
let sdk: MetricsSdk;
beforeAll(() => {
  sdk = registerMetricsSdk();
});
afterAll(async () => {
  await sdk.shutdown();
});

/** Values of an instrument by reactor, for one server port. */
function byReactor(from: ResourceMetrics, name: string, port: number): Record<string, unknown> {
  return Object.fromEntries(points(from, name).filter((p) => p.attributes['server.port'] === port).map((p) => [String(p.attributes['x.socket.reactor']), p.value]));
}

describe('server metrics (OpenTelemetry)', () => {
  it("reports a UDP server's datagrams and bytes per reactor, and keeps them after close", async () => {
    const server = createUdpServer({ handler: join(__dirname, 'fixtures', 'udp-handler.js'), reactors: 2 });
    const { port } = await server.listen();
    const peers = Array.from({ length: 8 }, () => createSocket('udp4'));
    let replies = 0;
    for (const peer of peers) peer.on('message', () => replies++);
    await Promise.all(peers.map((peer, i) => new Promise((done) => peer.send(`datagram ${i}`, port, '127.0.0.1', done))));
    for (let i = 0; i < 100 && (replies < 8 || server.totals().sent < 8); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    peers.forEach((peer) => peer.close());
    await server.close();
    const now = await sdk.collect();
    const sum = (values: Record<string, unknown>): number => Object.values(values).reduce((a: number, b) => a + (b as number), 0);
    const info = server.reactorInfo();
    expect(sum(byReactor(now, 'x.socket.udp.datagrams.received', port))).toBe(8);
    expect(sum(byReactor(now, 'x.socket.udp.datagrams.sent', port))).toBe(8);
    expect(byReactor(now, 'x.socket.udp.datagrams.received', port)).toEqual({ 0: info[0]!.counters.received, 1: info[1]!.counters.received });
    expect(sum(byReactor(now, 'x.socket.udp.bytes.received', port))).toBe(8 * 'datagram 0'.length);
    expect(sum(byReactor(now, 'x.socket.udp.handler.errors', port))).toBe(0);
  });

  it("reports each reactor's connections and bytes from its shared counters, and keeps a closed server's counts", async () => {
    const server = createServer({ handler: ECHO, reactors: 2 });
    const { port } = await server.listen();
    const clients = await Promise.all(Array.from({ length: 6 }, () => connectTo(port)));
    const payload = patternBytes(10_000);
    for (const client of clients) client.write(payload);
    await Promise.all(clients.map((client) => readExactly(client, payload.length)));
    // A reactor publishes its counters when it has nothing to do, or every few ms when busy.
    for (let i = 0; i < 100 && server.totals().bytesWritten < 60_000; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    let now = await sdk.collect();
    const info = server.reactorInfo();
    const sum = (values: Record<string, unknown>): number => Object.values(values).reduce((a: number, b) => a + (b as number), 0);
    expect(sum(byReactor(now, 'x.socket.connections.accepted', port))).toBe(6);
    expect(sum(byReactor(now, 'x.socket.connections.open', port))).toBe(6);
    expect(byReactor(now, 'x.socket.connections.accepted', port)).toEqual({ 0: info[0]!.counters.accepted, 1: info[1]!.counters.accepted });
    expect(sum(byReactor(now, 'x.socket.bytes.received', port))).toBe(60_000);
    expect(sum(byReactor(now, 'x.socket.bytes.sent', port))).toBe(60_000);
    clients.forEach((client) => client.destroy());
    for (let i = 0; i < 100 && server.totals().closed < 6; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    await server.close(1_000);
    now = await sdk.collect();
    expect(sum(byReactor(now, 'x.socket.connections.closed', port))).toBe(6);
    expect(sum(byReactor(now, 'x.socket.connections.accepted', port))).toBe(6);
    expect(byReactor(now, 'x.socket.connections.open', port)).toEqual({ 0: 0, 1: 0 });
  });

  it('reports the bytes queued for a peer that reads slower than the handler writes, and 0 once it has read them', async () => {
    const server = createServer({ handler: ECHO, reactors: 1 });
    const { port } = await server.listen();
    try {
      const client = await connectTo(port);
      // The client sends 8 MiB and reads nothing: the echoes fill both sockets' buffers and queue on the server.
      client.pause();
      const payload = patternBytes(8 * 1024 * 1024);
      client.write(payload);
      const queued = async (): Promise<number> => byReactor(await sdk.collect(), 'x.socket.write_queue.bytes', port)[0] as number;
      let seen = 0;
      for (let i = 0; i < 200 && seen === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        seen = (await queued()) ?? 0;
      }
      expect(seen).toBeGreaterThan(0);
      expect(seen).toBeLessThanOrEqual(payload.length);
      client.resume();
      await readExactly(client, payload.length);
      let left = seen;
      for (let i = 0; i < 200 && left !== 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        left = await queued();
      }
      expect(left).toBe(0);
      client.destroy();
    } finally {
      await server.close(1_000);
    }
  });
});
