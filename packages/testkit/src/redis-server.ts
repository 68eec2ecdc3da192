/**
 * Private redis-server processes for fault tests: a test owns them, so it may freeze (SIGSTOP), kill and
 * restart them without disturbing the shared servers of `scripts/services`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { HOW_TO_START } from './services.js';
import { exited } from './ts-run.js';

/** A redis-server the test started. */
export interface TestRedisServer {
  readonly port: number;
  /** Current process id (changes on restart). */
  readonly pid: number;
  /** SIGSTOP: the server stops answering but keeps its data and connections. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL and wait for the exit (data is gone: nothing is persisted). */
  kill(): Promise<void>;
  /** Starts a new, empty server on the same port. */
  restart(): Promise<void>;
  /** Stops the server for good and removes its directory. */
  stop(): Promise<void>;
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /**
   * A libfaketime spec for the server's clock (e.g. `+0 x2`: starts now, runs twice as fast). Redis expires keys
   * by its clock. Needs libfaketime (see {@link libfaketimePath}).
   */
  fakeTime?: string;
}

const LIBFAKETIME_PATHS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/faketime/libfaketime.so.1'];
const LIBC_PATHS = ['/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/usr/lib/libc.so.6'];

/** The installed libfaketime (X_LIBFAKETIME overrides); throws with how to install it when there is none. */
export function libfaketimePath(): string {
  const found = [process.env.X_LIBFAKETIME, ...LIBFAKETIME_PATHS].find((path) => path !== undefined && path !== '' && existsSync(path));
  if (found === undefined) throw new Error('libfaketime is not installed (Debian/Ubuntu: apt-get install libfaketime; scripts/services installs it where it can), or set X_LIBFAKETIME to libfaketime.so.1');
  return found;
}

/** The environment that starts a process under libfaketime's `spec`. */
function fakeTimeEnv(spec: string): NodeJS.ProcessEnv {
  // libc after libfaketime in the preload: with libfaketime alone, redis-server's allocator deadlocks at start.
  const libc = LIBC_PATHS.find((path) => existsSync(path));
  return { ...process.env, LD_PRELOAD: [libfaketimePath(), libc].filter(Boolean).join(' '), FAKETIME: spec };
}

/** Starts an empty redis-server on a free loopback port and waits until it answers PING. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<TestRedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `x-redis-${port}-`));
  const env = options.fakeTime === undefined ? process.env : fakeTimeEnv(options.fakeTime);
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
      stdio: 'ignore',
      env,
    });
    const failed = new Promise<never>((_, reject) =>
      child.once('error', (error) => reject(new Error(`cannot start redis-server (${error.message}). ${HOW_TO_START}`))),
    );
    await Promise.race([waitForPing(port), failed]);
  };
  await launch();
  return {
    port,
    get pid() {
      return child.pid!;
    },
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    kill: async () => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited(child);
    },
    restart: async () => {
      await exited(child);
      await launch();
    },
    stop: async () => {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    // disconnectTimeout: ioredis's disconnect() arms a timer (2 s by default) to destroy a stream that does not
    // close, and a refused probe's stream never does: the timers outlived the test and held its jest worker.
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, disconnectTimeout: 20 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}
