/**
 * The Redlock algorithm of "Distributed Locks with Redis" (redis.io), over N independent masters:
 *
 * 1. Ask every instance at once to set the keys (if absent) with the TTL, the round bounded by
 *    `requestTimeout`, which is much smaller than the TTL. The round ends as soon as a majority granted.
 * 2. The lock is acquired when a majority (N/2+1) granted it and validity = TTL - elapsed - drift is positive;
 *    drift = TTL * driftFactor + 2 ms. Elapsed time comes from a monotonic clock. With fencing, a second round
 *    first raises a majority's fence counters to the tokens handed out (see RAISE_FENCE).
 * 3. Otherwise release at once on every instance (not only those that answered: a late "yes" may be on its
 *    way), and retry after a jittered delay, or at once when a release of the resource is announced.
 *
 * Beyond the spec: waiters stand in a line in Redis, and a release hands the lock itself to the first of them
 * (RELEASE in scripts.ts; HeldKeys for how the waiter counts its validity; the README says why it is safe).
 * A waiter in line keeps the keys its attempts got instead of step 3's release.
 */
import {
  type BackoffPolicy,
  type Clock,
  ClosedError,
  InvalidArgumentError,
  abortReason,
  assertBoolean,
  assertClock,
  assertFunction,
  assertKnownKeys,
  assertNumber,
  assertString,
  decorrelatedJitterBackoff,
  linkedSignal,
  randomToken,
  sleep,
  systemClock,
} from '@x/core';
import {
  type InstanceFailure,
  LockHeldError,
  LockLostError,
  LockNotAcquiredError,
  QuorumError,
} from './errors.js';
import { Instance, type InstanceResult, type RedisClient, scriptClientOf } from './instance.js';
import { Lock, type LockOwner, type ReleaseResult } from './lock.js';
import { type Grant, type ReleaseListener, ReleaseNotifier } from './release-notifier.js';
import { HeldKeys } from './held-keys.js';
import { ACQUIRE, EXTEND, LEAVE_LINE, RAISE_FENCE, RELEASE, fenceKey, queueKeys, slotCanBeNamed } from './scripts.js';
import { gather } from './gather.js';
import { RedlockTelemetry } from './telemetry.js';
import { LockKeeper } from './lock-keeper.js';
import { type ReleaseReply, failuresOf, isOk, parseAcquire, parseRelease } from './replies.js';

/** Options of {@link Redlock}. */
export interface RedlockOptions {
  /** Largest TTL this Redlock will be asked for, ms (default 60,000); also the restart guard's length. */
  maxTtl?: number;
  /**
   * The spec's delayed-restart rule, for instances without fsync: an instance up for less than `maxTtl` may
   * have lost keys in a restart, so its votes do not count until it has been up that long. Default true; turn
   * it off only for instances that persist every write (appendfsync always).
   */
  restartGuard?: boolean;
  /** Bound on one round of requests to the instances, ms (default 50, at most a third of the TTL in use): an instance silent by then counts as timed out. */
  requestTimeout?: number;
  /** Clock drift allowance as a fraction of the TTL (default 0.01); 2 ms are added to it. */
  driftFactor?: number;
  /** Retries after the first attempt (default 10). */
  retryCount?: number;
  /** Delay before each retry (default: decorrelated jitter from 50 to 500 ms). */
  backoff?: BackoffPolicy;
  /** Return a fencing token per resource with each lock (default true; one counter key per resource). */
  fencing?: boolean;
  /** Prefix of the pub/sub channels on which releases are announced (default `x-redlock:released:`). */
  channelPrefix?: string;
  /** Source of monotonic time and timers (default `systemClock`). */
  clock?: Clock;
}

/** Options of {@link Redlock.acquire}. */
export interface AcquireOptions {
  /** Give up when this aborts. */
  signal?: AbortSignal;
  /** Give up after this many ms in total. */
  acquireTimeout?: number;
  /** Overrides the Redlock's `retryCount` for this call. */
  retryCount?: number;
}

const REDLOCK_KEYS = ['maxTtl', 'restartGuard', 'requestTimeout', 'driftFactor', 'retryCount', 'backoff', 'fencing', 'channelPrefix', 'clock'];
const ACQUIRE_KEYS = ['signal', 'acquireTimeout', 'retryCount'];

/**
 * An attempt's lock (and the instances that granted it), or why it failed: then `firstInLine` when it was first in
 * the resource's waiting line on a majority, and `grants` (each granting instance's fence token).
 */
