/**
 * An order service on grpc-js with Go-grade keepalive, and a REST gateway in front of it from the routes its
 * .proto declares (google.api.http), all on loopback:
 *   1. REST through @x/grpc-gateway: get, list with query parameters, create with a body, update with a field
 *      mask, delete, errors as grpc-gateway's HTTP statuses, Grpc-Timeout as the deadline, a server stream as
 *      newline-delimited JSON;
 *   2. a client without deadlines gets one from @x/grpc-keepalive's interceptor;
 *   3. a client pinging every 200 ms is sent GOAWAY too_many_pings (policy: one per second at most).
 */
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createGateway, googleApiProtos } from '@x/grpc-gateway';
import { KeepaliveEnforcer, checkKeepaliveCompatibility, clientChannelOptions, installDrainGuard, withDefaultDeadline } from '@x/grpc-keepalive';

// The gateway reads the routes from the same descriptors; google/api/annotations.proto comes with it.
const definition = loadSync(join(__dirname, '..', 'proto', 'orders.proto'), { includeDirs: [googleApiProtos], keepCase: true, longs: String, enums: String });
const Orders = (grpc.loadPackageDefinition(definition) as unknown as { shop: { v1: { Orders: grpc.ServiceClientConstructor } } }).shop.v1.Orders;
type OrdersClient = grpc.Client & {
  PackOrder(request: { id: string }, callback: (error: grpc.ServiceError | null, order?: { state: string }) => void): void;
};

interface Order {
  id: string;
  item: string;
  quantity: number;
  state: string;
  created: { seconds: string; nanos: number };
  total_cents: string;
}

const created = { seconds: String(Date.UTC(2026, 11, 1, 9, 30) / 1000), nanos: 0 };
const orders = new Map<string, Order>([
  ['A-1', { id: 'A-1', item: 'kettle', quantity: 1, state: 'PAID', created, total_cents: '4990' }],
  ['A-2', { id: 'A-2', item: 'mugs', quantity: 6, state: 'PAID', created, total_cents: '7200' }],
]);

type Unary<T> = grpc.ServerUnaryCall<T, unknown>;
const notFound = (id: string): Partial<grpc.StatusObject> => ({ code: grpc.status.NOT_FOUND, details: `no order ${id}` });

const handlers = {
  GetOrder: (call: Unary<{ id: string }>, callback: grpc.sendUnaryData<unknown>) => {
    const order = orders.get(call.request.id);
    callback(order === undefined ? notFound(call.request.id) : null, order);
  },
  ListOrders: (call: Unary<{ state?: string; page_size?: number }>, callback: grpc.sendUnaryData<unknown>) => {
    const matching = [...orders.values()].filter((order) => call.request.state === undefined || call.request.state === 'STATE_UNSPECIFIED' || order.state === call.request.state);
    callback(null, { orders: matching.slice(0, call.request.page_size || matching.length) });
  },
  CreateOrder: (call: Unary<{ order: Order }>, callback: grpc.sendUnaryData<unknown>) => {
    const order = { ...call.request.order, id: `A-${orders.size + 1}`, state: 'PAID', created };
    orders.set(order.id, order);
    callback(null, order);
  },
  UpdateOrder: (call: Unary<{ order: Order; update_mask?: { paths: string[] } }>, callback: grpc.sendUnaryData<unknown>) => {
    const order = orders.get(call.request.order.id);
    if (order === undefined) return callback(notFound(call.request.order.id));
    // Only the fields the mask names change.
    for (const path of call.request.update_mask?.paths ?? []) (order as unknown as Record<string, unknown>)[path] = (call.request.order as unknown as Record<string, unknown>)[path];
    callback(null, order);
  },
  DeleteOrder: (call: Unary<{ id: string }>, callback: grpc.sendUnaryData<unknown>) => {
    callback(orders.delete(call.request.id) ? null : notFound(call.request.id), {});
  },
  PackOrder: (call: Unary<{ id: string }>, callback: grpc.sendUnaryData<unknown>) => {
    setTimeout(() => callback(null, { ...orders.get(call.request.id), state: 'PACKED' }), 300);
  },
  WatchOrders: (call: grpc.ServerWritableStream<{ count: number }, unknown>) => {
    let sent = 0;
    const timer = setInterval(() => {
      const order = [...orders.values()][sent % orders.size]!;
      call.write({ id: order.id, state: sent % 2 === 0 ? 'PAID' : 'PACKED' });
      if (++sent === call.request.count) {
        clearInterval(timer);
        call.end();
      }
    }, 20);
    call.on('cancelled', () => clearInterval(timer));
  },
};

function http(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${text.trimEnd().replace(/\n/g, '\n       ')}`));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
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
  server.addService(Orders.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  enforcer.attach(server);

  // The gateway's own HTTP/2 connection to the server (a grpc-js client works too: `client` instead of `address`).
  const gateway = createGateway({ packageDefinition: definition, address: `http://127.0.0.1:${port}`, defaultTimeoutMs: 2000 });
  const httpServer = createServer(gateway);
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const httpPort = (httpServer.address() as { port: number }).port;

  console.log(`1. REST from the .proto's google.api.http rules (${gateway.routes.length} routes)`);
  const show = async (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<void> =>
    console.log(`   ${method} ${path}${body === undefined ? '' : ` ${JSON.stringify(body)}`}${headers === undefined ? '' : ` (${JSON.stringify(headers)})`}\n    -> ${await http(httpPort, method, path, body, headers)}`);
  await show('GET', '/v1/orders/A-1');
  await show('GET', '/v1/orders?state=PAID&pageSize=1');
  await show('POST', '/v1/orders', { item: 'teapot', quantity: 2, totalCents: '3980' });
  await show('PATCH', '/v1/orders/A-3?updateMask=quantity', { quantity: 3, item: 'not changed' });
  await show('DELETE', '/v1/orders/A-3');
  await show('GET', '/v1/orders/Z-9');
  await show('POST', '/v1/orders', { item: 'x', quantity: 'two' });
  await show('POST', '/v1/orders/A-2:pack', undefined, { 'grpc-timeout': '100m' });
  await show('GET', '/v1/orders:watch?count=3');

  console.log('2. a client that sets no deadline gets 200 ms from the interceptor');
  const hurried = new Orders(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { interceptors: [withDefaultDeadline(200)] }) as unknown as OrdersClient;
  const packed = await new Promise<string>((resolve) => hurried.PackOrder({ id: 'A-1' }, (error, order) => resolve(error ? `${grpc.status[error.code]}` : order!.state)));
  console.log(`   PackOrder (takes 300 ms): ${packed}`);
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
  await new Promise<void>((resolve) => noisy.PackOrder({ id: 'A-2' }, () => resolve()));
  const started = Date.now();
  while (enforcer.stats().goawaysSent === 0 && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(`   stats: ${JSON.stringify(enforcer.stats())}`);
  noisy.close();

  gateway.close();
  httpServer.close();
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  uninstallGuard();
  if (enforcer.stats().goawaysSent === 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
