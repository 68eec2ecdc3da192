/**
 * A splice proxy that runs out of file descriptors: each connection needs four more (the upstream socket and two
 * pipes) after accept, and when one of them cannot be made, what was already made must be closed, or the
 * process loses descriptors until it can accept nothing at all.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { createServer as createNetServer, connect, type Server as NetServer, type Socket } from 'node:net';
import { freePort, spawnTsProcess } from '@x/testkit';

const FIXTURE = `${__dirname}/fixtures/proxy-server.ts`;

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function dial(port: number): Promise<Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => resolve(undefined));
  });
}

/** Sends `text` through the proxy and resolves with what comes back (the target echoes), or '' on failure. */
async function echo(port: number, text: string, timeoutMs = 2_000): Promise<string> {
  const socket = await dial(port);
  if (!socket) return '';
  return new Promise((resolve) => {
    let got = '';
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(got);
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length >= text.length) done();
    });
    socket.once('error', done);
    socket.once('close', done);
    socket.write(text);
  });
}

it('a proxy short of file descriptors closes what it opened for a connection it cannot serve', async () => {
  // The target counts the proxy's upstream connections: each must close with its client.
  const upstreams = new Set<Socket>();
  const target: NetServer = createNetServer((socket) => {
    upstreams.add(socket);
    socket.once('close', () => upstreams.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
  const port = await freePort();
  const child = spawnTsProcess(FIXTURE, { PORT: String(port), TARGET_PORT: String((target.address() as { port: number }).port) });
  try {
    let ready = '';
    for (let i = 0; i < 200 && ready !== 'up'; i++) {
      ready = await echo(port, 'up', 200);
      if (ready !== 'up') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(ready).toBe('up');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const idle = openFds(child.pid!);
    // A connection needs up to five descriptors (client, upstream, two pipes of two); with 2 to 9 to spare,
    // a burst runs out of them at every step: at accept, at the upstream socket, at the first or second pipe.
    for (let spare = 2; spare <= 9; spare++) {
      const limit = idle + spare;
      execFileSync('prlimit', ['--pid', String(child.pid), `--nofile=${limit}:`]);
      const burst = await Promise.all(Array.from({ length: 12 }, () => dial(port)));
      await new Promise((resolve) => setTimeout(resolve, 100));
      for (const socket of burst) socket?.destroy();
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(upstreams.size).toBe(0);
    execFileSync('prlimit', ['--pid', String(child.pid), '--nofile=4096:']);
    expect(await echo(port, 'still serving')).toBe('still serving');
    expect(child.stderrText()).toBe('');
  } finally {
    child.kill('SIGKILL');
    target.close();
  }
}, 60_000);
