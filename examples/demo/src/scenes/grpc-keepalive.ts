import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { KeepaliveEnforcer } from '@x/grpc-keepalive';
import type { Scene } from '../scene.js';

const definition = loadSync(join(__dirname, '..', '..', 'proto', 'ping.proto'), { keepCase: true });
const Pinger = (grpc.loadPackageDefinition(definition) as unknown as { demo: { Pinger: grpc.ServiceClientConstructor } }).demo.Pinger;
type PingerClient = grpc.Client & { Ping(note: { text: string }, callback: (error: grpc.ServiceError | null, reply?: { text: string }) => void): void };

export const grpcKeepaliveScene: Scene = {
  title: "@x/grpc-keepalive — Go's ping policy on a grpc-js server",
  async run(log) {
    // grpc-js logs the client's side of the GOAWAY itself; the scene reports it from the server's events.
    grpc.setLogVerbosity(grpc.logVerbosity.NONE);
    const enforcer = new KeepaliveEnforcer({
      policy: { minTimeMs: 1000, permitWithoutStream: true },
      onEvent: (event) => {
        if (event.type === 'ping') log(`ping #${enforcer.stats().pingsReceived}, strikes ${event.strikes}`);
        if (event.type === 'goaway') log(`GOAWAY ENHANCE_YOUR_CALM "${event.debugData}" (grpc-js alone never sends it)`);
      },
    });
    const server = new grpc.Server(enforcer.grpcServerOptions());
    server.addService(Pinger.service, {
      Ping: (call: grpc.ServerUnaryCall<{ text: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { text: `pong: ${call.request.text}` }),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    enforcer.attach(server);
    const client = new Pinger(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': 250,
      'grpc.keepalive_permit_without_calls': 1,
    }) as unknown as PingerClient;
    try {
      log('a grpc-js client pings every 250 ms; the policy allows one per second:');
      await new Promise<void>((resolve) => client.Ping({ text: 'hello' }, () => resolve()));
      const started = Date.now();
      while (enforcer.stats().goawaysSent === 0 && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
    }
  },
};
