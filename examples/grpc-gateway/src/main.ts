/**
 * An order service on grpc-js with Go-grade keepalive, a well-behaved client, a misbehaving one, and an
 * HTTP/JSON gateway, all on loopback:
 *   1. JSON through the gateway, errors as grpc-gateway's HTTP statuses, Grpc-Timeout as the deadline;
 *   2. a client without deadlines gets one from the interceptor;
 *   3. a client pinging every 200 ms is sent GOAWAY too_many_pings (policy: one per second at most).
 */
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { KeepaliveEnforcer, checkKeepaliveCompatibility, clientChannelOptions, createGateway, installDrainGuard, withDefaultDeadline } from '@x/grpc-keepalive';

const definition = loadSync(join(__dirname, '..', 'proto', 'orders.proto'), { keepCase: true });
const Orders = (grpc.loadPackageDefinition(definition) as unknown as { shop: { Orders: grpc.ServiceClientConstructor } }).shop.Orders;
type OrdersClient = grpc.Client & {
  Pack(request: { id: string }, callback: (error: grpc.ServiceError | null, order?: { state: string }) => void): void;
};

const orders = new Map([
  ['A-1', { id: 'A-1', item: 'kettle', quantity: 1, state: 'paid' }],
  ['A-2', { id: 'A-2', item: 'mugs', quantity: 6, state: 'paid' }],
]);

function post(port: number, path: string, body: unknown, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function main(): Promise<void> {
  // Calls in flight survive a server's graceful GOAWAY even with client keepalive on (grpc-node #3068).
  const uninstallGuard = installDrainGuard();
  const enforcer = new KeepaliveEnforcer({
    policy: { minTimeMs: 1000, permitWithoutStream: true },
    parameters: { maxConnectionIdleMs: 60_000 },
    onEvent: (event) => {
      if (event.type === 'goaway') console.log(`   server: GOAWAY code ${event.code} "${event.debugData}" to ${event.remoteAddress}`);
    },
  });
  const server = new grpc.Server(enforcer.grpcServerOptions());
  server.addService(Orders.service, {
    Get: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const order = orders.get(call.request.id);
      callback(order === undefined ? { code: grpc.status.NOT_FOUND, details: `no order ${call.request.id}` } : null, order);
    },
    // Packing is slow: 300 ms.
    Pack: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      setTimeout(() => callback(null, { ...orders.get(call.request.id), state: 'packed' }), 300);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  enforcer.attach(server);

  const backend = new Orders(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const http = createServer(createGateway({ client: backend, service: Orders.service, defaultTimeoutMs: 2000 }));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const httpPort = (http.address() as { port: number }).port;

  console.log('1. the HTTP/JSON gateway');
  console.log(`   POST /shop.Orders/Get {"id":"A-1"}       -> ${await post(httpPort, '/shop.Orders/Get', { id: 'A-1' })}`);
  console.log(`   POST /shop.Orders/Get {"id":"Z-9"}       -> ${await post(httpPort, '/shop.Orders/Get', { id: 'Z-9' })}`);
  console.log(`   POST /shop.Orders/Pack, Grpc-Timeout 100m -> ${await post(httpPort, '/shop.Orders/Pack', { id: 'A-2' }, { 'grpc-timeout': '100m' })}`);

  console.log('2. a client that sets no deadline gets 200 ms from the interceptor');
  const hurried = new Orders(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { interceptors: [withDefaultDeadline(200)] }) as unknown as OrdersClient;
  const packed = await new Promise<string>((resolve) => hurried.Pack({ id: 'A-1' }, (error, order) => resolve(error ? `${grpc.status[error.code]}` : order!.state)));
  console.log(`   Pack (takes 300 ms): ${packed}`);
  hurried.close();

  console.log('3. keepalive: what the checker predicts, then what happens');
  const asked = { timeMs: 200, permitWithoutStream: true };
  console.log(`   clientChannelOptions(${JSON.stringify(asked)}) adjusts: ${clientChannelOptions(asked).adjustments.map((a) => `${a.setting} ${a.given} -> ${a.used}`).join(', ')}`);
  const verdict = checkKeepaliveCompatibility(asked, enforcer.resolvedPolicy, { applyGoFloor: false });
  console.log(`   a grpc-js client (no floor) at 200 ms: GOAWAY ${verdict.goaway ? `expected after ~${verdict.afterMs} ms` : 'not expected'} (${verdict.reason})`);
  console.log('   (grpc-js then logs "E ... rejected by server because of excess pings" on stderr: that is this GOAWAY, expected)');
  const noisy = new Orders(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.keepalive_time_ms': 200,
    'grpc.keepalive_permit_without_calls': 1,
  }) as unknown as OrdersClient;
  await new Promise<void>((resolve) => noisy.Pack({ id: 'A-2' }, () => resolve()));
  const started = Date.now();
  while (enforcer.stats().goawaysSent === 0 && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(`   stats: ${JSON.stringify(enforcer.stats())}`);
  noisy.close();

  backend.close();
  http.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  uninstallGuard();
  if (enforcer.stats().goawaysSent === 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
