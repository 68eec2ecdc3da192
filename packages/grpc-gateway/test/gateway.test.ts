import { type IncomingMessage, request as httpRequest } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { HttpRuleError, RouteConflictError, createGateway } from '../src/index.js';
import { type LibraryServer, type RunningGateway, TRANSPORTS, call, loadLibrary, startGateway, startLibrary } from './helpers.js';

describe.each(TRANSPORTS)('through %s', (transport) => {
  let server: LibraryServer;
  let gateway: RunningGateway;

  beforeAll(async () => {
    server = await startLibrary();
    gateway = await startGateway(server.port, {}, transport);
  });
  afterAll(async () => {
    await gateway.close();
    await server.stop();
  });
  beforeEach(() => {
    server.seen.length = 0;
    server.cancelled.length = 0;
  });

  const lastSeen = () => server.seen[server.seen.length - 1]!;

  describe('routes from google.api.http', () => {
    it('lists what it serves, additional bindings included; unannotated methods only when asked', () => {
      const handler = createGateway({ packageDefinition: loadLibrary(), client: gateway.client });
      expect(handler.routes.map((r) => r.route)).toEqual([
        'GET /v1/{name=shelves/*/books/*}',
        'GET /v1/{parent=shelves/*}/books',
        'GET /v1/books',
        'POST /v1/books:search',
        'POST /v1/{parent=shelves/*}/books',
        'PATCH /v1/{book.name=shelves/*/books/*}',
        'DELETE /v1/{name=shelves/*/books/*}',
        'GET /v1/{name=shelves/*/books/*}:title',
        'GET /v1/{name=shelves/*/books/*}:isbn',
        'SEARCH /v1/files/{name=**}',
        'GET /v1/books:stream',
        'PUT /v1/echo/{parent}',
      ]);
      const all = createGateway({ packageDefinition: loadLibrary(), client: gateway.client, unboundMethods: true });
      expect(all.routes.at(-1)).toEqual({ route: 'POST /library.v1.Library/Unannotated', method: 'library.v1.Library.Unannotated' });
    });

    it('GET with a path variable of several segments: the reply in canonical JSON', async () => {
      const reply = await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET');
      expect(reply.status).toBe(200);
      expect(lastSeen()).toMatchObject({ method: 'GetBook', request: { name: 'shelves/1/books/2' } });
      expect(reply.headers['grpc-metadata-x-served-by']).toBe('library');
      // The server's trailers, as grpc-gateway names them; gRPC's own (grpc-status) and transport headers stay out.
      expect(reply.headers['grpc-trailer-x-checksum']).toBe('c0ffee');
      expect(Object.keys(reply.headers).filter((name) => /^grpc-(metadata|trailer)-(grpc-|content-type|date)/.test(name))).toEqual([]);
      expect(reply.json()).toEqual({
        name: 'shelves/1/books/2',
        title: 'Dune',
        pageCount: '9007199254740993',
        published: '1969-07-20T20:17:40.021Z',
        genre: 'FICTION',
        tags: ['sf', 'classic'],
        cover: '+/8A',
        readingTime: '5400.500s',
        edition: 3,
        extra: { shelf: 'A', rank: 1.5, ok: true, none: null },
        ratings: { alice: '5' },
        catalogNumber: '18446744073709551615',
        price: 9.5,
        note: null,
      });
    });

    it('works the same whatever the loader options the user loaded the protos with', async () => {
      const other = await startGateway(server.port, { packageDefinition: loadLibrary({ keepCase: true, longs: Number, enums: Number, defaults: true }) }, transport);
      try {
        const reply = await call(`${other.url}/v1/shelves/1/books?page_size=3&filter.min_pages=10`, 'GET');
        expect(reply.status).toBe(200);
        expect(lastSeen().request).toMatchObject({ parent: 'shelves/1', page_size: 3, filter: { min_pages: '10' } });
        expect((reply.json() as { books: Array<{ pageCount: string }> }).books[0]!.pageCount).toBe('9007199254740993');
      } finally {
        await other.close();
      }
    });

    it('fills the other fields from query parameters: repeated, nested, enums by name, bools, timestamps', async () => {
      const reply = await call(`${gateway.url}/v1/shelves/7/books?pageSize=2&tags=a&tags=b&genre=HISTORY&filter.author=Le%20Guin&include_drafts=true&since=2020-01-02T03:04:05Z&utm_source=x`, 'GET');
      expect(reply.status).toBe(200);
      expect(lastSeen().request).toMatchObject({
        parent: 'shelves/7',
        page_size: 2,
        tags: ['a', 'b'],
        genre: 'HISTORY',
        filter: { author: 'Le Guin' },
        include_drafts: true,
        since: { seconds: '1577934245', nanos: 0 },
      });
      expect(reply.json()).toMatchObject({ nextPageToken: 'next' });
    });

    it('serves additional bindings, custom verbs, a body field, response_body, DELETE and custom methods', async () => {
      expect((await call(`${gateway.url}/v1/books`, 'GET')).status).toBe(200);
      expect(lastSeen().method).toBe('ListBooks');
      expect(lastSeen().request.parent).toBeUndefined();
      const search = await call(`${gateway.url}/v1/books:search`, 'POST', JSON.stringify({ author: 'Herbert', minPages: '100' }));
      expect(search.status).toBe(200);
      expect(lastSeen().request).toMatchObject({ filter: { author: 'Herbert', min_pages: '100' } });
      const title = await call(`${gateway.url}/v1/shelves/1/books/2:title`, 'GET');
      expect(title.json()).toBe('Dune');
      expect(lastSeen()).toMatchObject({ method: 'BookTitle', request: { name: 'shelves/1/books/2' } });
      const deleted = await call(`${gateway.url}/v1/shelves/1/books/2`, 'DELETE');
      expect([deleted.status, deleted.json()]).toEqual([200, {}]);
      const files = await call(`${gateway.url}/v1/files/a/b%2Fc/d.txt`, 'SEARCH');
      expect(files.status).toBe(200);
      expect(lastSeen()).toMatchObject({ method: 'Files', request: { name: 'a/b%2Fc/d.txt' } });
    });

    it('POST with body "book" and PATCH with a nested path variable and a field mask', async () => {
      const created = await call(`${gateway.url}/v1/shelves/1/books`, 'POST', JSON.stringify({ title: 'Emma', page_count: 474, genre: 1, published: '1815-12-23T00:00:00+01:00' }));
      expect(created.status).toBe(200);
      expect(lastSeen().request).toMatchObject({ parent: 'shelves/1', book: { title: 'Emma', page_count: '474', genre: 'FICTION', published: { seconds: '-4860608400' } } });
      const patched = await call(`${gateway.url}/v1/shelves/1/books/9?updateMask=title,pageCount`, 'PATCH', JSON.stringify({ title: 'Persuasion', name: 'ignored' }));
      expect(patched.status).toBe(200);
      // The path's value wins over the body's for the field it binds.
      expect(lastSeen().request).toMatchObject({ book: { name: 'shelves/1/books/9', title: 'Persuasion' }, update_mask: { paths: ['title', 'page_count'] } });
    });

    it('PATCH without an update_mask gets one naming the fields the body holds, as grpc-gateway fills it', async () => {
      const patched = await call(`${gateway.url}/v1/shelves/1/books/9`, 'PATCH', JSON.stringify({ title: 'Persuasion', reading_time: '60s', edition: 2, extra: { a: 1 }, tags: ['x'] }));
      expect(patched.status).toBe(200);
      expect(lastSeen().request).toMatchObject({ update_mask: { paths: ['title', 'reading_time', 'edition', 'extra', 'tags'] } });
    });

    it('body "*": the whole message from the body, the path variable set on it; metadata forwarded', async () => {
      const reply = await call(`${gateway.url}/v1/echo/p%2Fq`, 'PUT', JSON.stringify({ book: { ratings: { bob: 4 }, extra: { a: [1, 'two', null, { b: false }] } } }), {
        authorization: 'Bearer t',
        'grpc-metadata-tenant': 'acme',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        cookie: 'not forwarded',
      });
      expect(reply.status).toBe(200);
      const echoed = reply.json() as { requestJson: string; metadata: Record<string, string> };
      expect(JSON.parse(echoed.requestJson)).toMatchObject({ parent: 'p/q', book: { ratings: { bob: '4' } } });
      expect(echoed.metadata).toMatchObject({ authorization: 'Bearer t', tenant: 'acme', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
      expect(echoed.metadata.cookie).toBeUndefined();
    });
  });

  describe('errors as grpc-gateway writes them', () => {
    it('404 for a path no rule serves, 405 with Allow for one served under another verb', async () => {
      const missing = await call(`${gateway.url}/v2/nothing`, 'GET');
      expect([missing.status, missing.json()]).toEqual([404, { code: 5, message: 'no route for GET /v2/nothing', details: [] }]);
      const wrongVerb = await call(`${gateway.url}/v1/books:search`, 'GET');
      expect(wrongVerb.status).toBe(405);
      expect(wrongVerb.headers.allow).toBe('POST');
    });

    it('maps the server status to HTTP and passes its message', async () => {
      const reply = await call(`${gateway.url}/v1/shelves/1/books/missing`, 'GET');
      expect([reply.status, reply.json()]).toEqual([404, { code: 5, message: 'shelves/1/books/missing not found', details: [] }]);
    });

    it.each([
      ['malformed JSON', '{"title": ', 'the request body is not JSON'],
      ['an unknown field', '{"titel": "x"}', 'Book has no field "titel"'],
      ['a wrong type', '{"title": 5}', 'title: expected a string'],
      ['an int64 past 2^53 as a number', '{"page_count": 9007199254740993}', 'beyond 2^53 must be a string'],
      ['an int32 past 2^31-1', '{"edition": 2147483648}', 'out of range for int32'],
      ['a lone surrogate', '{"title": "\\ud800"}', 'valid Unicode'],
      ['an enum name that does not exist', '{"genre": "POETRY"}', 'Genre has no value "POETRY"'],
      ['two members of one oneof', '{"isbn": "1", "catalogNumber": "2"}', 'of one oneof'],
      ['a timestamp out of range', '{"published": "10000-01-01T00:00:00Z"}', 'RFC 3339'],
      ['bad base64', '{"cover": "**"}', 'expected base64'],
      ['a list where an object belongs', '[1]', 'expected an object'],
    ])('400 for %s', async (_, body, message) => {
      const reply = await call(`${gateway.url}/v1/shelves/1/books`, 'POST', body);
      expect(reply.status).toBe(400);
      expect(reply.json()).toMatchObject({ code: 3, message: expect.stringContaining(message) });
      expect(server.seen).toHaveLength(0);
    });

    it('400 for a query value of the wrong type; unknown query parameters are ignored', async () => {
      const reply = await call(`${gateway.url}/v1/shelves/1/books?pageSize=many`, 'GET');
      expect(reply.status).toBe(400);
      const bool = await call(`${gateway.url}/v1/shelves/1/books?include_drafts=yes`, 'GET');
      expect(bool.json()).toMatchObject({ code: 3, message: expect.stringContaining('true or false') });
      expect((await call(`${gateway.url}/v1/shelves/1/books?_=123`, 'GET')).status).toBe(200);
    });

    it('ignores unknown fields when told to', async () => {
      const lenient = await startGateway(server.port, { rejectUnknownFields: false }, transport);
      try {
        expect((await call(`${lenient.url}/v1/shelves/1/books`, 'POST', '{"titel": "x", "title": "y"}')).status).toBe(200);
        expect(lastSeen().request).toMatchObject({ book: { title: 'y' } });
      } finally {
        await lenient.close();
      }
    });

    it('413 for a body above maxBodyBytes, 408 for a body that stalls, 400 for a bad Grpc-Timeout', async () => {
      const small = await startGateway(server.port, { maxBodyBytes: 100, bodyTimeoutMs: 300 }, transport);
      try {
        const big = await call(`${small.url}/v1/shelves/1/books`, 'POST', JSON.stringify({ title: 'x'.repeat(200) }));
        expect([big.status, big.json()]).toEqual([413, { code: 8, message: 'request body above 100 bytes', details: [] }]);
        const stalled = await new Promise<number>((resolve, reject) => {
          const request = httpRequest(`${small.url}/v1/shelves/1/books`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '50' } }, (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          });
          request.on('error', reject);
          request.write('{"title":');
        });
        expect(stalled).toBe(408);
        const badTimeout = await call(`${small.url}/v1/shelves/1/books/2`, 'GET', undefined, { 'grpc-timeout': 'soon' });
        expect(badTimeout.status).toBe(400);
        expect(server.seen).toHaveLength(0);
      } finally {
        await small.close();
      }
    });

    it('504 at Grpc-Timeout, and the server sees the call cancelled; a client that hangs up cancels it too', async () => {
      const late = await call(`${gateway.url}/v1/shelves/1/books/slow-2000`, 'GET', undefined, { 'grpc-timeout': '200m' });
      expect([late.status, (late.json() as { code: number }).code]).toEqual([504, grpc.status.DEADLINE_EXCEEDED]);
      await new Promise<void>((resolve, reject) => {
        const request = httpRequest(`${gateway.url}/v1/shelves/1/books/slow-2000`, { method: 'GET' });
        request.on('error', () => resolve());
        request.end();
        setTimeout(() => request.destroy(), 200);
        setTimeout(() => reject(new Error('the hang-up was not seen')), 3_000);
      });
      await waitFor(() => server.cancelled.filter((m) => m === 'GetBook').length === 2);
    });
  });

  describe('what the gateway carried over from @x/grpc-keepalive', () => {
    it("maps every gRPC status to grpc-gateway's HTTP status, with its error body", async () => {
      const expected: Record<number, number> = { 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401 };
      for (let code = 1; code <= 16; code++) {
        const reply = await call(`${gateway.url}/v1/shelves/1/books/code-${code}`, 'GET');
        expect([code, reply.status, reply.json()]).toEqual([code, expected[code], { code, message: `failed with ${code}`, details: [] }]);
      }
    });

    it("passes the server's error details (grpc-status-details-bin) on in the error body, as grpc-gateway does", async () => {
      const reply = await call(`${gateway.url}/v1/shelves/1/books/with-details`, 'GET');
      expect([reply.status, reply.json()]).toEqual([
        400,
        {
          code: grpc.status.FAILED_PRECONDITION,
          message: 'see details',
          details: [
            { '@type': 'type.googleapis.com/library.v1.Filter', author: 'x', minPages: '0' },
            // A type the gateway's descriptors do not name: its bytes, as base64.
            { '@type': 'type.googleapis.com/acme.Unknown', value: 'AQID' },
          ],
        },
      ]);
    });

    it('takes a Grpc-Timeout past 2^31-1 ms as no deadline, not as one already passed', async () => {
      for (const timeout of ['2147484S', '3000000S', '99999999M']) {
        const reply = await call(`${gateway.url}/v1/shelves/1/books/slow-100`, 'GET', undefined, { 'grpc-timeout': timeout });
        expect({ timeout, status: reply.status, title: (reply.json() as { title: string }).title }).toEqual({ timeout, status: 200, title: 'slept 100' });
      }
    });

    it('answers 400 to headers gRPC metadata cannot carry, keeps serving, and forwards -bin headers as bytes', async () => {
      const bad: Array<Record<string, string>> = [{ 'grpc-metadata-a!b': 'x' }, { 'grpc-metadata-x': 'caf\u00e9' }, { authorization: 'Bearer \u00ff' }, { 'grpc-metadata-': 'x' }];
      for (const headers of bad) {
        const reply = await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET', undefined, headers);
        expect({ headers, status: reply.status, code: (reply.json() as { code: number }).code }).toEqual({ headers, status: 400, code: grpc.status.INVALID_ARGUMENT });
      }
      expect((await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET', undefined, { 'grpc-metadata-trace-bin': 'AAAA' })).status).toBe(200);
      expect(lastSeen().metadata.get('trace-bin')).toEqual([Buffer.from([0, 0, 0])]);
    });

    it('an oversize message gets RESOURCE_EXHAUSTED from the server (429) and the server stays healthy', async () => {
      const small = await startLibrary({ 'grpc.max_receive_message_length': 64 * 1024 });
      const front = await startGateway(small.port, {}, transport);
      try {
        const reply = await call(`${front.url}/v1/shelves/1/books`, 'POST', JSON.stringify({ title: 'x'.repeat(100 * 1024) }));
        expect([reply.status, (reply.json() as { code: number }).code]).toEqual([429, grpc.status.RESOURCE_EXHAUSTED]);
        expect((await call(`${front.url}/v1/shelves/1/books`, 'POST', JSON.stringify({ title: 'small' }))).status).toBe(200);
      } finally {
        await front.close();
        await small.stop();
      }
    });
  });

  describe('hostile input never takes the process down', () => {
    const nested = (depth: number, leaf: unknown): unknown => (depth === 0 ? leaf : { a: nested(depth - 1, leaf) });

    it('400 for JSON or query parameters nested deeper than protobuf allows (100 messages), and the gateway goes on', async () => {
      // A Struct 34 levels deep is 102 messages (Struct, its map entry, Value, Struct, ...); it crashed the process.
      const deep = await call(`${gateway.url}/v1/shelves/1/books`, 'POST', JSON.stringify({ extra: nested(34, 1) }));
      expect([deep.status, deep.json()]).toEqual([400, expect.objectContaining({ code: 3, message: expect.stringContaining('nested more than 100') })]);
      const query = await call(`${gateway.url}/v1/shelves/1/books?tree.${'child.'.repeat(120)}value=x`, 'GET');
      expect(query.status).toBe(400);
      expect((await call(`${gateway.url}/v1/shelves/1/books`, 'POST', JSON.stringify({ extra: nested(30, 1) }))).status).toBe(200);
    });

    it('response_body naming a field the reply leaves unset answers its default (null), not a crash', async () => {
      const reply = await call(`${gateway.url}/v1/shelves/1/books/2:isbn`, 'GET');
      // As grpc-gateway writes the field's value: "" for an unset string.
      expect([reply.status, reply.text]).toEqual([200, '""']);
    });

    it('400 for metadata a gRPC request cannot carry (connection-specific and reserved keys), and the gateway goes on', async () => {
      const headers: Array<[string, string]> = [['grpc-metadata-connection', 'close'], ['grpc-metadata-transfer-encoding', 'chunked'], ['grpc-metadata-upgrade', 'h2c'], ['grpc-metadata-grpc-timeout', '1n'], ['grpc-metadata-te', 'x'], ['grpc-metadata-trace-bin', '!!!']];
      for (const [header, value] of headers) {
        const reply = await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET', undefined, { [header]: value });
        expect({ header, status: reply.status }).toEqual({ header, status: 400 });
      }
      expect((await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET')).status).toBe(200);
    });

    it('drops connection-specific headers a forwardHeader that forwards everything names, and answers 500 when it throws', async () => {
      const everything = await startGateway(server.port, { forwardHeader: (name) => (name === 'x-boom' ? (() => { throw new Error('lookup failed'); })() : name) }, transport);
      try {
        const reply = await call(`${everything.url}/v1/echo/p`, 'PUT', '{}', { 'x-tenant': 'acme' });
        expect(reply.status).toBe(200);
        const metadata = (reply.json() as { metadata: Record<string, string> }).metadata;
        expect(metadata['x-tenant']).toBe('acme');
        // node:http sent connection, host, content-length and content-type: none of them is metadata.
        expect(Object.keys(metadata).filter((key) => ['connection', 'host', 'content-length', 'content-type', 'transfer-encoding'].includes(key))).toEqual([]);
        const thrown = await call(`${everything.url}/v1/shelves/1/books/2`, 'GET', undefined, { 'x-boom': '1' });
        expect([thrown.status, (thrown.json() as { code: number }).code]).toEqual([500, grpc.status.INTERNAL]);
      } finally {
        await everything.close();
      }
    });

    it('413 at once for a declared Content-Length above maxBodyBytes (no wait for the body)', async () => {
      const small = await startGateway(server.port, { maxBodyBytes: 100 }, transport);
      try {
        const started = Date.now();
        const status = await new Promise<number>((resolve, reject) => {
          const req = httpRequest(`${small.url}/v1/shelves/1/books`, { method: 'POST', headers: { 'content-length': '999999' } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.write('{"title":');
        });
        expect(status).toBe(413);
        expect(Date.now() - started).toBeLessThan(1_000);
      } finally {
        await small.close();
      }
    });

    it('400 for a body that is not UTF-8, and for malformed percent-escapes in the path or the query', async () => {
      const invalid = await call(`${gateway.url}/v1/shelves/1/books`, 'POST', Buffer.from([0x7b, 0x22, 0x74, 0x69, 0x74, 0x6c, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
      expect(invalid.status).toBe(400);
      expect((await call(`${gateway.url}/v1/shelves/%E0%A4%A/books/1`, 'GET')).status).toBe(400);
      expect((await call(`${gateway.url}/v1/shelves/1/books?filter.author=%zz`, 'GET')).status).toBe(400);
    });
  });

  describe('server streaming', () => {
    it('writes one {"result": ...} line per message', async () => {
      const reply = await call(`${gateway.url}/v1/books:stream?count=3`, 'GET');
      expect(reply.status).toBe(200);
      const lines = reply.text.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown);
      expect(lines).toEqual([1, 2, 3].map((i) => ({ result: expect.objectContaining({ name: `shelves/1/books/${i}` }) })));
      // No trailers for a client that did not ask for them.
      expect(reply.trailers).toEqual({});
    });

    it("ends with the stream's trailing metadata as HTTP trailers for a client that takes them (TE: trailers)", async () => {
      const reply = await call(`${gateway.url}/v1/books:stream?count=3`, 'GET', undefined, { te: 'trailers' });
      expect(reply.text.trimEnd().split('\n')).toHaveLength(3);
      expect(reply.trailers).toEqual({ 'grpc-trailer-x-sent': '3' });
      const failed = await call(`${gateway.url}/v1/books:stream?count=5&failAfter=2`, 'GET', undefined, { te: 'trailers' });
      expect(failed.text.trimEnd().split('\n')).toHaveLength(3);
      expect(failed.trailers).toEqual({ 'grpc-trailer-x-sent': '2' });
    });

    it('ends with an {"error": ...} line when the stream fails midway', async () => {
      const reply = await call(`${gateway.url}/v1/books:stream?count=5&failAfter=2`, 'GET');
      const lines = reply.text.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toHaveLength(3);
      expect(lines[2]).toEqual({ error: { code: grpc.status.DATA_LOSS, message: 'the shelf fell', details: [] } });
    });

    it('gives a reader that pauses, then reads everything, every message and no error line', async () => {
      const request = httpRequest(`${gateway.url}/v1/books:stream?count=5000&padding=1000`, { method: 'GET' });
      const response = await new Promise<IncomingMessage>((resolve) => request.on('response', resolve).end());
      response.pause();
      // The server's stream ends (status OK) while most of it still waits in buffers for this reader.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.resume();
      await new Promise((resolve) => response.on('end', resolve));
      const lines = Buffer.concat(chunks).toString().trimEnd().split('\n');
      expect(lines).toHaveLength(5000);
      expect(lines.every((line) => line.startsWith('{"result":'))).toBe(true);
      expect((JSON.parse(lines[4999]!) as { result: { name: string } }).result.name).toBe('shelves/1/books/5000');
    });

    it('holds the server back while the HTTP reader does not read, and cancels when it goes away', async () => {
      server.streamed.count = 0;
      const request = httpRequest(`${gateway.url}/v1/books:stream?count=200000&padding=200`, { method: 'GET' });
      const response = await new Promise<IncomingMessage>((resolve) => request.on('response', resolve).end());
      response.pause();
      // The buffers fill, then the server's writes wait: the count settles (how soon depends on the machine's load).
      let whilePaused = -1;
      for (let tries = 0; tries < 30 && server.streamed.count !== whilePaused; tries++) {
        whilePaused = server.streamed.count;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Bounded by socket and HTTP/2 window buffers (about 200 bytes a message), not by the stream's length
      // (200,000): a quarter of it at most. The buffers' sizes differ between Node lines: 20,112 messages (4 MB)
      // were seen on Node 24 under load.
      expect(server.streamed.count).toBe(whilePaused);
      expect(whilePaused).toBeLessThan(50_000);
      response.destroy();
      await waitFor(() => server.cancelled.includes('StreamBooks'));
    });
  });

  describe('rules that cannot be served are refused at start', () => {
    it('a conflict between two rules is a RouteConflictError naming both', () => {
      const definition = loadLibrary();
      const methods = definition['library.v1.Library'] as unknown as Record<string, { options: Record<string, unknown> }>;
      methods.DeleteBook!.options = { '(google.api.http)': { get: '/v1/{name=shelves/*/books/*}' } };
      expect(() => createGateway({ packageDefinition: definition, client: gateway.client })).toThrow(RouteConflictError);
      expect(() => createGateway({ packageDefinition: definition, client: gateway.client })).toThrow('library.v1.Library.GetBook and library.v1.Library.DeleteBook both serve GET /v1/{name=shelves/*/books/*}');
    });

    it.each([
      [{ get: 'v1/books' }, 'must start with "/"'],
      [{ get: '/v1/{nope}' }, 'has no field nope'],
      [{ get: '/v1/{name=**}/x' }, '"**" may only be the last segment'],
      [{ get: '/v1/{name' }, 'is not closed'],
      [{ post: '/v1/x', body: 'cover' }, 'does not have'],
      [{ get: '/v1/x', post: '/v1/y' }, 'exactly one HTTP method'],
      [{ get: '/v1/x', response_body: 'nothing' }, 'does not have'],
      [{ get: '/v1/x', body: '*' }, 'a GET rule has no body'],
      [{ custom: { kind: 'FOO', path: '/v1/x' } }, "not an HTTP method Node's server accepts"],
    ])('%j', (rule, message) => {
      const definition = loadLibrary();
      const methods = definition['library.v1.Library'] as unknown as Record<string, { options: Record<string, unknown> }>;
      methods.GetBook!.options = { '(google.api.http)': rule };
      const attempt = (): unknown => createGateway({ packageDefinition: definition, client: gateway.client });
      expect(attempt).toThrow(HttpRuleError);
      expect(attempt).toThrow(message);
    });

    it('refuses bad options with typed errors', () => {
      const packageDefinition = loadLibrary();
      expect(() => createGateway({ packageDefinition, client: {} as grpc.Client })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.client' }));
      expect(() => createGateway({ packageDefinition, client: gateway.client, maxBodyBytes: -1 })).toThrow(expect.objectContaining({ argument: 'options.maxBodyBytes' }));
      expect(() => createGateway({ packageDefinition, client: gateway.client, services: ['no.Such'] })).toThrow(HttpRuleError);
      expect(() => createGateway({ packageDefinition, client: gateway.client, typo: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
      expect(() => createGateway({ packageDefinition, client: gateway.client, services: 'library.v1.Library' as never })).toThrow(expect.objectContaining({ argument: 'options.services' }));
      // grpc.loadPackageDefinition's result instead of loadSync's.
      expect(() => createGateway({ packageDefinition: grpc.loadPackageDefinition(packageDefinition) as never, client: gateway.client })).toThrow(expect.objectContaining({ argument: 'options.packageDefinition' }));
    });

    it('refuses a path variable that names a message field (no path segment can hold one)', () => {
      const definition = loadLibrary();
      const methods = definition['library.v1.Library'] as unknown as Record<string, { options: Record<string, unknown> }>;
      methods.ListBooks!.options = { '(google.api.http)': { get: '/v1/{filter}' } };
      expect(() => createGateway({ packageDefinition: definition, client: gateway.client })).toThrow('is a message (Filter)');
    });
  });

  async function waitFor(condition: () => boolean, ms = 3_000): Promise<void> {
    const until = Date.now() + ms;
    while (!condition()) {
      if (Date.now() > until) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
});
