/**
 * Runs scripts by SHA (EVALSHA) and falls back to EVAL when the server does not have them yet (after a restart
 * or failover, or on a new cluster node); EVAL also caches the script there, so the next EVALSHA works.
 */
import type { Cluster, Redis } from 'ioredis';
import type { LuaScript } from './scripts.js';

/** A standalone client or a Cluster. */
export type RedisClient = Redis | Cluster;

type Arg = string | number;

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

export async function runScript(client: RedisClient, script: LuaScript, keys: readonly string[], args: readonly Arg[]): Promise<unknown> {
  try {
    return await client.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.eval(script.source, keys.length, ...keys, ...args);
  }
}

/** Runs several calls of one script in one pipeline (one round trip); each call's error or reply, in order. */
export async function runScriptMany(
  client: RedisClient,
  script: LuaScript,
  calls: readonly { keys: readonly string[]; args: readonly Arg[] }[],
): Promise<[Error | null, unknown][]> {
  const send = async (indexes: number[], useSource: boolean): Promise<[Error | null, unknown][]> => {
    const pipeline = client.pipeline();
    for (const i of indexes) {
      const { keys, args } = calls[i]!;
      if (useSource) pipeline.eval(script.source, keys.length, ...keys, ...args);
      else pipeline.evalsha(script.sha, keys.length, ...keys, ...args);
    }
    return (await pipeline.exec()) ?? [];
  };
  const all = calls.map((_, i) => i);
  const replies = await send(all, false);
  const missing = all.filter((i) => isNoScript(replies[i]?.[0]));
  if (missing.length > 0) {
    const retried = await send(missing, true);
    missing.forEach((i, k) => (replies[i] = retried[k]!));
  }
  return replies;
}
