import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '@x/testkit';
import { type SocketServer, createServer } from '../src/index.js';
import { closed, connectTo, openFdCount, patternBytes, readAll, readExactly, sha256 } from './helpers.js';

const HANDLER = join(__dirname, 'fixtures', 'behaviour-handler.js');

describe.each(['epoll', 'node:net'] as const)('createServer with transport %s', (transport) => {
  let server: SocketServer;
  let port: number;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'x-socket-transport-'));
    server = createServer({ handler: HANDLER, transport, highWaterMark: 256 * 1024, idleTimeoutMs: 2000 });
    port = (await server.listen()).port;
  });
  afterAll(async () => {
    await server.close(500);
    rmSync(dir, { recursive: true, force: true });
  });

  it('echoes 8 MiB byte for byte, and a half-close gets the rest and the end', async () => {
    const payload = patternBytes(8 * 1024 * 1024, 21);
    const client = await connectTo(port);
    const all = readAll(client);
    client.write('echo ');
    client.end(payload);
    expect(sha256(await all)).toBe(sha256(payload));
  });

  it('holds a slow reader back instead of buffering without bound', async () => {
    const payload = patternBytes(16 * 1024 * 1024, 22);
    const client = await connectTo(port);
    client.pause();
    client.write('echo ');
    client.write(payload);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await eventually(() => server.totals().readPauses > 0, 'a read pause in the counters', 1000);
    const received = readExactly(client, payload.length);
    client.resume();
    expect(sha256(await received)).toBe(sha256(payload));
    client.destroy();
  });

  it('sends a file in order with the writes around it', async () => {
    const content = patternBytes(3 * 1024 * 1024, 23);
    const path = join(dir, 'file.bin');
    writeFileSync(path, content);
    const client = await connectTo(port);
    const all = readAll(client);
    client.write(`file ${path}`);
    const received = await all;
    expect(received.subarray(0, 4).toString()).toBe('HEAD');
    expect(received.subarray(-4).toString()).toBe('TAIL');
    expect(sha256(received.subarray(4, -4))).toBe(sha256(content));
  });

  it('a malformed frame closes only its connection', async () => {
    const errorsBefore = server.totals().handlerErrors;
    const good = await connectTo(port);
    const bad = await connectTo(port);
    good.write('lines\n');
    bad.write('lines\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    bad.write(`${'x'.repeat(40)}\n`);
    await closed(bad);
    const reply = readExactly(good, 2);
    good.write('abcd\n');
    expect((await reply).toString()).toBe('4\n');
    await eventually(() => server.totals().handlerErrors === errorsBefore + 1, 'the handler error in the counters', 1000);
    good.destroy();
  });

  it('closes an idle connection after idleTimeoutMs', async () => {
    const client = await connectTo(port);
    const started = Date.now();
    await closed(client);
    // The server's clock starts at accept, a little before this thread sees the connection: allow for that.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - started).toBeLessThan(4000);
    // Reactor counters reach shared memory between loop turns (within maxWaitMs), not at the very close.
    await eventually(() => server.totals().idleClosed >= 1, 'the idle close in the counters', 1000);
  }, 10_000);
});

describe('transport selection', () => {
  it('node:net shuts down gracefully and leaves no descriptor', async () => {
    const before = openFdCount();
    const server = createServer({ handler: HANDLER, transport: 'node:net' });
    const { port } = await server.listen();
    const clients = await Promise.all(Array.from({ length: 5 }, () => connectTo(port)));
    const ends = clients.map((client) => readAll(client));
    // A connection still in the kernel's backlog when the listener closes is reset, not shut down gracefully.
    while (server.totals().accepted < clients.length) await new Promise((resolve) => setTimeout(resolve, 5));
    await server.close(1000);
    expect((await Promise.all(ends)).every((bytes) => bytes.length === 0)).toBe(true);
    clients.forEach((client) => client.destroy());
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(openFdCount()).toBeLessThanOrEqual(before);
  });

  it("'auto' picks the reactors where they can run", async () => {
    const server = createServer({ handler: HANDLER, transport: 'auto' });
    await server.listen();
    expect(server.reactorInfo()[0]!.cpu).toBeUndefined();
    expect(server.constructor.name).toBe('Server');
    await server.close(100);
  });

  it('off Linux the package still loads: auto serves with node:net, epoll refuses with a typed error', async () => {
    // A process that believes it runs on macOS: nothing may touch koffi before a reactor is asked for.
    const script = `
      Object.defineProperty(process, 'platform', { value: 'darwin' });
      const net = require('node:net');
      const socket = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))});
      (async () => {
        const out = { supported: socket.isSupported() };
        const server = socket.createServer({ handler: ${JSON.stringify(HANDLER)}, transport: 'auto' });
        const { port } = await server.listen();
        out.echo = await new Promise((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => c.end('echo hi'));
          let text = '';
          c.on('data', (d) => (text += d)).on('end', () => resolve(text));
        });
        await server.close(100);
        out.epoll = await socket.createServer({ handler: ${JSON.stringify(HANDLER)} }).listen().then(() => 'listened', (e) => e.code);
        console.log(JSON.stringify(out));
      })();`;
    const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], (error, out) => (error ? reject(error) : resolve({ stdout: out }))),
    );
    expect(JSON.parse(stdout)).toEqual({ supported: false, echo: 'hi', epoll: 'ERR_PLATFORM_UNSUPPORTED' });
  });

  it('refuses an unknown transport', () => {
    expect(() => createServer({ handler: HANDLER, transport: 'io_uring' as never })).toThrow(expect.objectContaining({ argument: 'options.transport' }));
  });
});
