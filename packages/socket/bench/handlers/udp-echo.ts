/** The UDP benchmark's echo handler, loaded by each reactor thread. */
import { type UdpHandler } from '@x/socket';

export const handler: UdpHandler = { onMessage: (socket, bytes, from) => void socket.send(bytes, from) };
