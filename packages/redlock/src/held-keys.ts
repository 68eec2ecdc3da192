/**
 * What a single-resource waiter in line knows it holds: per instance, the start (this process's monotonic clock)
 * of the attempt its key there counts from, and the fence token that instance counted for it.
 *
 * A key gets the waiter's value from one of its attempts (granted there: it expires TTL after that attempt
 * arrived) or from a release that hands it the lock (it expires TTL after the release, which names the waiter's
 * last attempt there and how long after that attempt's arrival it came, by the instance's clock). Either way the
 * key lives at least until the attempt's start, plus that wait less the drift allowance, plus the TTL: counting
 * validity from there, as Redlock counts any acquire's from its start, is safe. A later attempt refreshes the
 * key, so the latest start named for an instance is the one that counts.
 */
import type { Instance } from './instance.js';

interface Held {
  since: number;
  token: number;
}

/** A majority of instances holding the waiter's key: the validity counts from the earliest of their starts. */
export interface HeldMajority {
  readonly instances: ReadonlySet<Instance>;
  readonly since: number;
  readonly tokens: readonly number[];
}

export class HeldKeys {
  /** When each of the waiter's queued attempts started, by number. */
  private readonly sentAt = new Map<number, number>();
  private readonly held = new Map<Instance, Held>();
  /** Per instance, the first attempt whose grants may still count there (see forget). */
  private readonly floor = new Map<Instance, number>();

  /** Instances known to hold the waiter's key. */
  get size(): number {
    return this.held.size;
  }

  /** The instances known to hold the waiter's key (they took it out of their lines when they gave it). */
  get instances(): ReadonlySet<Instance> {
    return new Set(this.held.keys());
  }

  /** The waiter's queued attempt `attempt` started at `at`. */
  sent(attempt: number, at: number): void {
    this.sentAt.set(attempt, at);
  }

  /**
   * `instance` holds the key from attempt `attempt` on, set `creditMs` (this process's clock, drift already
   * allowed for) after that attempt's start. An attempt not sent in line is ignored.
   */
  grant(instance: Instance, attempt: number, token: number, creditMs = 0): void {
    const sent = this.sentAt.get(attempt);
    if (sent === undefined || attempt < (this.floor.get(instance) ?? 0)) return;
    const since = sent + creditMs;
    const held = this.held.get(instance);
    if (held === undefined || since >= held.since) this.held.set(instance, { since, token });
  }

  /**
   * `instance` did not grant attempt `attempt` (it refused, or its answer was not heard): it may have given the
   * key back (a waiter ahead in line; see ACQUIRE), so nothing known of it counts any more, nor does a hand-over
   * that names an earlier attempt and is heard only now (a release there came before this attempt arrived, or
   * the hand-over would name this one).
   */
  forget(instance: Instance, attempt: number): void {
    this.held.delete(instance);
    this.floor.set(instance, Math.max(attempt, this.floor.get(instance) ?? 0));
  }

  /**
   * The `quorum` instances (among those `counts` accepts) whose keys count from the latest starts, or undefined
   * when there are fewer.
   */
  majority(quorum: number, counts: (instance: Instance) => boolean): HeldMajority | undefined {
    const candidates = [...this.held].filter(([instance]) => counts(instance)).sort(([, a], [, b]) => b.since - a.since);
    if (candidates.length < quorum) return undefined;
    const chosen = candidates.slice(0, quorum);
    return {
      instances: new Set(chosen.map(([instance]) => instance)),
      since: chosen[quorum - 1]![1].since,
      tokens: chosen.map(([, held]) => held.token),
    };
  }
}
