/**
 * The servers' OpenTelemetry instruments (see README: Metrics): none record unless the application registered an
 * SDK's MeterProvider before a server listened (`@opentelemetry/api`, an optional peer). Each reactor's counters
 * live in shared memory, written by its thread (see stats.ts); they are read here only when the SDK collects, so
 * recording adds nothing to a reactor's work and no message between threads. Series are per server port and
 * reactor, summed over the process's servers (ProcessTotals): a server that closed keeps its counts.
 */
import { createRequire } from 'node:module';
import { ProcessTotals, processInstruments } from '@x/core';
import { type ReactorCounters, type ReactorStats, STAT_FIELDS, UDP_STAT_FIELDS, type UdpCounters, type UdpStats } from './stats.js';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

type Field = keyof ReactorCounters;
type UdpField = keyof UdpCounters;

function instrument<F extends string = Field>(name: string, count: F, description: string, unit: string): { name: string; count: F; description: string; unit: string } {
  return { name, count, description, unit };
}

/** Made with the first server that listens while an SDK is registered. */
const made = processInstruments('@x/socket', VERSION, (meter) =>
  new ProcessTotals<Field>(
    meter,
    [
      instrument('x.socket.connections.accepted', 'accepted', 'Connections accepted', '{connection}'),
      instrument('x.socket.connections.closed', 'closed', 'Connections closed', '{connection}'),
      instrument('x.socket.connections.idle_closed', 'idleClosed', 'Connections closed for idleness', '{connection}'),
      instrument('x.socket.bytes.received', 'bytesRead', 'Bytes read from connections', 'By'),
      instrument('x.socket.bytes.sent', 'bytesWritten', 'Bytes written to connections', 'By'),
      instrument('x.socket.bytes.discarded', 'bytesDiscarded', 'Bytes read after end() and dropped', 'By'),
      instrument('x.socket.read.pauses', 'readPauses', 'Times a connection stopped reading because its write queue was above the high-water mark', '{pause}'),
      instrument('x.socket.accept.pauses', 'acceptPauses', 'Times accepting paused because the process ran out of file descriptors', '{pause}'),
      instrument('x.socket.handler.errors', 'handlerErrors', 'Errors thrown by handlers', '{error}'),
    ],
    [
      instrument('x.socket.connections.open', 'open', 'Connections open now', '{connection}'),
      instrument('x.socket.write_queue.bytes', 'queuedBytes', 'Bytes queued on connections whose peer reads slower than the handler writes', 'By'),
    ],
  ),
);

/** The UDP servers' instruments, made with the first UDP server that listens while an SDK is registered. */
const madeUdp = processInstruments('@x/socket', VERSION, (meter) =>
  new ProcessTotals<UdpField>(
    meter,
    [
      instrument<UdpField>('x.socket.udp.datagrams.received', 'received', 'Datagrams received and handed to the handler', '{datagram}'),
      instrument<UdpField>('x.socket.udp.datagrams.sent', 'sent', 'Datagrams sent (a segmented send counts its segments)', '{datagram}'),
      instrument<UdpField>('x.socket.udp.datagrams.truncated', 'truncated', 'Datagrams longer than maxMessageSize, not delivered', '{datagram}'),
      instrument<UdpField>('x.socket.udp.datagrams.dropped', 'sendDropped', 'Datagrams send dropped because the send queue was full', '{datagram}'),
      instrument<UdpField>('x.socket.udp.datagrams.send_errors', 'sendErrors', 'Datagrams the kernel refused to send', '{datagram}'),
      instrument<UdpField>('x.socket.udp.bytes.received', 'bytesReceived', 'Bytes of datagrams received', 'By'),
      instrument<UdpField>('x.socket.udp.bytes.sent', 'bytesSent', 'Bytes of datagrams sent', 'By'),
      instrument<UdpField>('x.socket.udp.handler.errors', 'handlerErrors', 'Errors of UDP handlers', '{error}'),
    ],
    [],
  ),
);

/** A reactor's counters as an object read at collection (each field a getter on the shared counters). */
function countsOf<F extends string>(fields: readonly F[], stats: { get(reactor: number, field: F): number }, reactor: number): Record<F, number> {
  const counts = {} as Record<F, number>;
  for (const field of fields) Object.defineProperty(counts, field, { enumerable: true, get: () => stats.get(reactor, field) });
  return counts;
}

/**
 * Counts a listening server's reactors (`server.port`, `x.socket.reactor`) in the metrics; returns what ends
 * that (its close: counts stay, open connections leave).
 */
export function watchServer(server: object, port: number, stats: ReactorStats): () => void {
  return watch(made, STAT_FIELDS, server, port, stats);
}

/** As {@link watchServer}, for a UDP server's reactors. */
export function watchUdpServer(server: object, port: number, stats: UdpStats): () => void {
  return watch(madeUdp, UDP_STAT_FIELDS, server, port, stats);
}

function watch<F extends string>(
  instruments: () => ProcessTotals<F> | undefined,
  fields: readonly F[],
  server: object,
  port: number,
  stats: { readonly reactors: number; get(reactor: number, field: F): number },
): () => void {
  const process = instruments();
  if (process === undefined) return () => undefined;
  const sources = Array.from({ length: stats.reactors }, (_, reactor) => ({ attributes: { 'server.port': port, 'x.socket.reactor': reactor }, counts: countsOf(fields, stats, reactor) }));
  for (const source of sources) process.add(server, source);
  return () => sources.forEach((source) => process.remove(source));
}