type AttemptOutcome =
  | { lock: Lock; granted: ReadonlySet<Instance> }
  | { error: LockHeldError | QuorumError; firstInLine?: boolean; grants: ReadonlyMap<Instance, number> };

/**
 * Distributed locks over independent Redis masters.
 *
 * @example
 * ```ts
 * const redlock = new Redlock([new Redis(7001), new Redis(7002), new Redis(7003)]);
 * await redlock.using('orders:42', 5_000, async (signal, lock) => {
 *   await db.save(order, { fencingToken: lock.fencingToken, signal });
 * });
 * ```
 */
export class Redlock implements AsyncDisposable {
  /** Instances needed for a majority: floor(N/2)+1. */
  readonly quorum: number;
  private readonly instances: Instance[];
  private readonly notifier: ReleaseNotifier;
  private readonly clock: Clock;
  private readonly maxTtl: number;
  private readonly requestTimeout: number;
  private readonly driftFactor: number;
  private readonly retryCount: number;
  private readonly backoff: BackoffPolicy;
  private readonly fencing: boolean;
  /** Votes of an instance up for less than this many ms do not count (the delayed-restart rule); 0: off. */
  private readonly restartGuardMs: number;
  private readonly channelPrefix: string;
  /**
   * How long a release reserves a key for the first waiter in line: long enough for the announcement to reach
   * it and its attempt to come back, short enough that a waiter that died in line costs little.
   */
  private readonly reservationMs: number;
  private readonly owner: LockOwner;
  private readonly telemetry = new RedlockTelemetry();
  /** Locks counted as held in the telemetry, until their first release. */
  private readonly counted = new WeakSet<Lock>();
  private closed = false;

  constructor(clients: readonly RedisClient[], options: RedlockOptions = {}) {
    assertKnownKeys('options', options, REDLOCK_KEYS);
    if (!Array.isArray(clients) || clients.length === 0) throw new InvalidArgumentError('clients', clients, 'a non-empty array of Redis clients');
    this.clock = options.clock === undefined ? systemClock : assertClock('options.clock', options.clock);
    this.maxTtl = assertNumber('options.maxTtl', options.maxTtl ?? 60_000, { min: 1, integer: true });
    this.requestTimeout = assertNumber('options.requestTimeout', options.requestTimeout ?? 50, { min: 1 });
    this.driftFactor = assertNumber('options.driftFactor', options.driftFactor ?? 0.01, { min: 0, max: 0.5 });
    this.retryCount = assertNumber('options.retryCount', options.retryCount ?? 10, { min: 0, integer: true });
    if (options.backoff !== undefined) assertFunction('options.backoff.delay', (options.backoff as Partial<BackoffPolicy> | null)?.delay);
    this.backoff = options.backoff ?? decorrelatedJitterBackoff({ initial: 50, max: 500 });
    this.fencing = options.fencing === undefined ? true : assertBoolean('options.fencing', options.fencing);
    if (options.restartGuard !== undefined) assertBoolean('options.restartGuard', options.restartGuard);
    this.reservationMs = Math.max(100, Math.ceil(4 * this.requestTimeout));
    this.channelPrefix = options.channelPrefix === undefined ? 'x-redlock:released:' : assertString('options.channelPrefix', options.channelPrefix);
    const scriptClients = clients.map((client, i) => {
      const adapted = scriptClientOf(client, i);
      if (adapted === undefined) throw new InvalidArgumentError(`clients[${i}]`, client, 'an ioredis Redis or Cluster, or a node-redis client or cluster');
      return adapted;
    });
    // One server counted as several votes makes a majority of one: another Redlock over distinct servers could
    // hold the same lock. The same client twice, or two clients naming the same host and port, are refused.
    scriptClients.forEach((client, i) => {
      const sameClient = clients.indexOf(clients[i]!);
      const named = !client.cluster && !client.name.startsWith('#');
      const server = serverOf(client.name);
      const twin = sameClient !== i ? sameClient : named ? scriptClients.findIndex((other) => !other.cluster && serverOf(other.name) === server) : i;
      if (twin !== i) throw new InvalidArgumentError(`clients[${i}]`, client.name, `a server of its own (clients[${twin}] is the same one)`);
    });
    this.restartGuardMs = options.restartGuard === false ? 0 : this.maxTtl;
    // A clock is taken as keeping time up to the drift the validity allows for; at a drift factor of 0, up to
    // 0.1 % (NTP keeps clocks well within that; flagging every instance would leave no quorum at all).
    const clockAllowance = Math.max(this.driftFactor, MIN_CLOCK_ALLOWANCE);
    this.instances = scriptClients.map((client) => new Instance(client, this.clock, clockAllowance));
    this.quorum = Math.floor(clients.length / 2) + 1;
    this.notifier = new ReleaseNotifier(scriptClients, this.quorum, `${this.channelPrefix}hand-over:${randomToken()}`);
    this.owner = {
      extend: (lock, ttl) => this.extend(lock, ttl),
      release: (lock) => this.release(lock),
      now: () => this.clock.now(),
    };
  }

