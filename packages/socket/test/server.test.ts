import { execFile, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { type Server as NetServer, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '@x/core';
import { type SocketServer, createProxyServer, createServer } from '../src/index.js';
import { closed, connectTo, openFdCount, patternBytes, readAll, readExactly, until } from './helpers.js';

const ECHO = join(__dirname, 'fixtures', 'echo-handler.js');

async function withServer<T>(server: SocketServer, body: (port: number) => Promise<T>): Promise<T> {
  const { port } = await server.listen();
  try {
    return await body(port);
  } finally {
    await server.close(1000);
  }
}

describe('createServer (reactors on worker threads)', () => {
  it('spreads connections over the reactors of one SO_REUSEPORT group and counts them per reactor', async () => {
    const server = createServer({ handler: ECHO, handlerOptions: { announce: true }, reactors: 2 });
    await withServer(server, async (port) => {
      const seen = new Map<string, number>();
      for (let i = 0; i < 100; i++) {
        const client = await connectTo(port);
        const id = (await readExactly(client, 3)).toString().trim();
        seen.set(id, (seen.get(id) ?? 0) + 1);
        client.destroy();
      }
      expect([...seen.keys()].sort()).toEqual(['r0', 'r1']);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const info = server.reactorInfo();
      expect(info.map((reactor) => reactor.counters.accepted)).toEqual([seen.get('r0'), seen.get('r1')]);
      expect(server.totals().accepted).toBe(100);
    });
  });

  it('leaks no file descriptor over 10,000 connect/disconnect cycles', async () => {
    const before = openFdCount();
    const server = createServer({ handler: ECHO, reactors: 2 });
    await withServer(server, async (port) => {
      const cycle = async (): Promise<void> => {
        const client = await connectTo(port);
        const echoed = readExactly(client, 4);
        client.write('ping');
        await echoed;
        client.end();
        await closed(client);
      };
      const workers = Array.from({ length: 20 }, async () => {
        for (let i = 0; i < 500; i++) await cycle();
      });
      await Promise.all(workers);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const totals = server.totals();
      expect(totals.accepted).toBe(10_000);
      expect(totals.closed).toBe(10_000);
      expect(totals.open).toBe(0);
    });
    expect(openFdCount()).toBeLessThanOrEqual(before);
  }, 120_000);

  it('shuts down gracefully: clients see the end of their stream, threads exit, nothing stays open', async () => {
    const before = openFdCount();
    const server = createServer({ handler: ECHO, reactors: 2 });
    const { port } = await server.listen();
    const clients = await Promise.all(Array.from({ length: 10 }, () => connectTo(port)));
    const ends = clients.map((client) => readAll(client));
    await server.close(2000);
    expect((await Promise.all(ends)).every((bytes) => bytes.length === 0)).toBe(true);
    clients.forEach((client) => client.destroy());
    await expect(connectTo(port)).rejects.toThrow(/ECONNREFUSED/);
    expect(openFdCount()).toBeLessThanOrEqual(before);
    await expect(server.close()).resolves.toBeUndefined();
  });

  it('close() while listen() is starting reactors stops them all: listen() rejects, nothing serves, the threads end', async () => {
    const server = createServer({ handler: ECHO, reactors: 4 });
    const listening = server.listen();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await server.close(100);
    await expect(listening).rejects.toMatchObject({ code: 'ERR_SOCKET_STATE' });
    // Every reactor that had started is stopped: its port refuses.
    const port = (server as unknown as { bound?: { port: number } }).bound?.port;
    if (port !== undefined) await expect(connectTo(port)).rejects.toThrow(/ECONNREFUSED/);
    await expect(server.close()).resolves.toBeUndefined();
  });

  it('takes a file: URL given as text for the handler module', async () => {
    const server = createServer({ handler: pathToFileURL(ECHO).href });
    const { port } = await server.listen();
    const client = await connectTo(port);
    const echoed = readExactly(client, 2);
    client.write('hi');
    expect((await echoed).toString()).toBe('hi');
    client.destroy();
    await server.close();
  });

  it('rejects listen() with the cause when the handler module is missing or exports no handler', async () => {
    const before = openFdCount();
    await expect(createServer({ handler: join(__dirname, 'fixtures', 'nope.js') }).listen()).rejects.toThrow(/Cannot find module/);
    await expect(createServer({ handler: join(__dirname, 'fixtures', 'no-handler.js') }).listen()).rejects.toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/exports `handler`/) }));
    expect(openFdCount()).toBeLessThanOrEqual(before);
  });

  it('rejects listen() with a typed error when the port is taken by a non-reuseport socket', async () => {
    const blocker: NetServer = createNetServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as { port: number }).port;
      await expect(createServer({ handler: ECHO, port }).listen()).rejects.toEqual(
        expect.objectContaining({ code: 'ERR_SYSCALL', syscall: 'bind', errno: 'EADDRINUSE' }),
      );
    } finally {
      blocker.close();
    }
  });

  it('validates options with typed errors', () => {
    expect(() => createServer({ handler: ECHO, reactors: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.reactors' }));
    expect(() => createServer({ handler: ECHO, pinCpus: [] })).toThrow(expect.objectContaining({ argument: 'options.pinCpus' }));
    expect(() => createServer({ handler: ECHO, port: 65536 })).toThrow(expect.objectContaining({ argument: 'options.port' }));
    expect(() => createServer({ handler: ECHO, colour: 'red' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => createProxyServer({ target: { host: '127.0.0.1', port: 0 } })).toThrow(expect.objectContaining({ argument: 'options.target.port' }));
    expect(() => createServer({ handler: ECHO }).address).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_STATE' }));
  });

  it.each(['epoll', 'node:net'] as const)('refuses bad reactor options from createServer itself, as InvalidArgumentError (%s)', (transport) => {
    const bad: [string, Record<string, unknown>][] = [
      ['options.highWaterMark', { highWaterMark: 2 ** 53 }],
      ['options.readBufferSize', { readBufferSize: 2 ** 31 }],
      ['options.idleTimeoutMs', { idleTimeoutMs: -1 }],
      ['options.backlog', { backlog: -1 }],
      ['options.backlog', { backlog: Number.NaN }],
      ['options.socketOptions', { socketOptions: null }],
      ['options.socketOptions.noDelay', { socketOptions: { noDelay: 'yes' } }],
      ['options.socketOptions.keepAliveProbes', { socketOptions: { keepAliveIdleSeconds: 10, keepAliveProbes: 128 } }],
      ['options.handlerOptions', { handlerOptions: { onReady: () => undefined } }],
      ['options.host', { host: '' }],
      ['options.host', { host: '\ud800' }],
      ['options.host', { host: 123 }],
      ['options.port', { port: 2 ** 31 }],
    ];
    for (const [argument, options] of bad) {
      let error: unknown;
      try {
        createServer({ handler: ECHO, transport, ...options });
      } catch (e) {
        error = e;
      }
      expect({ argument, isClass: error instanceof InvalidArgumentError, thrown: (error as { argument?: string } | undefined)?.argument }).toEqual({ argument, isClass: true, thrown: argument });
    }
    expect(() => createProxyServer({ target: { host: '127.0.0.1', port: 1 }, connectTimeoutMs: -1 })).toThrow(InvalidArgumentError);
  });

  it('pins reactors to CPUs and reports them', async () => {
    const server = createServer({ handler: ECHO, reactors: 2, pinCpus: [0], steering: 'incoming-cpu' });
    await withServer(server, async (port) => {
      expect(server.reactorInfo().map((reactor) => reactor.cpu)).toEqual([0, 0]);
      const client = await connectTo(port);
      const echoed = readExactly(client, 2);
      client.write('ok');
      expect((await echoed).toString()).toBe('ok');
      client.destroy();
    });
  });
});

/** Connects from a process pinned to `cpu` and returns the reactor's announcement ("r0", "r1"). */
function announcementFromCpu(port: number, cpu: number): Promise<string> {
  const script = `const s = require('net').connect(${port}, '127.0.0.1'); s.once('data', (d) => { process.stdout.write(String(d).trim()); s.destroy(); });`;
  return new Promise((resolve, reject) =>
    execFile('taskset', ['-c', String(cpu), process.execPath, '-e', script], (error, stdout) => (error ? reject(error) : resolve(stdout))),
  );
}

const FAULTY = join(__dirname, 'fixtures', 'faulty-handler.js');

/** Resolves once a plain (non-reuseport) listener gets `port`: nothing of ours holds it any more. */
function portIsFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const plain = createNetServer();
    plain.once('error', reject);
    plain.listen(port, '127.0.0.1', () => plain.close(() => resolve()));
  });
}

