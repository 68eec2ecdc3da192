/**
 * `npm run bench -w @x/socket [-- --quick] [--only=echo-50,proxy]`: the reactor against node:net, node cluster
 * and a minimal C epoll server; splice against socket.pipe(); sendfile against createReadStream().pipe().
 * udp-echo: UDP reactors (recvmmsg/sendmmsg) against node:dgram, 64 B datagrams from 8 sockets; udp-gso-send:
 * 1,200-byte datagrams sent with UDP_SEGMENT against node:dgram's send() in a loop, into a C sink.
 * Every server runs in its own process pinned to CPU 0, load comes from small C programs on CPU 1, so the
 * measured side is always the server. Except echo-cpu, where servers and load share both cores: ours is two
 * reactors pinned one per CPU with CPU steering (the package's per-CPU mode), theirs node's standard cluster.
 * decode-64kib / -1mib / -16mib: LengthPrefixedDecoder against frame-stream, frames of that size in 64 KiB reads,
 * in this process (ms per MiB; ours stays flat across sizes, a decoder that joins on every read does not).
 */
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BenchCase, HIDE_OTEL_API, isQuick, median, onlyCases, runBench } from '@x/testkit';
import { execFileSync } from 'node:child_process';
import { buildC, cpuSeconds, runTool, startProcess, startServer } from './processes.js';
import { measureSyscallCost } from './syscall-cost.js';
import { decodeCost } from './decode.js';

const quick = isQuick();
const only = onlyCases();
const rounds = quick ? 3 : 5;
const echoSeconds = quick ? 1 : 3;
const warmupSeconds = 1;
const proxyBytes = (quick ? 1 : 4) * 1024 ** 3;
const fileBytes = (quick ? 0.5 : 2) * 1024 ** 3;
// Frames decoded per round: four of the largest (16 MiB) size.
const decodeBytes = (quick ? 16 : 64) * 1024 ** 2;

const echoClient = buildC('echo-client');
const udpEchoClient = buildC('udp-echo-client');
const udpSink = buildC('udp-sink');
const echoServer = buildC('echo-server');
const bulk = buildC('bulk');

interface Rps {
  rps: number;
  requests: number;
  cpu: number;
}

/**
 * 64 B ping-pong over 50 connections against a server started by `start`; requests/s and server CPU seconds of
 * the steady state: every server gets the same unmeasured second of load first, so that a JavaScript server's
 * JIT warm-up (a second or so of slower code after a cold start) is not measured as part of its speed.
 */
async function echoLoad(start: () => ReturnType<typeof startServer>, clientCpus: string | undefined): Promise<Rps> {
  const server = await start();
  try {
    runTool(echoClient, ['127.0.0.1', String(server.port), '50', String(warmupSeconds), '64'], clientCpus);
    const before = cpuSeconds(server.pid);
    const result = runTool<{ rps: number; requests: number }>(echoClient, ['127.0.0.1', String(server.port), '50', String(echoSeconds), '64'], clientCpus);
    return { ...result, cpu: cpuSeconds(server.pid) - before };
  } finally {
    await server.stop();
  }
}

/**
 * 64 B datagrams from 8 client sockets, 32 in flight on each, against a UDP server started by `start` (pinned to
 * CPU 0, the client on CPU 1): replies/s of the steady state, after the same unmeasured second for each server.
 */
async function udpEchoLoad(start: () => ReturnType<typeof startServer>): Promise<Rps> {
  const server = await start();
  try {
    const args = (seconds: number): string[] => ['127.0.0.1', String(server.port), '8', '32', String(seconds), '64'];
    runTool(udpEchoClient, args(warmupSeconds), '1');
    const before = cpuSeconds(server.pid);
    const result = runTool<{ rps: number; requests: number }>(udpEchoClient, args(echoSeconds), '1');
    return { ...result, cpu: cpuSeconds(server.pid) - before };
  } finally {
    await server.stop();
  }
}

/**
 * A sender process (pinned to CPU 0) sends 1,200-byte datagrams as fast as it can to a C sink on CPU 1; GB/s as
 * the sink received them over 3 s (what the kernel dropped at a full receive buffer is not counted), and the
 * sender's CPU seconds per GB received.
 */
async function udpSendLoad(kind: 'udp-gso-sender' | 'dgram-sender'): Promise<Transfer> {
  const sink = await startProcess(udpSink, [String(echoSeconds)], '1');
  const sender = await startServer(kind, String(sink.port), '0');
  try {
    const before = cpuSeconds(sender.pid);
    const received = JSON.parse((await sink.output).trim()) as { bytes: number; gbps: number };
    return { gbps: received.gbps, cpuPerGb: (cpuSeconds(sender.pid) - before) / (received.bytes / 1e9) };
  } finally {
    await sender.stop();
    await sink.stop();
  }
}

