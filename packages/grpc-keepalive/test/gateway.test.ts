import { type Server as HttpServer, createServer, request } from 'node:http';
import { status } from '@grpc/grpc-js';
import { eventually, metricPoints, registerMetricsSdk } from '@x/testkit';
import { createGateway, httpStatusFromGrpcCode } from '../src/index.js';
import { type EchoService, type Echo, EchoClient, echoClient, slow, startEcho } from './helpers.js';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

function post(port: number, path: string, body: string, headers: Record<string, string> = {}, method = 'POST'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown> }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('HTTP/JSON gateway for unary methods', () => {
  let service: EchoService;
  let client: Echo;
  let http: HttpServer;
  let port: number;

  beforeAll(async () => {
    service = await startEcho({ 'grpc.max_receive_message_length': 64 * 1024 });
    client = echoClient(service.port);
    http = createServer(createGateway({ client, service: EchoClient.service, defaultTimeoutMs: 1000, maxBodyBytes: 256 * 1024 }));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as { port: number }).port;
  });
  afterAll(async () => {
    http.close();
    client.close();
    await service.stop();
  });

  it('turns a JSON POST into the call and its reply into JSON', async () => {
    expect(await post(port, '/test.Echo/Say', '{"text":"hello"}')).toEqual({ status: 200, body: { text: 'hello' } });
  });

  it("maps every gRPC status to grpc-gateway's HTTP status, with its error body", async () => {
    const expected: Record<number, number> = { 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401 };
    for (let code = 1; code <= 16; code++) {
      const reply = await post(port, '/test.Echo/Fail', JSON.stringify({ code }));
      expect([code, reply.status]).toEqual([code, expected[code]]);
      expect(reply.body).toEqual({ code, message: `failed with ${code}`, details: [] });
      expect(httpStatusFromGrpcCode(code)).toBe(expected[code]);
    }
    expect(httpStatusFromGrpcCode(status.OK)).toBe(200);
    expect(httpStatusFromGrpcCode(99)).toBe(500);
  });

  it('applies Grpc-Timeout, else the default timeout, as the deadline (504)', async () => {
    expect((await post(port, '/test.Echo/Slow', '{"ms":600}', { 'grpc-timeout': '100m' })).status).toBe(504);
    expect((await post(port, '/test.Echo/Slow', '{"ms":1500}')).status).toBe(504);
    expect(await post(port, '/test.Echo/Slow', '{"ms":300}')).toEqual({ status: 200, body: { text: 'slept 300' } });
    expect((await post(port, '/test.Echo/Slow', '{"ms":1}', { 'grpc-timeout': 'soon' })).status).toBe(400);
  });

  it('cancels the gRPC call when the HTTP client hangs up', async () => {
    const req = request({ host: '127.0.0.1', port, path: '/test.Echo/Slow', method: 'POST' });
    req.on('error', () => undefined);
    req.end('{"ms":800}');
    await new Promise((resolve) => setTimeout(resolve, 150));
    req.destroy();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(service.cancelled).toContain(800);
  });

  it('answers bad requests with typed statuses: unknown method, wrong verb, bad JSON, oversized body', async () => {
    expect((await post(port, '/test.Echo/Nope', '{}')).status).toBe(404);
    expect((await post(port, '/test.Echo/Say', '', {}, 'GET')).status).toBe(405);
    expect(await post(port, '/test.Echo/Say', '{not json')).toEqual({ status: 400, body: expect.objectContaining({ code: status.INVALID_ARGUMENT }) });
    const big = JSON.stringify({ text: 'x'.repeat(300 * 1024) });
    expect(await post(port, '/test.Echo/Say', big)).toEqual({ status: 413, body: expect.objectContaining({ code: status.RESOURCE_EXHAUSTED }) });
    for (const body of ['null', '[1,2]', '"x"', '7']) {
      expect({ body, reply: await post(port, '/test.Echo/Say', body) }).toEqual({ body, reply: { status: 400, body: expect.objectContaining({ code: status.INVALID_ARGUMENT }) } });
    }
  });

  it('takes a Grpc-Timeout past 2^31-1 ms as no deadline, not as one already passed', async () => {
    for (const timeout of ['2147484S', '3000000S', '99999999M']) {
      expect({ timeout, reply: await post(port, '/test.Echo/Slow', '{"ms":200}', { 'grpc-timeout': timeout }) }).toEqual({ timeout, reply: { status: 200, body: { text: 'slept 200' } } });
    }
  });

  it('answers 400 to headers gRPC metadata cannot carry, and keeps serving (each one crashed the process before)', async () => {
    const bad: Record<string, string>[] = [
      { 'grpc-metadata-a!b': 'x' },
      { 'grpc-metadata-x': 'caf\u00e9' },
      { authorization: 'Bearer \u00ff' },
      { 'grpc-metadata-': 'x' },
    ];
    for (const headers of bad) {
      expect({ headers, reply: await post(port, '/test.Echo/Say', '{"text":"a"}', headers) }).toEqual({
        headers,
        reply: { status: 400, body: expect.objectContaining({ code: status.INVALID_ARGUMENT }) },
      });
    }
    // A binary header arrives base64-encoded, as grpc-gateway expects; it is forwarded as bytes.
    expect(await post(port, '/test.Echo/Say', '{"text":"still here"}', { 'grpc-metadata-trace-bin': 'AAAA' })).toEqual({ status: 200, body: { text: 'still here' } });
  });

  it('an oversize message gets RESOURCE_EXHAUSTED (429 through the gateway) and the server stays healthy', async () => {
    const padding = Buffer.alloc(100 * 1024, 1);
    await expect(slow(client, 1, {}, padding)).rejects.toEqual(expect.objectContaining({ code: status.RESOURCE_EXHAUSTED }));
    const reply = await post(port, '/test.Echo/Slow', JSON.stringify({ ms: 1, padding: padding.toString('base64') }));
    expect(reply.status).toBe(429);
    expect(await post(port, '/test.Echo/Say', '{"text":"still fine"}')).toEqual({ status: 200, body: { text: 'still fine' } });
  });

  it('passes the W3C trace context on as the call\'s metadata, so the server\'s spans continue the HTTP client\'s trace', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await post(port, '/test.Echo/Say', '{"text":"traced"}', { traceparent, tracestate: 'vendor=1' });
    const metadata = service.sayMetadata.at(-1)!;
    expect([metadata.get('traceparent'), metadata.get('tracestate')]).toEqual([[traceparent], ['vendor=1']]);
  });
});

