/**
 * Real connections that a test can cut all at once, for kafkajs's `socketFactory`: after `cut()` every open
 * socket is destroyed with an error (as a reset connection ends: kafkajs fails its requests on 'error', not on a
 * quiet close) and new connections go to a closed port, until `restore()`.
 */
import { type Socket, connect } from 'node:net';

export interface CuttableSockets {
  /** Pass as kafkajs's `socketFactory`. */
  readonly socketFactory: (args: { host: string; port: number; onConnect: () => void }) => Socket;
  cut(): void;
  restore(): void;
}

export function cuttableSockets(): CuttableSockets {
  let cut = false;
  const sockets = new Set<Socket>();
  return {
    socketFactory: ({ host, port, onConnect }) => {
      const socket = connect(cut ? { host: '127.0.0.1', port: 1 } : { host, port }, onConnect);
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      return socket;
    },
    cut: () => {
      cut = true;
      for (const socket of sockets) socket.destroy(new Error('network cut'));
    },
    restore: () => {
      cut = false;
    },
  };
}