interface Transfer {
  gbps: number;
  cpuPerGb: number;
}

function sendBulk(port: number): void {
  execFileSync('taskset', ['-c', '1', bulk, 'send', '127.0.0.1', String(port), String(proxyBytes)]);
}

/** Sends `proxyBytes` through a proxy (server kind `kind`) to a C sink. */
async function proxyLoad(kind: 'splice-proxy' | 'pipe-proxy'): Promise<Transfer> {
  const sink = await startProcess(bulk, ['sink', '0'], '1');
  const proxy = await startServer(kind, String(sink.port), '0');
  try {
    const before = cpuSeconds(proxy.pid);
    sendBulk(proxy.port);
    const received = JSON.parse((await sink.output).trim()) as { bytes: number; gbps: number };
    if (received.bytes !== proxyBytes) throw new Error(`${kind} delivered ${received.bytes} of ${proxyBytes} bytes`);
    return { gbps: received.gbps, cpuPerGb: (cpuSeconds(proxy.pid) - before) / (proxyBytes / 1e9) };
  } finally {
    await proxy.stop();
    await sink.stop();
  }
}

/** Downloads the test file from a server of kind `kind`. */
async function fileLoad(kind: 'sendfile' | 'stream-file', path: string): Promise<Transfer> {
  const server = await startServer(kind, path, '0');
  try {
    const before = cpuSeconds(server.pid);
    const received = runTool<{ bytes: number; gbps: number }>(bulk, ['recv', '127.0.0.1', String(server.port)], '1');
    if (received.bytes !== fileBytes) throw new Error(`${kind} delivered ${received.bytes} of ${fileBytes} bytes`);
    return { gbps: received.gbps, cpuPerGb: (cpuSeconds(server.pid) - before) / (fileBytes / 1e9) };
  } finally {
    await server.stop();
  }
}

function makeFile(dir: string): string {
  const path = join(dir, 'payload.bin');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(16 * 1024 * 1024, 'x');
  for (let written = 0; written < fileBytes; written += chunk.length) writeSync(fd, chunk);
  closeSync(fd);
  return path;
}

/** A case measured on both sides with one load function, plus a second case from the same runs' side figure. */
function paired<T>(
  id: string,
  peer: string,
  run: (side: 'ours' | 'theirs') => Promise<T>,
  main: { unit: string; better: 'higher' | 'lower'; pick: (value: T) => number },
  side?: { id: string; unit: string; better: 'higher' | 'lower'; pick: (value: T) => number },
): BenchCase[] {
  const seen: Record<'ours' | 'theirs', T[]> = { ours: [], theirs: [] };
  const measure = async (which: 'ours' | 'theirs'): Promise<number> => {
    const value = await run(which);
    seen[which].push(value);
    return main.pick(value);
  };
  const cases: BenchCase[] = [{ id, peer, rounds, unit: main.unit, better: main.better, ours: () => measure('ours'), theirs: () => measure('theirs') }];
  if (side !== undefined) {
    // Same runs, second figure: the warm-up run (first of each side) is left out, as in the main case.
    const from = (which: 'ours' | 'theirs') => () => median(seen[which].slice(1).map(side.pick));
    cases.push({ id: side.id, peer, rounds: 1, warmup: 0, unit: side.unit, better: side.better, ours: from('ours'), theirs: from('theirs') });
  }
  return cases;
}