  /**
   * Acquires a lock on `resources` (one key, or several: all or nothing) for `ttl` ms.
   *
   * @throws LockNotAcquiredError when attempts, `acquireTimeout` or `signal` ran out; its `cause` is the last
   *   attempt's `LockHeldError` or `QuorumError` (or the abort reason).
   * @throws InvalidArgumentError for bad input.
   */
  async acquire(resources: string | readonly string[], ttl: number, options: AcquireOptions = {}): Promise<Lock> {
    const started = this.clock.now();
    let attempts = 0;
    const counting = (made: number): void => void (attempts = made);
    try {
      const lock = await this.acquireLock(resources, ttl, options, counting);
      this.telemetry.acquired((this.clock.now() - started) / 1000, attempts);
      this.counted.add(lock);
      return lock;
    } catch (error) {
      if (error instanceof LockNotAcquiredError) {
        const outcome = error.cause instanceof LockHeldError ? 'held' : error.cause instanceof QuorumError ? 'no_quorum' : 'aborted';
        this.telemetry.notAcquired(outcome, (this.clock.now() - started) / 1000, attempts);
      }
      throw error;
    }
  }

  private async acquireLock(resources: string | readonly string[], ttl: number, options: AcquireOptions, counting: (attempts: number) => void): Promise<Lock> {
    assertKnownKeys('options', options, ACQUIRE_KEYS);
    const keys = this.checkResources(resources);
    this.checkTtl(ttl);
    const retryCount = options.retryCount === undefined ? this.retryCount : assertNumber('options.retryCount', options.retryCount, { min: 0, integer: true });
    const timeoutMs = options.acquireTimeout === undefined ? undefined : assertNumber('options.acquireTimeout', options.acquireTimeout, { min: 0 });
    if (options.signal !== undefined && !isAbortSignal(options.signal)) throw new InvalidArgumentError('options.signal', options.signal, 'an AbortSignal');
    if (this.closed) throw new ClosedError('redlock');
    const value = randomToken();
    // Waiters queue in Redis, in each resource's line, in the order they started waiting (see RELEASE): a release
    // hands the key to the first of them in the same script, where otherwise every waiting process would race
    // for it. A multi-resource waiter stands in the line of each of its resources with one place (when it began
    // waiting), so the lines all order waiters alike: the earliest is first everywhere it waits, and no two
    // waiters can each hold a turn the other needs.
    const line = { place: this.clock.wallNow() };
    let joined = false;
    let quickRetries = 0;
    // Without a signal or a timeout (the usual call) nothing can cut the wait short: no signal is made for it.
    using deadline =
      options.signal === undefined && timeoutMs === undefined
        ? undefined
        : linkedSignal(options.signal, timeoutMs === undefined ? { clock: this.clock } : { timeoutMs, clock: this.clock });
    const signal = deadline?.signal;
    let listener: ReleaseListener | undefined;
    let lastError: unknown;
    let delay: number | undefined;
    // A single-resource waiter in line can be handed the lock by a release (see RELEASE): per instance, the start
    // of the attempt its key there counts from, and its fence token. When its attempts were granted somewhere,
    // it keeps those keys (the line gives free keys only to it), so nothing it counts is deleted under it.
    const handed = keys.length === 1 ? new HeldKeys() : undefined;
    let acquired = false;
    // The lock is ours: whoever gave it took this waiter out of its line there (see the callers), so finally
    // neither leaves the line again nor gives the keys back.
    const got = (lock: Lock): Lock => {
      joined = false;
      acquired = true;
      return lock;
    };
    try {
      const channels = this.channelsOf(keys);
      if (this.notifier.hasWaiters(channels)) {
        // Waiters of this process are queued for these resources: join the back of their line rather than
        // barge in ahead of them. (A holder that releases and at once asks again would otherwise win every
        // time — it knows of the release first — and starve the others.)
        listener = await this.notifier.listen(channels, value);
        delay = this.backoff.delay(1, undefined);
        await listener.turn(delay, signal);
      }
      for (let attempt = 1; ; attempt++) {
        // Closed meanwhile: a waiting acquire settles (within a retry delay) instead of never.
        if (this.closed) throw new ClosedError('redlock');
        if (signal?.aborted) throw new LockNotAcquiredError(keys, attempt - 1, abortReason(signal));
        // A first attempt does not join the line (the usual, uncontended acquire writes nothing more) unless other
        // processes are known to wait in it; later ones do when this waiter is the first of this process, the one
        // that keeps polling (see ReleaseListener.turn): a place in line of a waiter that does not poll would hold
        // the others back until it lapsed.
        const joins = listener?.isFirst() === true && (attempt > 1 || listener.calledToLine());
        const queued = joins ? { ...line, keepMs: placeKeptMs(delay), attempt } : undefined;
        if (joins) listener!.joinedLine();
        joined ||= joins;
        counting(attempt);
        const sentAt = this.clock.now();
        if (queued !== undefined) handed?.sent(attempt, sentAt);
        const outcome = await this.attempt(keys, value, ttl, queued);
        if ('lock' in outcome) {
          // The instances that granted a single resource took this waiter out of their lines (ACQUIRE); the others
          // may keep it, and a multi-resource waiter's place is left everywhere.
          if (joined) this.leaveLines(keys, value, keys.length === 1 ? outcome.granted : new Set());
          return got(outcome.lock);
        }
        lastError = outcome.error;
        this.telemetry.failures(outcome.error.failures);
        if (queued !== undefined && handed !== undefined) {
          // In line, the keys this attempt got are kept: releases elsewhere may hand over the rest.
          for (const [instance, token] of outcome.grants) handed.grant(instance, attempt, token);
          // Where it was not granted, it may have given its key back to a waiter ahead of it.
          for (const instance of this.instances) if (!outcome.grants.has(instance)) handed.forget(instance, attempt);
          // Out of the line where the keys were handed over; lockHandedOver leaves it elsewhere.
          const lock = await this.lockHandedOver(keys, value, ttl, handed, listener);
          if (lock !== undefined) return got(lock);
        } else {
          // Give back what this attempt may hold: everywhere except where the answer was "held" (the script then
          // set nothing). A late "yes" from an instance that timed out is covered too.
          const mayHold = this.instances.filter((instance) => !outcome.error.failures.some((f) => f.instance === instance.name && f.reason === 'held'));
          await this.releaseOn(mayHold, keys, value, false);
        }
        if (attempt > retryCount) throw new LockNotAcquiredError(keys, attempt, lastError);
        if (outcome.error instanceof LockHeldError && listener === undefined) {
          // From now on a release wakes us. One more attempt at once covers a release that came before the
          // subscription was in place.
          listener = await this.notifier.listen(channels, value);
          continue;
        }
        delay = this.backoff.delay(attempt, delay);
        // First in line on a majority, yet refused: the keys may be held by the partial grabs of other
        // contenders, which they give back at once (after a release no waiter was in line for, say), or by the
        // holder. Ask again soon a few times, then as usual (a release wakes us in any case). Not a waiter a
        // release can hand the lock to: a holder's release does, and contenders grab free keys only where the
        // line is empty, so asking again would only load the instances the hand-over needs (three attempts
        // during each 1 ms hold, measured).
        const awaitsHandOver = queued !== undefined && handed !== undefined && !this.instances.some((instance) => instance.client.cluster);
        quickRetries = 'firstInLine' in outcome && outcome.firstInLine === true && !awaitsHandOver ? quickRetries + 1 : 0;
        const wait = quickRetries > 0 && quickRetries <= QUICK_RETRIES ? Math.min(delay, QUICK_RETRY_MS) : delay;
        if (listener !== undefined) await listener.turn(wait, signal);
        else await sleep(wait, { signal, clock: this.clock }).catch(() => undefined);
        if (handed !== undefined && listener !== undefined) {
          const lock = await this.lockHandedOver(keys, value, ttl, handed, listener, signal);
          if (lock !== undefined) return got(lock);
        }
      }
    } finally {
      // Whatever the outcome (the lock, giving up, an abort, a close), every instance asked keeps this waiter's
      // place in line: a place of a holder, or of a waiter that is gone, would have the next release reserve the
      // key for nobody.
      if (joined) this.leaveLines(keys, value, new Set());
      // A waiter that gives up after standing in line may hold keys (its own attempts' or handed over): they go
      // to the next in line as a release would.
      if (joined && !acquired) void this.releaseOn(this.instances, keys, value, true);
      // Not awaited: unsubscribing is housekeeping, and an instance that does not answer would hold the lock's
      // return for a second (seen: a lock handed over with one of five instances down came back expired).
      if (listener !== undefined) void listener.close(acquired);
    }
  }

