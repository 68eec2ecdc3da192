import { request } from 'node:http';
import { eventually, metricPoints, registerMetricsSdk } from '@x/testkit';
import { call, startGateway, startLibrary } from './helpers.js';

describe('gateway metrics (OpenTelemetry)', () => {
  it('times every request into http.server.request.duration, by method, route and status, and a hang-up as client_closed', async () => {
    const sdk = registerMetricsSdk();
    const server = await startLibrary();
    // Made after the SDK is registered, as an application makes it.
    const gateway = await startGateway(server.port);
    try {
      await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET');
      await call(`${gateway.url}/v1/shelves/1/books/3`, 'GET');
      await call(`${gateway.url}/v1/shelves/1/books/missing`, 'GET');
      await call(`${gateway.url}/nowhere`, 'GET');
      await call(`${gateway.url}/v1/books:search`, 'PUT');
      // A client that hangs up before the answer.
      const hungUp = request(`${gateway.url}/v1/shelves/1/books/slow-2000`);
      hungUp.on('error', () => undefined);
      hungUp.end();
      await new Promise((resolve) => setTimeout(resolve, 150));
      hungUp.destroy();
      await eventually(() => server.cancelled.includes('GetBook'), 'the slow call cancelled', 10_000);
      const counts = async (): Promise<Record<string, number>> =>
        Object.fromEntries(
          metricPoints(await sdk.collect(), 'http.server.request.duration').map((p) => [
            `${String(p.attributes['http.request.method'])} ${String(p.attributes['http.route'] ?? '-')} ${String(p.attributes['http.response.status_code'] ?? p.attributes['error.type'])}`,
            (p.value as { count: number }).count,
          ]),
        );
      await eventually(async () => Object.keys(await counts()).length === 5, 'five series', 10_000);
      expect(await counts()).toEqual({
        'GET /v1/{name=shelves/*/books/*} 200': 2,
        'GET /v1/{name=shelves/*/books/*} 404': 1,
        'GET - 404': 1,
        'PUT - 405': 1,
        'GET /v1/{name=shelves/*/books/*} client_closed': 1,
      });
    } finally {
      await gateway.close();
      await server.stop();
      await sdk.shutdown();
    }
  });
});