void (async () => {
  const dir = mkdtempSync(join(tmpdir(), 'x-socket-bench-'));
  try {
    const file = only === undefined || only.includes('sendfile') ? makeFile(dir) : '';
    const cases: BenchCase[] = [
      ...paired(
        'echo-50',
        'node:net',
        (side) => echoLoad(() => (side === 'ours' ? startServer('reactor', '1', '0') : startServer('net', '', '0')), '1'),
        { unit: 'req/s', better: 'higher', pick: (r: Rps) => r.rps },
      ),
      // What metrics cost: the echo-50 server with an OpenTelemetry SDK registered (a reader collecting every
      // second) against it with none; then the API installed but no SDK, against the API not installed at all.
      ...paired(
        'telemetry-echo-50',
        'ours without an SDK',
        (side) => echoLoad(() => startServer(side === 'ours' ? 'reactor-sdk' : 'reactor', '1', '0'), '1'),
        { unit: 'req/s', better: 'higher', pick: (r: Rps) => r.rps },
      ),
      ...paired(
        'otel-api-echo-50',
        '@opentelemetry/api not installed',
        (side) => echoLoad(() => startServer('reactor', '1', '0', side === 'ours' ? [] : ['--require', HIDE_OTEL_API]), '1'),
        { unit: 'req/s', better: 'higher', pick: (r: Rps) => r.rps },
      ),
      ...paired(
        'echo-limit',
        'C epoll server',
        (side) => echoLoad(() => (side === 'ours' ? startServer('reactor', '1', '0') : startProcess(echoServer, ['0'], '0')), '1'),
        { unit: 'req/s', better: 'higher', pick: (r: Rps) => r.rps },
      ),
      ...paired(
        'echo-bare',
        'bare koffi loop',
        (side) => echoLoad(() => startServer(side === 'ours' ? 'reactor' : 'bare', '1', '0'), '1'),
        { unit: 'req/s', better: 'higher', pick: (r: Rps) => r.rps },
      ),
      ...paired(
        'echo-cpu',
        'node cluster, 2 workers',
        (side) => echoLoad(() => startServer(side === 'ours' ? 'reactor-per-cpu' : 'cluster', '2'), undefined),
        { unit: 'req/CPU-s', better: 'higher', pick: (r: Rps) => r.requests / r.cpu },
        { id: 'echo-cpu-rps', unit: 'req/s', better: 'higher', pick: (r: Rps) => r.rps },
      ),
      ...paired(
        'udp-echo',
        'node:dgram',
        (side) => udpEchoLoad(() => startServer(side === 'ours' ? 'udp-reactor' : 'dgram', '1', '0')),
        { unit: 'datagrams/s', better: 'higher', pick: (r: Rps) => r.rps },
        { id: 'udp-echo-cpu', unit: 'datagrams/CPU-s', better: 'higher', pick: (r: Rps) => r.requests / r.cpu },
      ),
      ...paired(
        'udp-gso-send',
        'node:dgram send() in a loop',
        (side) => udpSendLoad(side === 'ours' ? 'udp-gso-sender' : 'dgram-sender'),
        { unit: 'GB/s', better: 'higher', pick: (t: Transfer) => t.gbps },
        { id: 'udp-gso-send-cpu', unit: 'CPU-s/GB', better: 'lower', pick: (t: Transfer) => t.cpuPerGb },
      ),
      ...paired(
        'proxy',
        'socket.pipe()',
        (side) => proxyLoad(side === 'ours' ? 'splice-proxy' : 'pipe-proxy'),
        { unit: 'GB/s', better: 'higher', pick: (t: Transfer) => t.gbps },
        { id: 'proxy-cpu', unit: 'CPU-s/GB', better: 'lower', pick: (t: Transfer) => t.cpuPerGb },
      ),
      ...[64 * 1024, 1024 ** 2, 16 * 1024 ** 2].map(
        (frameBytes): BenchCase => ({
          id: `decode-${frameBytes >= 1024 ** 2 ? `${frameBytes / 1024 ** 2}mib` : `${frameBytes / 1024}kib`}`,
          peer: 'frame-stream',
          unit: 'ms/MiB',
          better: 'lower',
          rounds: 3,
          ours: () => decodeCost('ours', frameBytes, decodeBytes),
          theirs: () => decodeCost('theirs', frameBytes, decodeBytes),
        }),
      ),
      ...paired(
        'sendfile',
        'createReadStream().pipe()',
        (side) => fileLoad(side === 'ours' ? 'sendfile' : 'stream-file', file),
        { unit: 'GB/s', better: 'higher', pick: (t: Transfer) => t.gbps },
        { id: 'sendfile-cpu', unit: 'CPU-s/GB', better: 'lower', pick: (t: Transfer) => t.cpuPerGb },
      ),
    ];
    // `--only=proxy` also runs `proxy-cpu`, the same runs' other figure: each name stands for its case and the
    // cases named after it. runBench picks those ids, and still refuses a name that matches no case.
    const chosen = only?.flatMap((name) => {
      const ids = cases.filter((c) => c.id === name || c.id.startsWith(`${name}-`)).map((c) => c.id);
      return ids.length > 0 ? ids : [name];
    });
    const argv = process.argv.filter((arg) => !arg.startsWith('--only='));
    await runBench('socket', cases, chosen === undefined ? argv : [...argv, `--only=${chosen.join(',')}`]);
    if (only === undefined || only.some((name) => name.startsWith('echo'))) {
      const cost = measureSyscallCost('0');
      const ns = (value: number): string => `${Math.round(value).toLocaleString('en-US')} ns`;
      console.log(
        `# one system call (getppid, CPU 0, medians of 5): ${ns(cost.c)} from C, ${ns(cost.koffi)} from node through koffi; ` +
          `a koffi call without one (abs): ${ns(cost.koffiAlone)}. An echo request is two system calls.`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
})();
