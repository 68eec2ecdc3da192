import http2 from 'node:http2';
import { type ServerOptions } from '@grpc/grpc-js';
import { KeepaliveEnforcer, installDrainGuard } from '../src/index.js';
import { echoClient, slow, startEcho } from './helpers.js';

const KEEPALIVE = { 'grpc.keepalive_time_ms': 1000, 'grpc.keepalive_timeout_ms': 1000, 'grpc.keepalive_permit_without_calls': 1 };

/** 60 calls of 2 s in flight across a max-age GOAWAY at 500 ms, client keepalive every 1 s; returns the failures. */
async function callsAcrossMaxAge(serverOptions: ServerOptions, enforcer?: KeepaliveEnforcer): Promise<string[]> {
  const service = await startEcho(serverOptions, (server) => enforcer?.attach(server));
  const client = echoClient(service.port, KEEPALIVE);
  try {
    await slow(client, 1);
    const results = await Promise.allSettled(Array.from({ length: 60 }, () => slow(client, 2000)));
    return results.filter((result): result is PromiseRejectedResult => result.status === 'rejected').map((result) => String(result.reason.message));
  } finally {
    client.close();
    await service.stop();
  }
}

const grpcJsMaxAge: ServerOptions = { 'grpc.max_connection_age_ms': 500, 'grpc.max_connection_age_grace_ms': 20_000 };

describe('grpc-node #3068: calls in flight at a graceful GOAWAY with client keepalive on', () => {
  it('without the guard, grpc-js drops every call at its next keepalive ping (the bug, reproduced)', async () => {
    const failed = await callsAcrossMaxAge(grpcJsMaxAge);
    expect(failed).toHaveLength(60);
    expect(failed[0]).toMatch(/UNAVAILABLE: Connection dropped/);
  }, 20_000);

  it('with the guard, all 60 complete (grpc-js max age and the enforcer max age)', async () => {
    const uninstall = installDrainGuard();
    try {
      expect(await callsAcrossMaxAge(grpcJsMaxAge)).toEqual([]);
      const enforcer = new KeepaliveEnforcer({
        policy: { minTimeMs: 500, permitWithoutStream: true },
        parameters: { maxConnectionAgeMs: 500, maxConnectionAgeGraceMs: 20_000 },
      });
      expect(await callsAcrossMaxAge(enforcer.grpcServerOptions(), enforcer)).toEqual([]);
    } finally {
      uninstall();
    }
  }, 30_000);

  it('installs are counted and the last uninstall restores http2.connect', () => {
    const original = http2.connect;
    const first = installDrainGuard();
    const second = installDrainGuard();
    expect(http2.connect).not.toBe(original);
    first();
    first();
    expect(http2.connect).not.toBe(original);
    second();
    expect(http2.connect).toBe(original);
  });
});
