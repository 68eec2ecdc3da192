/** What the instances answer to the scripts, as the rounds count it. */
import type { InstanceFailure } from './errors.js';
import type { Instance, InstanceResult } from './instance.js';

/** Whether an instance did what was asked (granted, extended, ...). */
export function isOk<T>(result: InstanceResult<T>): boolean {
  return result.ok;
}

/** The failures among a round's results, in instance order. */
export function failuresOf<T>(results: readonly InstanceResult<T>[]): InstanceFailure[] {
  return results.flatMap((r) => (r.ok ? [] : [r.failure]));
}

/** A release script's reply (see RELEASE in scripts.ts). */
export interface ReleaseReply {
  deleted: number;
  /** The waiter the key went to, reserved or handed over. */
  reservedFor: string | undefined;
  /**
   * The lock itself went to it (see RELEASE), counted from its attempt `attempt` and set `waitedMs` after that
   * attempt arrived, with fence token `token`.
   */
  handedOver: boolean;
  attempt: number;
  token: number;
  waitedMs: number;
}

/** A release script's reply, parsed (it always answers: a key not ours counts as not deleted). */
export function parseRelease(reply: unknown): InstanceResult<ReleaseReply> {
  const [deleted, reservedFor, handedOver, attempt, token, waited] = reply as unknown[];
  return {
    ok: true,
    value: {
      deleted: Number(deleted),
      reservedFor: typeof reservedFor === 'string' ? reservedFor : undefined,
      handedOver: Number(handedOver) === 1,
      attempt: Number(attempt ?? 0),
      token: Number(token ?? 0),
      waitedMs: Number(waited ?? 0),
    },
  };
}

/** An acquire script's reply: the fence tokens when granted, else why not (held, restarting, or malformed). */
export function parseAcquire(instance: Instance, keys: readonly string[], reply: unknown): InstanceResult<number[]> {
  if (!Array.isArray(reply) || (reply[0] !== 1 && reply[0] !== 0 && reply[0] !== 2)) return instance.fail('error', `unexpected reply ${JSON.stringify(reply)}`);
  if (reply[0] === 2) return instance.fail('restarting', `restarted recently; its vote counts in about ${Math.ceil(Number(reply[1]) / 1000)} s (the restart guard lasts maxTtl; restartGuard: false turns it off for instances that fsync every write)`);
  if (reply[0] === 0) return instance.fail('held', `${keys[Number(reply[1]) - 1]} is held by another owner`);
  return { ok: true, value: reply.slice(1).map(Number) };
}
