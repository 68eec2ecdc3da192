/**
 * Peers and conditions a server meets in the open: clients that reset while their upstream is still
 * connecting, targets that never answer or never read, a process out of file descriptors, connections closed
 * by another connection's handler in the middle of a batch of events, and a graceful shutdown under load.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { type Server as NetServer, type Socket, connect, createServer as createNetServer } from 'node:net';
import { eventually, freePort, spawnTsProcess } from '@x/testkit';
import { type Connection, type Handler, createServer } from '../src/index.js';
import { closeFd, connectTcp, listenTcp, localAddress } from '../src/libc/sockets.js';
import { connectTo, startReactor } from './helpers.js';

const ECHO = require.resolve('./fixtures/echo-handler.js');

/**
 * A TCP address whose connects stay pending: a listener that never accepts, its accept queue filled first (the
 * kernel then drops further SYNs and the connecting side retries for minutes).
 */
function blackHole(): { port: number; close(): void } {
  const listener = listenTcp('127.0.0.1', 0, { backlog: 0 });
  const { port } = localAddress(listener);
  const fillers = [connectTcp('127.0.0.1', port), connectTcp('127.0.0.1', port)];
  return {
    port,
    close: () => {
      for (const fd of [...fillers, listener]) closeFd(fd);
    },
  };
}

function closedOrEnded(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.closed) return resolve();
    socket.once('close', () => resolve());
    socket.on('error', () => undefined);
  });
}

