/**
 * OpenTelemetry traces the way libraries make them: through `@opentelemetry/api` only (an optional peer), while
 * the application installs the SDK, registers a TracerProvider and a propagator (W3C `traceparent` by default in
 * the SDK's `register()`). Without the API or without a provider, nothing is made: a span costs a few µs in the
 * SDK, so a consumer asks `recording` once and skips the work entirely when it is false.
 */
import { loadOtelApi } from './otel-api.js';
import type { TelemetryAttributes } from './telemetry.js';

/** Headers as messages carry them: strings or bytes, possibly repeated. */
export type MessageHeaders = Readonly<Record<string, string | Uint8Array | readonly (string | Uint8Array)[] | undefined>>;

/** A span around one unit of work (a handler's run); end it once, with the error the work failed with, if any. */
export interface WorkSpan {
  /** Runs `work` with this span active (spans the work starts become its children). */
  run<T>(work: () => T): T;
  end(error?: unknown): void;
}

/** Makes a package's spans. */
export interface TelemetryTracer {
  /** True when spans are made (the API is installed and a TracerProvider is registered). */
  readonly recording: boolean;
  /**
   * A CONSUMER span for processing messages, linked to the trace context each carries in its headers (through the
   * registered propagator): the messages' producers' traces lead to it.
   */
  processSpan(name: string, attributes: TelemetryAttributes, messages: readonly (MessageHeaders | undefined)[]): WorkSpan;
  /** Writes the active trace context into `headers` (for a message sent now), through the registered propagator. */
  inject(headers: Record<string, string>): void;
}

/** The part of `@opentelemetry/api` used here. */
interface OtelApi {
  trace: {
    getTracerProvider(): { getDelegate?(): unknown };
    getTracer(name: string, version?: string): OtelTracer;
    setSpan(context: unknown, span: OtelSpan): unknown;
    getSpanContext(context: unknown): { traceId: string; spanId: string; traceFlags: number } | undefined;
  };
  context: { active(): unknown; with<T>(context: unknown, work: () => T): T };
  propagation: {
    extract(context: unknown, carrier: unknown, getter: { keys(carrier: unknown): string[]; get(carrier: unknown, key: string): string | undefined }): unknown;
    inject(context: unknown, carrier: unknown): void;
  };
  ROOT_CONTEXT: unknown;
}

interface OtelTracer {
  startSpan(name: string, options: { kind: number; attributes: TelemetryAttributes; links: { context: unknown }[] }, context: unknown): OtelSpan;
}

interface OtelSpan {
  setStatus(status: { code: number; message?: string }): void;
  setAttribute(key: string, value: string): void;
  recordException(exception: unknown): void;
  end(): void;
}

/** SpanKind.CONSUMER and SpanStatusCode.ERROR of the API. */
const CONSUMER = 4;
const ERROR = 2;

const NOOP_SPAN: WorkSpan = { run: (work) => work(), end: () => undefined };
const NOOP_TRACER: TelemetryTracer = { recording: false, processSpan: () => NOOP_SPAN, inject: () => undefined };

/** Reads a header as the propagator asks for it: text, the first of repeated values. */
const HEADER_GETTER = {
  keys: (carrier: unknown): string[] => Object.keys(carrier as object),
  get(carrier: unknown, key: string): string | undefined {
    const value = (carrier as MessageHeaders)[key];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : typeof first === 'string' ? first : Buffer.from(first.buffer, first.byteOffset, first.byteLength).toString('latin1');
  },
};


/**
 * The tracer of `packageName`, or a no-op one when the API is not installed or no TracerProvider is registered.
 * `X_TELEMETRY=off` in the environment turns tracing off whatever is installed.
 */
export function packageTracer(packageName: string, version: string): TelemetryTracer {
  if (process.env.X_TELEMETRY === 'off') return NOOP_TRACER;
  const otel = loadOtelApi<OtelApi>();
  if (otel === null) return NOOP_TRACER;
  // The API's proxy provider delegates to a no-op one until an SDK registers itself. (Told by the class name,
  // which the API does not export; were that to change, the API's no-op tracer would answer instead.)
  const delegate = otel.trace.getTracerProvider().getDelegate?.() as { constructor?: { name?: string } } | undefined;
  if (delegate?.constructor?.name === 'NoopTracerProvider') return NOOP_TRACER;
  const tracer = otel.trace.getTracer(packageName, version);
  return {
    recording: true,
    processSpan(name, attributes, messages) {
      const links: { context: unknown }[] = [];
      for (const headers of messages) {
        if (headers === undefined) continue;
        // A propagator that throws costs the link, never the message: tracing must not decide whether work runs.
        const context = attempt(() => otel.trace.getSpanContext(otel.propagation.extract(otel.ROOT_CONTEXT, headers, HEADER_GETTER)));
        if (context !== undefined) links.push({ context });
      }
      const parent = otel.context.active();
      const span = attempt(() => tracer.startSpan(name, { kind: CONSUMER, attributes, links }, parent));
      if (span === undefined) return NOOP_SPAN;
      const active = otel.trace.setSpan(parent, span);
      return {
        run: (work) => otel.context.with(active, work),
        end(error) {
          attempt(() => {
            if (error !== undefined) {
              span.recordException(error);
              span.setAttribute('error.type', errorType(error));
              span.setStatus({ code: ERROR, message: error instanceof Error ? error.message : String(error) });
            }
            span.end();
          });
        },
      };
    },
    inject(headers) {
      // A propagator that throws leaves no context (and nothing half-written): the message goes out untraced.
      const written: Record<string, string> = {};
      if (attempt(() => (otel.propagation.inject(otel.context.active(), written), true)) === true) Object.assign(headers, written);
    },
  };
}

/** `work`'s result, or undefined when it throws (a fault of the application's tracing setup, not of the work). */
function attempt<T>(work: () => T): T | undefined {
  try {
    return work();
  } catch {
    return undefined;
  }
}

/** `error.type` as OpenTelemetry means it: a low-cardinality name, here the error's code or class. */
export function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : '_OTHER';
}