async function ask(port: number, text: string): Promise<string> {
  const client = await connectTo(port);
  client.write(text);
  const reply = (await readExactly(client, 2)).toString();
  client.destroy();
  return reply;
}

// Threads share file descriptors: a reactor thread that ends without closing its own would leave its listener in
// the port's reuseport group, taking its share of new connections with nobody accepting them, and its clients'
// connections open with nobody reading them.
describe('createServer when a handler takes its thread down', () => {
  for (const [how, text] of [
    ['is stuck in onData (terminated at close)', 'spin'],
    ['ends it with process.exit()', 'exit'],
  ] as const) {
    it(`closes every descriptor of a reactor whose handler ${how}: its client sees the close, the port is free`, async () => {
      const warm = createServer({ handler: ECHO });
      await warm.listen();
      await warm.close(0);
      const before = openFdCount();
      const server = createServer({ handler: FAULTY });
      const { port } = await server.listen();
      const client = await connectTo(port);
      const clientClosed = closed(client);
      client.on('error', () => undefined);
      client.write('hello');
      expect((await readExactly(client, 2)).toString()).toBe('ok');
      // Published between turns: a thread that dies in mid-turn takes that turn's counts with it.
      await until(() => server.totals().open === 1, 'the connection counted');
      client.write(text);
      if (how.startsWith('ends')) await until(() => server.reactorInfo()[0]!.running === false, 'the reactor to be seen ended');
      else {
        await new Promise((done) => setTimeout(done, 100));
        expect(server.reactorInfo()[0]!.running).toBe(true);
      }
      await server.close(0);
      expect(server.reactorInfo()[0]!.running).toBe(false);
      await clientClosed;
      await portIsFree(port);
      expect(openFdCount()).toBeLessThanOrEqual(before);
      // What the thread served was closed for it: the counters say so too (they froze with the thread before).
      expect(server.totals()).toMatchObject({ accepted: 1, open: 0, closed: 1, queuedBytes: 0 });
    });
  }

  it("fails a connection whose async onData rejects as a throw would: counted, closed, the others served", async () => {
    const server = createServer({ handler: FAULTY });
    await withServer(server, async (port) => {
      const failing = await connectTo(port);
      failing.write('async');
      await closed(failing);
      expect(await ask(port, 'hello')).toBe('ok');
      await until(() => server.totals().handlerErrors === 1, 'the rejection counted');
    });
  });

  it('close(graceMs) past 2^31-1 ms waits for the connections instead of ending the threads at once', async () => {
    const server = createServer({ handler: FAULTY });
    const { port } = await server.listen();
    const client = await connectTo(port);
    client.write('first');
    expect((await readExactly(client, 2)).toString()).toBe('ok');
    let closedAt: number | undefined;
    const closing = server.close(2 ** 31).then(() => (closedAt = Date.now()));
    await new Promise((done) => setTimeout(done, 500));
    // Still served through the shutdown (the handler keeps its connections open).
    client.write('again');
    expect((await readExactly(client, 2)).toString()).toBe('ok');
    expect(closedAt).toBeUndefined();
    client.end();
    await closing;
    expect(server.reactorInfo()[0]!.running).toBe(false);
  });

  it("counts a throwing timer and an unawaited rejection of the handler's code as handler errors and goes on serving", async () => {
    const server = createServer({ handler: FAULTY });
    await withServer(server, async (port) => {
      expect(await ask(port, 'timer')).toBe('ok');
      expect(await ask(port, 'reject')).toBe('ok');
      await until(() => server.totals().handlerErrors === 2, 'both errors counted');
      expect(await ask(port, 'hello')).toBe('ok');
      expect(server.reactorInfo()[0]!.running).toBe(true);
    });
  });
});

