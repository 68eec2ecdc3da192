import { propagation } from '@opentelemetry/api';
import { registerTracingSdk } from '@x/testkit';
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

  it('a propagator or SDK that throws costs the link or the span, never the work', async () => {
    const tracing = registerTracingSdk();
    try {
      // In place of the SDK's W3C propagator (the API keeps the first one registered until disabled).
      propagation.disable();
      propagation.setGlobalPropagator({
        inject: () => {
          throw new Error('inject boom');
        },
        extract: () => {
          throw new Error('extract boom');
        },
        fields: () => ['traceparent'],
      });
      const tracer = packageTracer('@x/test', '1.0.0');
      expect(tracer.recording).toBe(true);
      const headers: Record<string, string> = {};
      expect(() => tracer.inject(headers)).not.toThrow();
      expect(headers).toEqual({});
      const span = tracer.processSpan('process t', {}, [{ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }, {}]);
      expect(span.run(() => 42)).toBe(42);
      span.end(new Error('the work failed'));
      const [made] = tracing.finished();
      expect(made?.name).toBe('process t');
      expect(made?.links).toEqual([]);
    } finally {
      await tracing.shutdown();
    }
  });
});
