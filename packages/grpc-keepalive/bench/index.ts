/**
 * `npm run bench -w @x/grpc-keepalive [-- --quick]`: what enforcement costs. Unary calls per second from 64
 * concurrent callers against a grpc-js server with the KeepaliveEnforcer attached (ping accounting, stream
 * tracking, A9 timers) and against the same server without it. Servers and clients share one process, so the
 * figures are relative. (The gateway's benchmarks are @x/grpc-gateway's.)
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { type BenchCase, isQuick, runBench } from '@x/testkit';
import { KeepaliveEnforcer } from '@x/grpc-keepalive';

const quick = isQuick();
const DURATION_MS = quick ? 1000 : 3000;
const CONCURRENCY = 64;

const definition = loadSync(join(__dirname, '..', 'test', 'fixtures', 'echo.proto'), { keepCase: true });
const Echo = (grpc.loadPackageDefinition(definition) as unknown as { test: { Echo: grpc.ServiceClientConstructor } }).test.Echo;
type EchoClient = grpc.Client & { Say(request: { text: string }, callback: (error: grpc.ServiceError | null) => void): void };

async function startServer(withEnforcer: boolean): Promise<{ port: number; stop(): Promise<void> }> {
  const enforcer = new KeepaliveEnforcer({ parameters: { maxConnectionIdleMs: 60_000, maxConnectionAgeMs: 600_000 } });
  const server = new grpc.Server(withEnforcer ? enforcer.grpcServerOptions() : {});
  server.addService(Echo.service, {
    Say: (call: grpc.ServerUnaryCall<{ text: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, call.request),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  if (withEnforcer) enforcer.attach(server);
  return { port, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

/** Calls per second of `call` from CONCURRENCY loops for DURATION_MS. */
async function callsPerSecond(call: () => Promise<void>): Promise<number> {
  let done = 0;
  const until = Date.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        await call();
        done++;
      }
    }),
  );
  return done / (DURATION_MS / 1000);
}

async function grpcRate(withEnforcer: boolean): Promise<number> {
  const server = await startServer(withEnforcer);
  const client = new Echo(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  try {
    return await callsPerSecond(() => new Promise((resolve, reject) => client.Say({ text: 'ping' }, (error) => (error ? reject(error) : resolve()))));
  } finally {
    client.close();
    await server.stop();
  }
}

const cases: BenchCase[] = [
  { id: 'enforcer-overhead', unit: 'calls/s', better: 'higher', peer: 'grpc-js server without enforcer', rounds: quick ? 3 : 5, ours: () => grpcRate(true), theirs: () => grpcRate(false) },
];

void runBench('grpc-keepalive', cases);