describe('CPU steering', () => {
  const cpus = Math.min(availableParallelism(), 4);

  (cpus >= 2 ? it.each : it.skip.each)(['cpu-bpf', 'incoming-cpu'] as const)('%s hands each connection to the reactor pinned on the CPU that received it', async (steering) => {
    const server = createServer({ handler: ECHO, handlerOptions: { announce: true }, reactors: cpus, pinCpus: true, steering });
    await withServer(server, async (port) => {
      // Five rounds: the kernel's hash alone would match every time with a chance of 1 in 2^(5 x CPUs).
      for (let round = 0; round < 5; round++) {
        for (let cpu = 0; cpu < cpus; cpu++) expect([cpu, await announcementFromCpu(port, cpu)]).toEqual([cpu, `r${cpu}`]);
      }
    });
    // Ten node processes started one after another: a loaded machine takes seconds for each.
  }, 120_000);

  it('refuses steering without pinning, and cpu-bpf without reactor i on CPU i', () => {
    expect(() => createServer({ handler: ECHO, steering: 'cpu-bpf' })).toThrow(expect.objectContaining({ argument: 'options.steering' }));
    expect(() => createServer({ handler: ECHO, pinCpus: [1, 0], steering: 'cpu-bpf' })).toThrow(expect.objectContaining({ argument: 'options.pinCpus' }));
    expect(() => createServer({ handler: ECHO, pinCpus: true, steering: 'nearest' as never })).toThrow(expect.objectContaining({ argument: 'options.steering' }));
  });
});

