/** Loaded by each UDP reactor thread of the socket scene: echoes each datagram after a byte naming the reactor. */
import { type HandlerContext, type UdpHandler } from '@x/socket';

export function createHandler(context: HandlerContext): UdpHandler {
  return { onMessage: (socket, bytes, from) => void socket.send(Buffer.concat([Buffer.from([context.reactorId]), bytes]), from) };
}
