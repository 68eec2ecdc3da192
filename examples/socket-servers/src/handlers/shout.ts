/**
 * A line protocol: every line comes back upper-cased with the reactor that served it. A line over 1 KiB is a
 * protocol error: the decoder throws, the reactor closes that connection only.
 */
import { type Handler, type HandlerContext, LineDecoder } from '@x/socket';

export function createHandler(context: HandlerContext): Handler {
  return {
    onOpen: (conn) => (conn.data = new LineDecoder({ maxLineBytes: 1024 })),
    onData(conn, bytes) {
      for (const line of (conn.data as LineDecoder).push(bytes)) conn.write(Buffer.from(`${line.toUpperCase()} (reactor ${context.reactorId})\n`));
    },
  };
}
