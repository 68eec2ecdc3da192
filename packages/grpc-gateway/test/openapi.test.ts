import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { createGateway } from '../src/index.js';
import { type LibraryServer, type RunningGateway, call, loadLibrary, startGateway, startLibrary } from './helpers.js';

/**
 * What @seriousme/openapi-schema-validator (the OpenAPI 3.0/3.1 JSON schemas, with Ajv) says of `document`. It is
 * an ES module only: it runs in a child process, so the test does not depend on how jest loads modules.
 */
function validate(document: unknown): { valid: boolean; errors?: unknown } {
  const script = `
    import { Validator } from '@seriousme/openapi-schema-validator';
    let input = '';
    for await (const chunk of process.stdin) input += chunk;
    const result = await new Validator().validate(JSON.parse(input));
    process.stdout.write(JSON.stringify(result));`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { input: JSON.stringify(document), encoding: 'utf8', cwd: __dirname });
  if (child.status !== 0) throw new Error(child.stderr);
  return JSON.parse(child.stdout) as { valid: boolean; errors?: unknown };
}

type Document = {
  paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string; schema: Record<string, unknown> }>; requestBody?: unknown; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};

describe('OpenAPI 3.1', () => {
  let server: LibraryServer;
  let gateway: RunningGateway;
  beforeAll(async () => {
    server = await startLibrary();
    gateway = await startGateway(server.port, { openApiPath: '/openapi.json', openApiInfo: { title: 'Library', version: '2.1.0' } });
  });
  afterAll(async () => {
    await gateway.close();
    await server.stop();
  });

  it('serves a document of every route that a validator of the OpenAPI schema accepts', async () => {
    const reply = await call(`${gateway.url}/openapi.json`, 'GET');
    expect(reply.status).toBe(200);
    const document = reply.json() as Document & { openapi: string; info: unknown };
    expect(validate(document)).toEqual({ valid: true });
    // The validator does refuse what is not OpenAPI (a parameter without `in`).
    const broken = structuredClone(document);
    delete (broken.paths['/v1/{name}']!.get!.parameters![0] as { in?: string }).in;
    expect(validate(broken).valid).toBe(false);
    expect(document.openapi).toBe('3.1.0');
    expect(document.info).toEqual({ title: 'Library', version: '2.1.0' });
    expect(Object.keys(document.paths)).toEqual(['/v1/{name}', '/v1/{parent}/books', '/v1/books', '/v1/books:search', '/v1/{book.name}', '/v1/{name}:title', '/v1/{name}:isbn', '/v1/files/{name}', '/v1/books:stream', '/v1/echo/{parent}']);
    // A method OpenAPI cannot name (SEARCH) is left out of its path.
    expect(document.paths['/v1/files/{name}']).toEqual({});
  });

  it('describes parameters, bodies and replies in the canonical JSON shapes', () => {
    const document = createGateway({ packageDefinition: loadLibrary({ keepCase: true }), client: gateway.client }).openApi() as Document;
    const get = document.paths['/v1/{name}']!.get!;
    expect(get.parameters).toEqual([{ name: 'name', in: 'path', required: true, schema: { type: 'string', pattern: '^shelves/[^/]+/books/[^/]+$' } }]);
    const list = document.paths['/v1/{parent}/books']!.get!.parameters!.map((p) => [p.name, p.in]);
    expect(list).toEqual([
      ['parent', 'path'],
      ['pageSize', 'query'],
      ['tags', 'query'],
      ['genre', 'query'],
      ['filter.author', 'query'],
      ['filter.minPages', 'query'],
      ['includeDrafts', 'query'],
      ['since', 'query'],
      // A message that holds itself is described down to its first repetition.
      ['tree.value', 'query'],
    ]);
    const search = document.paths['/v1/books:search']!.post!;
    expect(search.requestBody).toEqual({ required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/library.v1.Filter' } } } });
    // The body field is not a query parameter.
    expect(search.parameters?.map((p) => p.name)).not.toContain('filter.author');
    const book = document.components.schemas['library.v1.Book']!.properties as Record<string, unknown>;
    expect(book).toMatchObject({
      pageCount: { type: 'string', format: 'int64' },
      published: { $ref: '#/components/schemas/google.protobuf.Timestamp' },
      genre: { $ref: '#/components/schemas/library.v1.Genre' },
      ratings: { type: 'object', additionalProperties: { type: 'string', format: 'int64' } },
      cover: { type: 'string', contentEncoding: 'base64' },
      tags: { type: 'array', items: { type: 'string' } },
    });
    expect(document.components.schemas['library.v1.Genre']).toEqual({ type: 'string', enum: ['GENRE_UNSPECIFIED', 'FICTION', 'HISTORY'] });
    expect(document.components.schemas['google.protobuf.Timestamp']).toEqual({ type: 'string', format: 'date-time' });
    const stream = document.paths['/v1/books:stream']!.get!.responses['200'] as { content: Record<string, { schema: { properties: Record<string, unknown> } }> };
    expect(stream.content['application/json']!.schema.properties).toEqual({ result: { $ref: '#/components/schemas/library.v1.Book' }, error: { $ref: '#/components/schemas/google.rpc.Status' } });
    expect(validate(document)).toEqual({ valid: true });
  });

  it('refuses an openApiPath that is not a path', () => {
    expect(() => createGateway({ packageDefinition: loadLibrary(), client: new grpc.Client('127.0.0.1:1', grpc.credentials.createInsecure()), openApiPath: 'openapi.json' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.openApiPath' }),
    );
  });
});