  /**
   * The lock, when releases (and this waiter's own attempts) handed its key over on a majority of instances whose
   * clocks keep time and the validity counted from the attempts they name has not run out; else undefined. When
   * some instances handed it over but not yet a majority, waits up to one request timeout for the rest (their
   * announcements are on their way) rather than sending an attempt at keys that are already ours.
   */
  private async lockHandedOver(
    keys: readonly string[],
    value: string,
    ttl: number,
    handed: HeldKeys,
    listener: ReleaseListener | undefined,
    signal?: AbortSignal,
  ): Promise<Lock | undefined> {
    const fold = (): void => {
      // The wait measured by the instance, on this clock: one ms less (both readings are whole ms), less the
      // drift allowance (clock rates differ by up to driftFactor, as for the TTL itself).
      for (const [index, grant] of listener?.grants() ?? []) {
        handed.grant(this.instances[index]!, grant.attempt, grant.token, Math.max(0, grant.waitedMs - 1) * (1 - this.driftFactor));
      }
    };
    fold();
    if (handed.size > 0 && handed.size < this.quorum && listener !== undefined) {
      await listener.next(this.requestTimeout, signal);
      fold();
    }
    const chosen = handed.majority(this.quorum, (instance) => instance.keepsTime);
    if (chosen === undefined) return undefined;
    const validUntil = this.validUntil(ttl, chosen.since);
    if (validUntil <= this.clock.now()) return undefined;
    const fenced = await this.fenceTokens(keys, chosen.tokens.map((token) => [token]), this.timeoutFor(ttl));
    if ('confirmed' in fenced || validUntil <= this.clock.now()) return undefined;
    const { tokens } = fenced;
    // Out of the line where the keys were handed over (RELEASE, or ACQUIRE where an attempt got one, did that);
    // elsewhere by leaveLines.
    this.leaveLines(keys, value, handed.instances);
    return new Lock(this.owner, keys, value, tokens, validUntil);
  }

