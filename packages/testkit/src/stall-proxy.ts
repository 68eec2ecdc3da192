/**
 * A TCP proxy for network-fault tests: forwards to a target until told to stall (bytes are held, nothing is
 * answered) or to drop (connections are reset), and can slow the way back (replies arrive late).
 */
import { type Server, type Socket, createServer, connect, type AddressInfo } from 'node:net';

export interface StallProxy {
  readonly port: number;
  /** Stop forwarding in both directions; data waits (as on a dead link with TCP still up). */
  stall(): void;
  /** Forward again. */
  flow(): void;
  /** Reset every open connection. */
  dropAll(): void;
  /** Hold every reply (target to client) for `ms` before passing it on, in order (0: at once again). */
  delayReplies(ms: number): void;
  close(): Promise<void>;
}

export async function startStallProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<StallProxy> {
  let stalled = false;
  let replyDelayMs = 0;
  // Bytes held back while stalled, in arrival order, with the socket they were going to.
  let held: Array<[Socket, Buffer]> = [];
  const pairs = new Set<[Socket, Socket]>();
  const forward = (to: Socket) => (chunk: Buffer) => {
    if (stalled) held.push([to, chunk]);
    else to.write(chunk);
  };
  const server: Server = createServer((client) => {
    const upstream = connect({ port: targetPort, host: targetHost });
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on('data', forward(upstream));
    const toClient = forward(client);
    // One delay for every chunk: timers of equal delay fire in the order set, so replies keep their order.
    upstream.on('data', (chunk: Buffer) => (replyDelayMs > 0 ? setTimeout(() => toClient(chunk), replyDelayMs) : toClient(chunk)));
    const close = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stall: () => {
      stalled = true;
    },
    flow: () => {
      stalled = false;
      const pending = held;
      held = [];
      for (const [to, chunk] of pending) if (!to.destroyed) to.write(chunk);
    },
    delayReplies: (ms) => {
      replyDelayMs = ms;
    },
    dropAll: () => {
      for (const [a, b] of pairs) {
        a.resetAndDestroy();
        b.destroy();
      }
      pairs.clear();
      held = [];
    },
    close: async () => {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      held = [];
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
