import { createServer, request } from 'node:http';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { createGateway, googleApiProtos } from '@x/grpc-gateway';
import type { Scene } from '../scene.js';

const definition = loadSync(join(__dirname, '..', '..', 'proto', 'shelf.proto'), { includeDirs: [googleApiProtos], keepCase: true, longs: String });
const Shelf = (grpc.loadPackageDefinition(definition) as unknown as { demo: { Shelf: grpc.ServiceClientConstructor } }).demo.Shelf;

const book = (n: number) => ({ name: `shelves/sf/books/${n}`, title: ['Dune', 'Solaris', 'Ubik'][n % 3], pages: String(200 + n), published: { seconds: String(-14182940 + n * 86_400), nanos: 0 } });

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve(`${res.statusCode} ${text.trimEnd()}`));
    })
      .on('error', reject)
      .end();
  });
}

export const grpcGatewayScene: Scene = {
  title: '@x/grpc-gateway — REST routes from the .proto (google.api.http), a server stream as JSON lines',
  async run(log) {
    const server = new grpc.Server();
    server.addService(Shelf.service, {
      GetBook: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) =>
        call.request.name.endsWith('/1') ? callback(null, book(1)) : callback({ code: grpc.status.NOT_FOUND, details: `no ${call.request.name}` }),
      ListBooks: (call: grpc.ServerWritableStream<{ shelf: string; page_size: number }, unknown>) => {
        for (let n = 1; n <= (call.request.page_size || 3); n++) call.write(book(n));
        call.end();
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
    const gateway = createGateway({ packageDefinition: definition, address: `http://127.0.0.1:${port}`, defaultTimeoutMs: 1000 });
    const http = createServer(gateway);
    try {
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      const httpPort = (http.address() as { port: number }).port;
      log(`routes: ${gateway.routes.map((r) => r.route).join(', ')}`);
      log(`GET /v1/shelves/sf/books/1 -> ${await get(httpPort, '/v1/shelves/sf/books/1')}`);
      log(`GET /v1/shelves/sf/books/9 -> ${await get(httpPort, '/v1/shelves/sf/books/9')}`);
      log(`GET /v1/shelves/sf/books:stream?pageSize=2 ->`);
      for (const line of (await get(httpPort, '/v1/shelves/sf/books:stream?pageSize=2')).split('\n')) log(`  ${line}`);
    } finally {
      http.close();
      gateway.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    }
  },
};