  /**
   * Runs `routine` under a lock on `resources`, extending it automatically. The routine's signal aborts with a
   * `LockLostError` before the lock's validity runs out if an extension has not succeeded by then, even when
   * Redis never answers. The lock is released afterwards; a release problem never hides the routine's error.
   *
   * @returns the routine's result.
   * @throws LockLostError when the lock was lost while the routine ran (and the routine itself did not throw).
   */
  async using<T>(
    resources: string | readonly string[],
    ttl: number,
    routine: (signal: AbortSignal, lock: Lock) => Promise<T>,
    options: AcquireOptions = {},
  ): Promise<T> {
    if (typeof routine !== 'function') throw new InvalidArgumentError('routine', routine, 'a function');
    const lock = await this.acquire(resources, ttl, options);
    const controller = new AbortController();
    const keeper = new LockKeeper(lock, ttl, this.clock, (lost) => {
      this.telemetry.lostLock();
      controller.abort(lost);
    });
    let result: T;
    try {
      result = await routine(controller.signal, lock);
    } finally {
      keeper.stop();
      await lock.release();
    }
    if (controller.signal.aborted) throw controller.signal.reason;
    return result;
  }

  /** Stops the release listeners' connections; the clients passed in stay open (they are the caller's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const instance of this.instances) instance.detach();
    await this.notifier.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async attempt(keys: readonly string[], value: string, ttl: number, line: WaitingPlace | undefined): Promise<AttemptOutcome> {
    const started = this.clock.now();
    const scriptKeys = [...keys, ...(this.fencing ? keys.map(fenceKey) : []), ...keys.flatMap(queueKeys)];
    const lineArgs = line === undefined ? [1, 0, 0] : [2, line.place, line.keepMs];
    const args = [value, ttl, keys.length, this.fencing ? 1 : 0, ...lineArgs, this.restartGuardMs, line?.attempt ?? 0];
    // A Cluster is not handed locks over (its hand-over channel could not be checked for a listener on the node
    // that holds the key): its waiters are reserved the key and acquire as before.
    const channelFor = (instance: Instance): string => (instance.client.cluster ? '' : this.notifier.handOverChannel);
    const timeout = this.timeoutFor(ttl);
    let firstInLine = 0;
    const parse = (instance: Instance, reply: unknown): InstanceResult<number[]> => {
      if (Array.isArray(reply) && reply[0] === 0 && reply[2] === 1) firstInLine++;
      return parseAcquire(instance, keys, reply);
    };
    const results = await gather(
      this.instances,
      (instance) => instance.run(ACQUIRE, scriptKeys, [...args, channelFor(instance)], (reply) => parse(instance, reply), VOTE_CHECKS),
      this.quorum,
      isOk,
      timeout,
    );
    const granted = results.filter((r): r is { ok: true; value: number[] } => r.ok);
    const failures = failuresOf(results);
    const grants = new Map<Instance, number>();
    results.forEach((r, i) => r.ok && grants.set(this.instances[i]!, r.value[0] ?? 0));
    if (granted.length >= this.quorum) {
      const fenced = await this.fenceTokens(keys, granted.map((g) => g.value), timeout);
      const validUntil = this.validUntil(ttl, started);
      if ('confirmed' in fenced) return { error: new QuorumError(keys, this.quorum, fenced.confirmed, fenced.failures), grants };
      const { tokens } = fenced;
      if (validUntil > this.clock.now()) return { lock: new Lock(this.owner, keys, value, tokens, validUntil), granted: new Set(grants.keys()) };
      failures.push({ instance: 'all', reason: 'timeout', message: `validity ran out while acquiring (took ${Math.round(this.clock.now() - started)} ms of ${ttl})` });
      return { error: new QuorumError(keys, this.quorum, granted.length, failures), grants };
    }
    if (this.heldByOthers(failures)) return { error: new LockHeldError(keys, failures), firstInLine: firstInLine >= this.quorum, grants };
    return { error: new QuorumError(keys, this.quorum, granted.length, failures), grants };
  }

  /**
   * The fence tokens of a lock granted by a majority that counted `counted` (per instance, a token per key): the
   * highest per key, with a second round raising a majority's counters to them unless a majority counted to
   * exactly those tokens (counters in step: the usual case). Without fencing, none. The raise's shortfall when it
   * did not reach a majority.
   */
  private async fenceTokens(
    keys: readonly string[],
    counted: readonly (readonly number[])[],
    timeout: number,
  ): Promise<{ tokens: number[] } | { confirmed: number; failures: InstanceFailure[] }> {
    if (!this.fencing) return { tokens: [] };
    const tokens = keys.map((_, i) => Math.max(...counted.map((c) => c[i]!)));
    const atTokens = counted.filter((c) => tokens.every((token, i) => c[i] === token)).length;
    if (atTokens >= this.quorum) return { tokens };
    const fenced = await this.raiseFences(keys, tokens, timeout);
    return fenced.confirmed >= this.quorum ? { tokens } : fenced;
  }

