/** The UDP scene's handler: each datagram comes back upper-cased, after the id of the reactor that served it. */
import { type HandlerContext, type UdpHandler } from '@x/socket';

export function createHandler(context: HandlerContext): UdpHandler {
  const tag = Buffer.from(`#${context.reactorId} `);
  return {
    onMessage(socket, bytes, from) {
      // `bytes` is only valid during this call; send copies it, so building the reply from it is fine.
      socket.send(Buffer.concat([tag, Buffer.from(bytes.toString('latin1').toUpperCase(), 'latin1')]), from);
    },
  };
}
