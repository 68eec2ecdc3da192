/**
 * The one reach into grpc-js internals: the HTTP/2 servers a `Server` created in `bindAsync`. Checked at run
 * time (field present, a Map of http2 servers) so a grpc-js that moved it fails with a clear error instead of
 * silently enforcing nothing; test/grpc-internals.test.ts fails on such a grpc-js too.
 */
import { type Http2SecureServer, type Http2Server, type ServerHttp2Session } from 'node:http2';
import { Server as NetServer } from 'node:net';
import { GrpcInternalsError } from './errors.js';

type SessionSource = Http2Server | Http2SecureServer;

/** The grpc-js versions the reach into `Server.http2Servers` was tested against. */
export const TESTED_GRPC_JS = { major: 1, minMinor: 14, maxMinor: 14 } as const;

/** True when `version` is one the tests covered; outside it the structural checks still guard every attach. */
export function isTestedGrpcJs(version: string): boolean {
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return major === TESTED_GRPC_JS.major && minor >= TESTED_GRPC_JS.minMinor && minor <= TESTED_GRPC_JS.maxMinor;
}

/** The version of the installed grpc-js, if it can be told. */
export function grpcJsVersion(): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require('@grpc/grpc-js/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The HTTP/2 servers behind a bound grpc-js Server. */
export function http2ServersOf(server: object): SessionSource[] {
  const servers = (server as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) throw new GrpcInternalsError(`Server.http2Servers is not a Map in grpc-js ${grpcJsVersion()}`);
  const list = [...servers.keys()] as unknown[];
  if (list.length === 0) throw new GrpcInternalsError('the server has no HTTP/2 server yet: attach after bindAsync has called back');
  for (const candidate of list) {
    // http2 servers are net.Server (tls.Server) subclasses that emit 'session'.
    if (!(candidate instanceof NetServer)) {
      throw new GrpcInternalsError(`Server.http2Servers holds something that is not an http2 server in grpc-js ${grpcJsVersion()}`);
    }
  }
  return list as SessionSource[];
}

let warned = false;

/** Calls `onSession` for every HTTP/2 session (connection) the server accepts from now on. */
export function onSessions(server: object, onSession: (session: ServerHttp2Session) => void): () => void {
  const sources = http2ServersOf(server);
  const version = grpcJsVersion();
  if (!warned && !isTestedGrpcJs(version)) {
    warned = true;
    // The structure checked out, so enforcement runs; say once that this combination was not tested.
    process.emitWarning(`@x/grpc-keepalive was tested with @grpc/grpc-js 1.14, this is ${version}`, { code: 'X_GRPC_JS_UNTESTED' });
  }
  for (const source of sources) source.on('session', onSession);
  return () => sources.forEach((source) => source.off('session', onSession));
}