describe('createProxyServer', () => {
  it('moves 1 GB byte for byte through splice (hashes at both ends)', async () => {
    const upstreamHash = createHash('sha256');
    let upstreamBytes = 0;
    const upstream: NetServer = createNetServer((socket) => {
      socket.on('data', (chunk: Buffer) => {
        upstreamHash.update(chunk);
        upstreamBytes += chunk.length;
      });
      socket.on('end', () => socket.end(upstreamHash.copy().digest('hex')));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const target = { host: '127.0.0.1', port: (upstream.address() as { port: number }).port };
    const proxy = createProxyServer({ target, reactors: 1 });
    try {
      await withServer(proxy, async (port) => {
        const client = await connectTo(port);
        const reply = readAll(client);
        const sent = createHash('sha256');
        const chunk = patternBytes(4 * 1024 * 1024, 9);
        const total = 1024 * 1024 * 1024;
        for (let offset = 0; offset < total; offset += chunk.length) {
          // Vary the chunk so a reordering or a repeated chunk would change the hash.
          chunk.writeUInt32BE(offset / chunk.length, 0);
          sent.update(chunk);
          if (!client.write(Buffer.from(chunk))) await new Promise((resolve) => client.once('drain', resolve));
        }
        client.end();
        expect((await reply).toString()).toBe(sent.digest('hex'));
        expect(upstreamBytes).toBe(total);
      });
    } finally {
      upstream.close();
    }
  }, 120_000);
});

describe('published types', () => {
  it("compile in a user's strict project with skipLibCheck off", () => {
    const project = `${__dirname}/fixtures/types-consumer/tsconfig.json`;
    const result = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', project], { encoding: 'utf8' });
    expect({ status: result.status, output: result.stdout.trim() }).toEqual({ status: 0, output: '' });
  }, 60_000);
});
