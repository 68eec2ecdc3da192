/**
 * A line protocol: every line comes back upper-cased with the reactor that served it. A line over 1 KiB, or one
 * cut off by the peer's end, is a protocol error: the decoder throws (after the lines before it were answered),
 * the reactor closes that connection only.
 */
import { type Handler, type HandlerContext, LineDecoder } from '@x/socket';

export function createHandler(context: HandlerContext): Handler {
  return {
    onOpen: (conn) => (conn.data = new LineDecoder({ maxLineBytes: 1024 })),
    onData(conn, bytes) {
      for (const line of (conn.data as LineDecoder).push(bytes)) conn.write(Buffer.from(`${line.toUpperCase()} (reactor ${context.reactorId})\n`));
    },
    onEnd(conn) {
      (conn.data as LineDecoder).end();
      conn.end();
    },
  };
}