  /** Raises the fence counters of `keys` to `tokens` on a majority (see RAISE_FENCE for why). */
  private async raiseFences(keys: readonly string[], tokens: readonly number[], timeout: number): Promise<{ confirmed: number; failures: InstanceFailure[] }> {
    const results = await gather(
      this.instances,
      (instance) => instance.run(RAISE_FENCE, keys.map(fenceKey), tokens, (): InstanceResult<true> => ({ ok: true, value: true })),
      this.quorum,
      isOk,
      timeout,
    );
    return { confirmed: results.filter(isOk).length, failures: failuresOf(results) };
  }

  private async extend(lock: Lock, ttl: number): Promise<void> {
    this.checkTtl(ttl);
    if (lock.released) throw new LockLostError(lock.resources, 'it was released');
    if (lock.expired) throw new LockLostError(lock.resources, 'it expired before the extension');
    const started = this.clock.now();
    const results = await gather(
      this.instances,
      (instance) =>
        instance.run(
          EXTEND,
          lock.resources,
          [lock.value, ttl],
          (reply) => ((reply as unknown[])[0] === 1 ? { ok: true, value: true } : instance.fail('held', 'the lock is no longer ours here')),
          { clock: true },
        ),
      this.quorum,
      isOk,
      this.timeoutFor(ttl),
    );
    const validUntil = this.validUntil(ttl, started);
    const confirmed = results.filter(isOk).length;
    if (confirmed >= this.quorum && validUntil > this.clock.now()) {
      lock.validUntil = validUntil;
      return;
    }
    const failures = failuresOf(results);
    // Failed, yet instances may have applied it (an answer that came too late, or a TTL shorter than what was
    // left): the keys may now expire when the new TTL says. Where a majority holds another value, it is gone.
    lock.validUntil = this.heldByOthers(failures) ? Math.min(lock.validUntil, this.clock.now()) : Math.min(lock.validUntil, validUntil);
    const why = failures.map((f) => `${f.instance} ${f.reason}`).join('; ');
    throw new LockLostError(lock.resources, `the extension was confirmed by ${confirmed} of the ${this.quorum} instances needed (${why})`, new QuorumError(lock.resources, this.quorum, confirmed, failures));
  }

