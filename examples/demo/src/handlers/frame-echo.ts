/** Loaded by each reactor thread of the socket scene: echoes length-prefixed frames, tagged with the reactor id. */
import { type Handler, type HandlerContext, LengthPrefixedDecoder, encodeLengthPrefixed } from '@x/socket';

export function createHandler(context: HandlerContext): Handler {
  return {
    onOpen: (conn) => (conn.data = new LengthPrefixedDecoder({ maxFrameBytes: 1 << 20 })),
    onData(conn, bytes) {
      for (const frame of (conn.data as LengthPrefixedDecoder).push(bytes)) {
        conn.write(encodeLengthPrefixed(Buffer.concat([Buffer.from([context.reactorId]), frame])));
      }
    },
  };
}
