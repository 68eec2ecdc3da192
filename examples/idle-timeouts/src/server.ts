import { type Server, type Socket, createServer } from 'node:net';
import { type HierarchicalWheel } from '@x/timewheel';

/** Counters the server keeps. */
export interface ServerStats {
  accepted: number;
  closedIdle: number;
  closedByPeer: number;
  echoedBytes: number;
}

/**
 * An echo server that closes a connection after `idleMs` without data. Each connection owns one wheel timer:
 * `refresh()` on every chunk (no allocation), `cancel()` when the peer closes first.
 */
export function startIdleServer(idleMs: number, wheel: HierarchicalWheel): { server: Server; stats: ServerStats } {
  const stats: ServerStats = { accepted: 0, closedIdle: 0, closedByPeer: 0, echoedBytes: 0 };
  const server = createServer((socket: Socket) => {
    stats.accepted++;
    const idle = wheel.setTimeout(() => {
      stats.closedIdle++;
      socket.end('idle timeout\n');
    }, idleMs);
    socket.on('data', (chunk) => {
      idle.refresh();
      stats.echoedBytes += chunk.length;
      socket.write(chunk);
    });
    socket.on('close', () => {
      if (idle.cancel()) stats.closedByPeer++;
    });
    socket.on('error', () => socket.destroy());
  });
  return { server, stats };
}
