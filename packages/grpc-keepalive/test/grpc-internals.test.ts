import { Server, ServerCredentials } from '@grpc/grpc-js';
import { grpcJsVersion, http2ServersOf, isTestedGrpcJs } from '../src/grpc-internals.js';

describe('the reach into grpc-js', () => {
  it('the installed grpc-js is one the enforcer was tested against (fails on an upgrade until reviewed)', () => {
    expect(isTestedGrpcJs(grpcJsVersion())).toBe(true);
    expect(isTestedGrpcJs('1.15.0')).toBe(false);
    expect(isTestedGrpcJs('2.0.0')).toBe(false);
  });

  it('finds the HTTP/2 server of a bound grpc-js Server, and only after bind', async () => {
    const server = new Server();
    expect(() => http2ServersOf(server)).toThrow(expect.objectContaining({ code: 'ERR_GRPC_JS_INTERNALS' }));
    await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
    );
    try {
      const found = http2ServersOf(server);
      expect(found).toHaveLength(1);
      expect(typeof found[0]!.on).toBe('function');
    } finally {
      server.forceShutdown();
    }
  });

  it('names the grpc-js version when the private field is not what it expects', () => {
    expect(() => http2ServersOf({ http2Servers: new Map([[{}, {}]]) })).toThrow(new RegExp(`not an http2 server in grpc-js ${grpcJsVersion().replace(/\./g, '\\.')}`));
  });
});
