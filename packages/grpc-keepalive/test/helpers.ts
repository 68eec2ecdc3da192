import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const definition = loadSync(join(__dirname, 'fixtures', 'echo.proto'), { keepCase: true });
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  test: { Echo: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition } };
};
export const EchoClient = loaded.test.Echo;
export const echoDefinition = definition;

export interface EchoService {
  server: grpc.Server;
  port: number;
  /** The `ms` of every Slow call the server saw cancelled. */
  cancelled: number[];
  /** The metadata of every Say call, in order. */
  sayMetadata: grpc.Metadata[];
  stop(): Promise<void>;
}

/** A grpc-js server with Echo.Say (replies at once) and Echo.Slow (replies after `ms`). */
export async function startEcho(options: grpc.ServerOptions = {}, beforeClients?: (server: grpc.Server) => void): Promise<EchoService> {
  const server = new grpc.Server(options);
  const cancelled: number[] = [];
  const sayMetadata: grpc.Metadata[] = [];
  server.addService(EchoClient.service, {
    Say: (call: grpc.ServerUnaryCall<{ text: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      sayMetadata.push(call.metadata);
      callback(null, { text: call.request.text });
    },
    Slow: (call: grpc.ServerUnaryCall<{ ms: number }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const timer = setTimeout(() => callback(null, { text: `slept ${call.request.ms}` }), call.request.ms);
      call.on('cancelled', () => {
        clearTimeout(timer);
        cancelled.push(call.request.ms);
      });
    },
    Fail: (call: grpc.ServerUnaryCall<{ code: number }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
      callback({ code: call.request.code, details: `failed with ${call.request.code}` }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  beforeClients?.(server);
  return {
    server,
    port,
    cancelled,
    sayMetadata,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

export type Echo = grpc.Client & {
  Say(request: { text: string }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply?: { text: string }) => void): grpc.ClientUnaryCall;
  Slow(request: { ms: number; padding?: Buffer }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply?: { text: string }) => void): grpc.ClientUnaryCall;
};

export function echoClient(port: number, options: grpc.ChannelOptions = {}): Echo {
  return new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as unknown as Echo;
}

export function say(client: Echo, text: string, options: grpc.CallOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => client.Say({ text }, options, (error, reply) => (error ? reject(error) : resolve(reply!.text))));
}

export function slow(client: Echo, ms: number, options: grpc.CallOptions = {}, padding?: Buffer): Promise<string> {
  return new Promise((resolve, reject) =>
    client.Slow({ ms, ...(padding === undefined ? {} : { padding }) }, options, (error, reply) => (error ? reject(error) : resolve(reply!.text))),
  );
}