describe('gateway metrics (OpenTelemetry)', () => {
  it('times every request into http.server.request.duration, by method, route and status, and a hang-up as client_closed', async () => {
    const sdk = registerMetricsSdk();
    const service = await startEcho();
    const client = echoClient(service.port);
    // Made after the SDK is registered, as an application makes it.
    const http = createServer(createGateway({ client, service: EchoClient.service }));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const port = (http.address() as { port: number }).port;
    try {
      await post(port, '/test.Echo/Say', '{"text":"a"}');
      await post(port, '/test.Echo/Say', '{"text":"b"}');
      await post(port, '/test.Echo/Fail', '{"code":5}');
      await post(port, '/nowhere', '{}');
      await post(port, '/test.Echo/Say', '{}', {}, 'PUT');
      // A client that hangs up before the answer.
      const hungUp = request({ host: '127.0.0.1', port, path: '/test.Echo/Slow', method: 'POST' });
      hungUp.on('error', () => undefined);
      hungUp.end('{"ms":2000}');
      await new Promise((resolve) => setTimeout(resolve, 150));
      hungUp.destroy();
      await eventually(() => service.cancelled.includes(2000), 'the slow call cancelled', 10_000);
      const counts = async (): Promise<Record<string, number>> =>
        Object.fromEntries(
          metricPoints(await sdk.collect(), 'http.server.request.duration').map((p) => [
            `${String(p.attributes['http.request.method'])} ${String(p.attributes['http.route'] ?? '-')} ${String(p.attributes['http.response.status_code'] ?? p.attributes['error.type'])}`,
            (p.value as { count: number }).count,
          ]),
        );
      await eventually(async () => Object.keys(await counts()).length === 5, 'five series', 10_000);
      expect(await counts()).toEqual({
        'POST /test.Echo/Say 200': 2,
        'POST /test.Echo/Fail 404': 1,
        'POST - 404': 1,
        'PUT /test.Echo/Say 405': 1,
        'POST /test.Echo/Slow client_closed': 1,
      });
    } finally {
      http.close();
      client.close();
      await service.stop();
      await sdk.shutdown();
    }
  });
});