  private async release(lock: Lock): Promise<ReleaseResult> {
    const expired = lock.expired;
    if (this.counted.delete(lock)) this.telemetry.released();
    const { deleted, reservedFor, grants, failures } = await this.releaseOn(this.instances, lock.resources, lock.value, true);
    lock.validUntil = Math.min(lock.validUntil, this.clock.now());
    // Our own waiters need not wait for the announcement to come back from Redis. Their attempts go out on the
    // same connections as the release's commands, behind them, so they find the keys gone everywhere (or
    // reserved for the waiter named); a waiter handed the lock learns which instances did so from the replies.
    this.notifier.releasedLocally(this.channelsOf(lock.resources), lock.value, reservedFor, grants);
    return { deleted, released: deleted >= this.quorum, expired, failures };
  }

  /**
   * Compare-and-delete on `instances`; returns on how many our keys were found and deleted, counted until a
   * majority confirmed (the rest are still asked, not waited for), and the waiter most of those instances
   * reserved the keys for, if any. Never rejects.
   */
  private async releaseOn(
    instances: readonly Instance[],
    keys: readonly string[],
    value: string,
    announce: boolean,
  ): Promise<{ deleted: number; reservedFor: string | undefined; grants: Map<number, Grant>; failures: InstanceFailure[] }> {
    const deletedHere = (r: InstanceResult<ReleaseReply>): boolean => r.ok && r.value.deleted > 0;
    // Only an announced release hands over; a failed attempt's give-back frees the keys for whoever asks next.
    const scriptKeys = announce ? [...keys, ...keys.map(fenceKey), ...keys.flatMap(queueKeys)] : keys;
    const args = [value, this.channelPrefix, announce ? 1 : 0, announce ? 1 : 0, this.reservationMs, this.restartGuardMs, this.notifier.handOverChannel];
    const results = await gather(
      instances,
      (instance) => instance.run(RELEASE, scriptKeys, args, parseRelease),
      this.quorum,
      deletedHere,
      this.requestTimeout,
    );
    const votes = new Map<string, number>();
    for (const r of results) if (r.ok && r.value.reservedFor !== undefined) votes.set(r.value.reservedFor, (votes.get(r.value.reservedFor) ?? 0) + 1);
    const [reservedFor] = [...votes].find(([, count]) => count >= this.quorum) ?? [];
    // Where the lock itself went to that waiter: by instance index, as the hand-over channel reports it.
    const grants = new Map<number, Grant>();
    results.forEach((r, i) => {
      if (r.ok && r.value.handedOver && r.value.reservedFor === reservedFor) grants.set(i, { attempt: r.value.attempt, token: r.value.token, waitedMs: r.value.waitedMs });
    });
    const deleted = results.filter(deletedHere).length;
    // Once a majority deleted, the rest were not waited for: nothing failed that matters.
    return { deleted, reservedFor, grants, failures: deleted >= this.quorum ? [] : failuresOf(results) };
  }

  /**
   * Takes a waiter that gave up, or got the lock, out of its resources' waiting lines on every instance but
   * `except` (those that granted it the lock took it out themselves), so that no release reserves a key for it.
   */
  private leaveLines(resources: readonly string[], value: string, except: ReadonlySet<Instance>): void {
    const run = (instance: Instance): Promise<InstanceResult<true>> => instance.run(LEAVE_LINE, resources.flatMap(queueKeys), [value], () => ({ ok: true, value: true }));
    // Not awaited: a place left behind lapses on its own, and a reservation made for it in the meantime lapses
    // after `reservationMs`. Instance.run never rejects.
    void Promise.all(this.instances.filter((instance) => !except.has(instance)).map(run));
  }

  /** True when the instances that answered "held" (another owner's value) alone keep anyone else from a majority. */
  private heldByOthers(failures: readonly InstanceFailure[]): boolean {
    return failures.filter((f) => f.reason === 'held').length > this.instances.length - this.quorum;
  }

  /** The pub/sub channels on which releases of `keys` are announced. */
  private channelsOf(keys: readonly string[]): string[] {
    return keys.map((key) => this.channelPrefix + key);
  }

  /** End of validity for keys set with `ttl` by requests sent at `started`: TTL - elapsed - drift from now. */
  private validUntil(ttl: number, started: number): number {
    return started + ttl - (ttl * this.driftFactor + 2);
  }