/** CPU seconds (user + system, every thread) a process used so far. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('a splice proxy with an upstream that does not answer', () => {
  it('closes a pair at once when its client resets while the upstream connect is pending (no busy loop)', async () => {
    const hole = blackHole();
    const local = startReactor({ onData: () => undefined }, { proxyTo: { host: '127.0.0.1', port: hole.port }, maxWaitMs: 50, connectTimeoutMs: 0 });
    try {
      const client = await connectTo(local.port);
      await eventually(() => local.reactor.connectionCount === 1, 'the pair', 2_000);
      client.resetAndDestroy();
      await eventually(() => local.reactor.connectionCount === 0, 'the pair closed', 2_000);
      // An idle reactor turns once per maxWaitMs (50 ms); one spinning on a repeated event, thousands of times.
      const before = local.reactor.counters.turns;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(local.reactor.counters.turns - before).toBeLessThan(50);
    } finally {
      await local.stop();
      hole.close();
    }
  });

  it('gives up an upstream connect after connectTimeoutMs and closes the client', async () => {
    const hole = blackHole();
    const local = startReactor({ onData: () => undefined }, { proxyTo: { host: '127.0.0.1', port: hole.port }, connectTimeoutMs: 200 });
    try {
      const client = await connectTo(local.port);
      const started = Date.now();
      await closedOrEnded(client);
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      await eventually(() => local.reactor.connectionCount === 0, 'the pair closed', 2_000);
      // A timeout, not an error: counted as connections' idle timeouts are.
      expect(local.reactor.counters).toMatchObject({ handlerErrors: 0, closed: 1 });
    } finally {
      await local.stop();
      hole.close();
    }
  });

  it('refuses a connectTimeoutMs below 0', () => {
    expect(() => startReactor({ onData: () => undefined }, { proxyTo: { host: '127.0.0.1', port: 1 }, connectTimeoutMs: -1 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }),
    );
  });

  it('closes a proxied pair idle past idleTimeoutMs, at both ends, and keeps a busy one', async () => {
    const targets: Socket[] = [];
    // The target accepts and echoes only what it is sent: the idle client sends nothing.
    const target: NetServer = createNetServer((socket) => {
      targets.push(socket);
      socket.on('error', () => undefined);
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const local = startReactor({ onData: () => undefined }, { proxyTo: { host: '127.0.0.1', port: (target.address() as { port: number }).port }, idleTimeoutMs: 300 });
    try {
      const idle = await connectTo(local.port);
      const busy = await connectTo(local.port);
      busy.on('data', () => undefined);
      const ticker = setInterval(() => busy.write('tick'), 50);
      await closedOrEnded(idle);
      clearInterval(ticker);
      await eventually(() => targets.filter((t) => t.closed).length === 1, "the idle pair's upstream closed", 2_000);
      expect(busy.closed).toBe(false);
      expect(local.reactor.counters).toMatchObject({ idleClosed: 1, handlerErrors: 0 });
      busy.destroy();
    } finally {
      await local.stop();
      target.close();
    }
  });
});

describe('a reactor out of file descriptors', () => {
  it('stops polling its listener instead of spinning, keeps serving, and accepts again once a descriptor is freed', async () => {
    const port = await freePort();
    const child = spawnTsProcess(`${__dirname}/fixtures/echo-server.ts`, { PORT: String(port) });
    const clients: Socket[] = [];
    try {
      await eventually(
        () =>
          new Promise<boolean>((resolve) => {
            const probe = connect(port, '127.0.0.1', () => (probe.destroy(), resolve(true)));
            probe.once('error', () => resolve(false));
          }),
        'the server',
        20_000,
        50,
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Room for two more connections: the third stays in the backlog, its listener readable.
      // RLIMIT_NOFILE bounds descriptor numbers, and a new descriptor takes the lowest free one: the limit is
      // set just above the second free number.
      const used = new Set(readdirSync(`/proc/${child.pid}/fd`).map(Number));
      const free: number[] = [];
      for (let fd = 0; free.length < 2; fd++) if (!used.has(fd)) free.push(fd);
      execFileSync('prlimit', ['--pid', String(child.pid), `--nofile=${free[1]! + 1}:`]);
      for (let i = 0; i < 3; i++) clients.push(await connectTo(port));
      const answered = (socket: Socket, text: string): Promise<string> =>
        new Promise((resolve) => {
          socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
          socket.write(text);
        });
      expect(await answered(clients[0]!, 'first')).toBe('first');
      let thirdAnswered = false;
      const waiting = answered(clients[2]!, 'third').then((text) => ((thirdAnswered = true), text));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const cpuBefore = cpuSeconds(child.pid!);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // Spinning on the readable listener cost a whole core; idle is close to nothing.
      expect(cpuSeconds(child.pid!) - cpuBefore).toBeLessThan(0.3);
      expect(await answered(clients[1]!, 'second')).toBe('second');
      // The third connection is still in the backlog: the server had no descriptor for it.
      expect(thirdAnswered).toBe(false);
      clients[0]!.destroy();
      expect(await waiting).toBe('third');
    } finally {
      for (const client of clients) client.destroy();
      child.kill('SIGKILL');
    }
  }, 40_000);
});

describe('an fd number reused within one batch of events', () => {
  it('a connection closed by another handler leaves its pending event to nobody, not to a new connection with its number', async () => {
    const byPort = new Map<number, Connection>();
    const closedWithout: Connection[] = [];
    let victimPort = 0;
    const handler: Handler = {
      onOpen: (conn) => byPort.set(conn.remoteAddress.port, conn),
      onData(conn, bytes) {
        if (bytes.toString() === 'kill') byPort.get(victimPort)?.close();
        else conn.write(bytes);
      },
      onClose: (conn, error) => {
        if (conn.fd >= 0 && error === undefined && conn.remoteAddress.port !== victimPort) closedWithout.push(conn);
      },
    };
    const local = startReactor(handler, { maxWaitMs: 50 });
    try {
      const killer = await connectTo(local.port);
      const victim = await connectTo(local.port);
      victim.on('error', () => undefined);
      victimPort = victim.localPort!;
      await eventually(() => byPort.size === 2, 'both connections', 2_000);
      // A new descriptor takes the lowest free number (this process holds the clients too): every number below
      // the victim's server-side one is taken first, so that the accept below would get exactly that one.
      const victimFd = byPort.get(victimPort)!.fd;
      const plugs: number[] = [];
      while (plugs.length === 0 || plugs.at(-1)! < victimFd) plugs.push(openSync('/dev/null', 'r'));
      // Ready in this order within one turn: the killer's bytes, a new connection, the victim's reset. The
      // killer's handler closes the victim; the accept that follows gets the victim's fd number if it is free;
      // then the victim's EPOLLERR comes.
      killer.write('kill');
      const newcomer = connectTcp('127.0.0.1', local.port);
      victim.resetAndDestroy();
      // The victim's client-side number, just freed, is taken again too.
      plugs.push(openSync('/dev/null', 'r'));
      await eventually(() => byPort.size === 3, 'the new connection', 2_000);
      for (const plug of plugs) closeSync(plug);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const fresh = [...byPort.values()].find((conn) => conn.remoteAddress.port !== victimPort && conn !== byPort.get(killer.localPort!))!;
      expect(fresh.isClosed).toBe(false);
      expect(closedWithout).toEqual([]);
      closeFd(newcomer);
      killer.destroy();
    } finally {
      await local.stop();
    }
  });
});

describe('graceful shutdown under load', () => {
  it.each(['epoll', 'node:net'] as const)("the README's echo handler on %s: 50 busy connections, no handler error, every request answered or the client told by the end of its stream", async (transport) => {
    const server = createServer({ handler: ECHO, reactors: transport === 'epoll' ? 2 : 1, transport });
    const { port } = await server.listen();
    const outcomes = await Promise.all(
      Array.from({ length: 50 }, async (_, id) => {
        const socket = await connectTo(port);
        let sent = '';
        let received = '';
        let error: Error | undefined;
        socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
        socket.on('error', (e) => (error = e));
        const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
        // Request after request, each as soon as the last was answered, until the server ends the stream.
        let open = true;
        void ended.then(() => (open = false));
        const loop = (async () => {
          for (let n = 0; open; n++) {
            const request = `${id}:${n};`;
            sent += request;
            if (!socket.write(request)) break;
            const target = sent.length;
            while (open && received.length < target) await new Promise((resolve) => setTimeout(resolve, 1));
          }
        })();
        return { socket, ended, loop, sent: () => sent, received: () => received, error: () => error };
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.close(2_000);
    await Promise.all(outcomes.map((o) => o.ended));
    await Promise.all(outcomes.map((o) => o.loop));
    for (const outcome of outcomes) {
      expect(outcome.error()).toBeUndefined();
      // What came back is exactly what was sent, up to where the server stopped answering.
      expect(outcome.sent().startsWith(outcome.received())).toBe(true);
      expect(outcome.received().length).toBeGreaterThan(0);
      outcome.socket.destroy();
    }
    expect(server.totals().handlerErrors).toBe(0);
  });
});
