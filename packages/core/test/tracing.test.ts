import { packageTracer } from '../src/index.js';

describe('packageTracer', () => {
  afterEach(() => {
    delete process.env.X_TELEMETRY;
  });

  it('makes no spans while no TracerProvider is registered, and runs the work all the same', () => {
    const tracer = packageTracer('@x/test', '1.0.0');
    expect(tracer.recording).toBe(false);
    const span = tracer.processSpan('process t', { a: 1 }, [{ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }]);
    expect(span.run(() => 42)).toBe(42);
    span.end(new Error('ignored'));
    const headers: Record<string, string> = {};
    tracer.inject(headers);
    expect(headers).toEqual({});
  });

  it('makes none with X_TELEMETRY=off', () => {
    process.env.X_TELEMETRY = 'off';
    expect(packageTracer('@x/test', '1.0.0').recording).toBe(false);
  });
});
