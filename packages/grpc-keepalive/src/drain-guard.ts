/**
 * A client-side guard for grpc-node #3068: with keepalive on, every call in flight when the server sends a
 * graceful GOAWAY (max age, server shutdown) fails with `14 UNAVAILABLE: Connection dropped`.
 *
 * What happens (seen in grpc-js's keepalive trace): on GOAWAY grpc-js closes its HTTP/2 session gracefully;
 * Node then refuses to send a PING on a closing session (`session.ping()` returns false); the next keepalive
 * ping is therefore "not sent", grpc-js takes that for a dead connection and drops every stream, although the
 * server is still answering them.
 *
 * The guard answers keepalive pings of a session that is closing but not destroyed on the client itself, so the
 * draining connection is not mistaken for a dead one. During a drain a dead peer is then not detected by
 * keepalive; the server's max-age grace and the calls' deadlines bound how long that can last.
 */
// The module object itself (a namespace import would be a read-only copy): grpc-js looks up `connect` on it at
// every connection, so replacing the property reaches grpc-js's sessions.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import http2 = require('node:http2');

type PingCallback = (error: Error | null, duration: number, payload: Buffer) => void;
type Connect = typeof http2.connect;

const GUARDED = Symbol.for('@x/grpc-keepalive.drain-guard');

let installed: { original: Connect; users: number } | undefined;

function guardSession(session: http2.ClientHttp2Session): void {
  const target = session as http2.ClientHttp2Session & { [GUARDED]?: true };
  if (target[GUARDED] === true) return;
  target[GUARDED] = true;
  const ping = session.ping.bind(session) as (...args: unknown[]) => boolean;
  (session as unknown as { ping: (...args: unknown[]) => boolean }).ping = (...args: unknown[]): boolean => {
    if (session.closed && !session.destroyed) {
      const callback = args.find((arg): arg is PingCallback => typeof arg === 'function');
      const payload = args.find((arg): arg is Buffer => Buffer.isBuffer(arg)) ?? Buffer.alloc(8);
      if (callback !== undefined) process.nextTick(callback, null, 0, payload);
      return true;
    }
    return ping(...args);
  };
}

/**
 * Installs the guard for every HTTP/2 client session created from now on (grpc-js creates its sessions with
 * `http2.connect`). Returns an uninstall function; installs are counted, the last uninstall restores Node's
 * `http2.connect`.
 *
 * @example
 * ```ts
 * const uninstall = installDrainGuard(); // once, at start-up, before creating clients
 * ```
 */
export function installDrainGuard(): () => void {
  if (installed === undefined) {
    const original = http2.connect;
    const guarded = ((...args: Parameters<Connect>) => {
      const session = (original as (...a: Parameters<Connect>) => http2.ClientHttp2Session)(...args);
      guardSession(session);
      return session;
    }) as Connect;
    (http2 as { connect: Connect }).connect = guarded;
    installed = { original, users: 0 };
  }
  installed.users++;
  let released = false;
  return () => {
    if (released || installed === undefined) return;
    released = true;
    if (--installed.users === 0) {
      (http2 as { connect: Connect }).connect = installed.original;
      installed = undefined;
    }
  };
}