  private timeoutFor(ttl: number): number {
    return Math.max(1, Math.min(this.requestTimeout, ttl / 3));
  }

  private checkResources(resources: string | readonly string[]): string[] {
    const keys = typeof resources === 'string' ? [resources] : Array.isArray(resources) ? [...resources] : undefined;
    if (keys === undefined || keys.length === 0) throw new InvalidArgumentError('resources', resources, 'a resource name or a non-empty array of them');
    // Bounds that a round can meet: 10 MB names timed out on every instance and left the clients' queues busy
    // for most of a minute; 50,000 resources overflowed the stack of the client's argument handling.
    if (keys.length > MAX_RESOURCES) throw new InvalidArgumentError('resources', `${keys.length} resources`, `at most ${MAX_RESOURCES} resources in one lock`);
    keys.forEach((key, i) => {
      assertString(`resources[${i}]`, key);
      if (key.length > MAX_RESOURCE_LENGTH) throw new InvalidArgumentError(`resources[${i}]`, `${key.length} characters`, `a name of at most ${MAX_RESOURCE_LENGTH} characters`);
    });
    if (new Set(keys).size !== keys.length) throw new InvalidArgumentError('resources', resources, 'distinct resource names');
    // Fence counters and waiting lines are kept beside a resource's key, in its hash slot; a Cluster refuses them
    // (CROSSSLOT on every attempt) where the slot has no name. A single server takes any name.
    const unslotted = keys.findIndex((key) => !slotCanBeNamed(key));
    if (unslotted !== -1 && this.instances.some((instance) => instance.client.cluster)) {
      throw new InvalidArgumentError(`resources[${unslotted}]`, keys[unslotted], 'a name with a {hash tag}, or without "}", on a Redis Cluster');
    }
    return keys;
  }

  private checkTtl(ttl: number): void {
    assertNumber('ttl', ttl, { min: 1, max: this.maxTtl, integer: true });
    // A TTL whose drift allowance leaves no validity could never be granted: every attempt would fail.
    if (ttl - (ttl * this.driftFactor + 2) <= 0) {
      throw new InvalidArgumentError('ttl', ttl, `a TTL longer than its drift allowance (ttl * driftFactor + 2 ms = ${ttl * this.driftFactor + 2} ms)`);
    }
  }
}

/** An AbortSignal, also of another realm (a vm context's): what linkedSignal uses of one. */
function isAbortSignal(value: unknown): value is AbortSignal {
  const signal = value as Partial<AbortSignal> | null;
  return typeof signal?.aborted === 'boolean' && typeof signal.addEventListener === 'function';
}

/**
 * Which server an instance's `host:port` names, for telling two clients of one server apart: the host in lower
 * case, every loopback name (`localhost`, `127.x.x.x`, `::1`) as one.
 */
function serverOf(name: string): string {
  const colon = name.lastIndexOf(':');
  const host = name.slice(0, colon).replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  return `${loopback ? 'loopback' : host}:${name.slice(colon + 1)}`;
}

/** The most resources one lock takes (see checkResources). */
const MAX_RESOURCES = 1_024;
/** The longest resource name, in UTF-16 code units (Redis keys can be longer; a lock's should not be). */
const MAX_RESOURCE_LENGTH = 65_536;

/** How many times, and after how long (ms), a waiter first in line asks again after a refusal. */
const QUICK_RETRIES = 3;
const QUICK_RETRY_MS = 5;

/** The least clock-rate allowance, whatever the drift factor (see the constructor). */
const MIN_CLOCK_ALLOWANCE = 0.001;

/** An acquire's vote: from an instance whose clock keeps time (the script itself checks how long it has been up). */
const VOTE_CHECKS = { clock: true } as const;

/** Where a single resource's waiter stands in its waiting line: its place (epoch ms) and how long it is kept. */
interface WaitingPlace {
  readonly place: number;
  readonly keepMs: number;
  /** The attempt's number: a release that hands the lock over names it (see HeldKeys). */
  readonly attempt: number;
}

/**
 * How long an instance keeps a waiter's place after its attempt: past its next attempt (after `delay`, the
 * last retry delay; decorrelated jitter waits at most three times the last), at least a second. A waiter of a
 * process that died drops out of line after this.
 */
function placeKeptMs(delay: number | undefined): number {
  return Math.max(1_000, Math.ceil(3 * (delay ?? 0)) + 100);
}

export type { InstanceFailure };
