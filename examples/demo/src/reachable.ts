import { connect } from 'node:net';

/** Whether something accepts TCP connections at the first `host:port` of `addresses` within 300 ms. */
export function reachable(addresses: string): Promise<boolean> {
  const [host, port] = addresses.split(',')[0]!.split(':');
  return new Promise((resolve) => {
    const socket = connect({ host: host!, port: Number(port) });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(300, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
