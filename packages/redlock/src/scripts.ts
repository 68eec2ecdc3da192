/**
 * The Lua scripts run on each instance. Every key a script touches is passed in KEYS (Redis Cluster routes by
 * them); all of them are checked or changed atomically on that instance.
 *
 * KEYS layout for acquire: the n resource keys, then (with fencing) their n fence counter keys.
 */
import { createHash } from 'node:crypto';

/** A script with its SHA1, for EVALSHA with EVAL as fallback. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): LuaScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * The instance's clock in ms, as `now`: the scripts that count as votes answer with it first, so that a clock
 * running fast is noticed (see clock-watch.ts). Redis expires keys by this clock.
 */
const NOW_MS = `local function now_ms()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end`;
const NOW = `${NOW_MS}
local now = now_ms()`;

/** `leave_line(line, kept, at, value)`: takes `value` out of a waiting line: its place, its expiry, its arrival. */
const LEAVE = `local function leave_line(line, kept, at, value)
  redis.call('ZREM', line, value)
  redis.call('ZREM', kept, value)
  redis.call('HDEL', at, value)
end`;

/**
 * `first_waiter(line, kept, at, now)`: the first value of a waiting line whose place is still kept, dropping the
 * lapsed ones (and their arrivals) before it (at most 32 at a time, to bound the script), or nil. Needs LEAVE.
 */
const FIRST_WAITER = `local function first_waiter(line, kept, at, now)
  for _ = 1, 32 do
    local first = redis.call('ZRANGE', line, 0, 0)[1]
    if not first then return nil end
    if tonumber(redis.call('ZSCORE', kept, first) or '0') > now then return first end
    leave_line(line, kept, at, first)
  end
  return nil
end`;

/**
 * `guard_left(guard)`: with the delayed-restart guard `guard` (ms, a string; '0' is off), the ms left before
 * this server has been up that long (0 or less: past it), or nil when INFO has no uptime.
 */
const GUARD_LEFT = `local function guard_left(guard)
  if guard == '0' then return 0 end
  local uptime = string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)')
  if not uptime then return nil end
  return tonumber(guard) - tonumber(uptime) * 1000
end`;

/**
 * The delayed-restart rule, checked where the keys are: when ARGV[8] (the guard, ms) is not 0 and the server has
 * been up for less than that, it may have restarted and lost keys, and the script answers {now, 2, ms left}
 * without granting. Checked inside the script rather than by asking the uptime beforehand: a client sends the
 * commands it queued while disconnected as soon as it reconnects, before any other question can reach the
 * restarted server. INFO in a script costs about 5 µs of the server's time.
 */
const RESTART_GUARD = `${GUARD_LEFT}
local restart_left = guard_left(ARGV[8])
if not restart_left then return redis.error_reply('ERR INFO server has no uptime_in_seconds') end
if restart_left > 0 then return {now, 2, restart_left} end`;

/**
 * ARGV: value, ttl ms, resource count n, fencing (1/0), line (0: none, 1: checked, 2: checked and joined), the
 * waiter's place (its wait's start, epoch ms), how long its place is kept (ms), the restart guard (ms, 0: off;
 * see RESTART_GUARD), the attempt's number, the channel its process hears hand-overs on ('' for none).
 * KEYS: the n resource keys, then (with fencing) their n fence counter keys, then (with a line) each resource's
 * waiting line, the line's expiries and its arrivals, in threes (see queueKeys).
 * Returns {now, 1, fence1, ..., fenceN} when granted (fences 0 without fencing), {now, 2, ms} when the server
 * restarted less than the guard ago, {now, 0, i, first} when
 * resource i is held by another value (first: 1 when the value is first in line), or is free while another
 * waiter is first in its line. A key already holding our value
 * (left by an attempt whose answer we missed, or handed to us by a release: see RELEASE) counts as ours, except
 * that a waiter in line gives it back (deletes it, and is refused) when another waiter is first in the line: the
 * caller no longer counts that instance (HeldKeys.forget).
 *
 * The line: joining puts the value in it (ordered by its place; a place kept stays where it was) or refreshes
 * how long it is kept, whether this instance grants or not: the attempt may still fail on the others, and every
 * instance must keep the same line, or they would favour different waiters. A free key goes only to the first
 * waiter in line (or anyone when the line is empty): a newcomer, or a waiter further back, cannot take an
 * instance from under the one whose turn it is and split the votes. Joining also notes when this attempt
 * arrived (this instance's clock), its number, TTL, fencing, resource count and channel: what a release needs to
 * hand the lock over (RELEASE). The acquirer leaves the line once it holds the lock: an instance that grants to a
 * waiter in line takes it out of the line there, the others are left by LEAVE_LINE.
 */
export const ACQUIRE = script(`
${NOW}
${RESTART_GUARD}
${LEAVE}
${FIRST_WAITER}
local n = tonumber(ARGV[3])
-- Resource i's line, its expiries and its arrivals are KEYS[lines + 3i - 2], KEYS[lines + 3i - 1], KEYS[lines + 3i].
local lines = n + (ARGV[4] == '1' and n or 0)
if ARGV[5] == '2' then
  local keep = tonumber(ARGV[7])
  local arrival = now .. ' ' .. ARGV[9] .. ' ' .. ARGV[2] .. ' ' .. ARGV[4] .. ' ' .. n .. ' ' .. ARGV[10]
  for i = 1, n do
    local line = lines + 3 * i - 2
    redis.call('ZADD', KEYS[line], 'NX', ARGV[6], ARGV[1])
    redis.call('ZADD', KEYS[line + 1], now + keep, ARGV[1])
    redis.call('HSET', KEYS[line + 2], ARGV[1], arrival)
    for k = line, line + 2 do
      if redis.call('PTTL', KEYS[k]) < keep then redis.call('PEXPIRE', KEYS[k], keep) end
    end
  end
end
for i = 1, n do
  local current = redis.call('GET', KEYS[i])
  local line = lines + 3 * i - 2
  if current and current ~= ARGV[1] then
    local first = ARGV[5] == '2' and first_waiter(KEYS[line], KEYS[line + 1], KEYS[line + 2], now) == ARGV[1]
    return {now, 0, i, first and 1 or 0}
  end
  -- A free key, or (for a waiter in line) one it kept from an earlier attempt, goes to the first waiter only: a
  -- waiter that began waiting later gives its kept key back to the one ahead of it, or each could hold keys the
  -- other needs for as long as an instance does not vote.
  if ARGV[5] ~= '0' and (not current or ARGV[5] == '2') then
    local first = first_waiter(KEYS[line], KEYS[line + 1], KEYS[line + 2], now)
    if first and first ~= ARGV[1] then
      if current then redis.call('DEL', KEYS[i]) end
      return {now, 0, i, 0}
    end
  end
end
local result = {now, 1}
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  if ARGV[4] == '1' then result[i + 2] = redis.call('INCR', KEYS[n + i]) else result[i + 2] = 0 end
  -- Granted here: a single resource's waiter leaves the line now (one round less than leaving it after the lock
  -- is ours: it keeps this key should the attempt fail elsewhere). A multi-resource waiter gives its keys back
  -- after a failed attempt, so it keeps its place until the lock is its own, or a waiter behind it would take
  -- the keys it just gave back.
  if ARGV[5] == '2' and n == 1 then
    local line = lines + 3 * i - 2
    leave_line(KEYS[line], KEYS[line + 1], KEYS[line + 2], ARGV[1])
  end
end
return result
`);

/**
 * KEYS: fence counter keys; ARGV: a token for each. Raises each counter to its token where it is lower.
 *
 * Why: acquiring increments the counters only on the instances that grant, so they drift apart, and the
 * largest one (the token handed out) may sit on instances the next majority does not include. Raising a
 * majority's counters to the token before the lock is returned makes every later majority (which shares an
 * instance with this one) count past it. Returns 1.
 */
export const RAISE_FENCE = script(`
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current < tonumber(ARGV[i]) then redis.call('SET', KEYS[i], ARGV[i]) end
end
return 1
`);

/**
 * ARGV: value, channel prefix, announce (1/0), queue (1/0), reservation ms, restart guard ms (0: off), the
 * releasing process's own hand-over channel.
 * KEYS: the n resource keys, then (when queueing) their n fence counter keys and each resource's waiting line,
 * its expiries and its arrivals, in threes.
 * Deletes each key that still holds our value and, when asked to, announces it on `<prefix><key>` so a waiter
 * wakes at once; the message is the released value (worthless once deleted), so the releasing process can tell
 * its own releases, which it announced locally already. Giving back the minority of a failed attempt is not
 * announced: nobody could have been waiting for that.
 *
 * Hand-over, in the same script, to the first waiter in line whose place is still kept (so no other acquirer
 * can slip in between), in one of two ways:
 * - **The lock itself**, when that waiter asks for this one resource, its process still listens on its channel
 *   (PUBSUB NUMSUB: a process that died has no subscriber left), its last attempt arrived here at most its TTL
 *   ago and this server has been up for longer than the restart guard: the key gets the waiter's value and its
 *   TTL, the fence counter counts on for it, and its process hears `<released value> <waiter's value> <attempt>
 *   <fence token> <ms since that attempt arrived>` on its channel (unless it is the releasing process, which
 *   reads it in this script's reply). The waiter started that attempt before it arrived here, and the key was
 *   set the given ms later by this instance's clock: its validity counts from that start plus those ms less the
 *   drift allowance, so it ends before this key expires (see README: hand-over).
 * - **A reservation** otherwise: the key holds the waiter's value for the reservation's short TTL and everyone
 *   hears `<released value> <waiter's value>` on `<prefix><key>`; the waiter acquires as usual, its attempt
 *   finding its own value here and counting the instance as granted (see ACQUIRE). A reservation is not a lock.
 *   The waiter stays first in line until it holds the lock or its place lapses, which is then at the latest
 *   when the reservation does.
 * The releasing value leaves the line (an instance that refused its attempt kept its place). Returns {deleted,
 * the waiter handed to (or false), 1 when it was given the lock (else 0), its attempt, its fence token, ms since
 * that attempt arrived} for the last resource.
 */
export const RELEASE = script(`
${NOW_MS}
${LEAVE}
${FIRST_WAITER}
${GUARD_LEFT}
local deleted, now = 0, nil
local waiter, handed, attempt, token, waited = false, 0, 0, 0, 0
local n = ARGV[4] == '1' and #KEYS / 5 or #KEYS
local function long_up()
  local left = guard_left(ARGV[6])
  return left ~= nil and left <= 0
end
for i = 1, n do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    deleted = deleted + 1
    if ARGV[3] == '1' then
      local message, channel = ARGV[1], ARGV[2] .. KEYS[i]
      waiter, handed, attempt, token, waited = false, 0, 0, 0, 0
      if ARGV[4] == '1' then
        local line, kept, at = KEYS[2 * n + 3 * i - 2], KEYS[2 * n + 3 * i - 1], KEYS[2 * n + 3 * i]
        -- No line (nobody waits: the common case) leaves nothing to leave or hand over. A line that emptied is
        -- gone too (Redis deletes an empty sorted set), and its expiries and arrivals hold only lapsed places.
        local first = nil
        if redis.call('EXISTS', line) == 1 then
          now = now_ms()
          leave_line(line, kept, at, ARGV[1])
          first = first_waiter(line, kept, at, now)
        end
        if first then
          waiter = first
          -- Its last attempt: when it arrived here, its number, TTL, fencing, resource count, its process's channel.
          local arrived, tried, ttl, fencing, count, to = string.match(redis.call('HGET', at, first) or '', '^(%d+) (%d+) (%d+) (%d) (%d+) (.*)$')
          local age = arrived and now - tonumber(arrived) or -1
          if age >= 0 and age <= tonumber(ttl) and count == '1' and to ~= '' and redis.call('PUBSUB', 'NUMSUB', to)[2] > 0 and long_up() then
            redis.call('SET', KEYS[i], first, 'PX', ttl)
            if fencing == '1' then token = redis.call('INCR', KEYS[n + i]) end
            leave_line(line, kept, at, first)
            handed, attempt, waited = 1, tonumber(tried), age
            message = ARGV[1] .. ' ' .. first .. ' ' .. tried .. ' ' .. token .. ' ' .. age
            -- The releasing process's own waiter learns it from this reply: no message to read.
            channel = to ~= ARGV[7] and to or nil
          else
            redis.call('SET', KEYS[i], first, 'PX', ARGV[5])
            message = ARGV[1] .. ' ' .. first
            -- Its place lapses with the reservation unless it comes for the key: a waiter that died in line then
            -- costs the others one reservation, not the rest of its place. A live one's attempt keeps its place
            -- (and puts it back where it was, should it come late: places are ordered by when each began waiting).
            local until_ms = now + tonumber(ARGV[5])
            if tonumber(redis.call('ZSCORE', kept, first)) > until_ms then redis.call('ZADD', kept, until_ms, first) end
          end
        end
      end
      if channel then redis.call('PUBLISH', channel, message) end
    end
  end
end
return {deleted, waiter, handed, attempt, token, waited}
`);

/**
 * KEYS: resources' waiting lines, their expiries and their arrivals, in threes; ARGV: value. Leaves the lines (a
 * waiter that gave up, or got the lock), so that no release hands a key to it. Returns 1.
 */
export const LEAVE_LINE = script(`
${LEAVE}
for i = 1, #KEYS, 3 do leave_line(KEYS[i], KEYS[i + 1], KEYS[i + 2], ARGV[1]) end
return 1
`);

/** ARGV: value, ttl ms. Extends every key only if all still hold our value. Returns {now, 1} or {now, 0}. */
export const EXTEND = script(`
${NOW}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return {now, 0} end
end
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return {now, 1}
`);

/** A key's hash tag (between its first `{` and the first `}` after it, when not empty), or undefined. */
function hashTagOf(key: string): string | undefined {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : undefined;
}

/**
 * True when keys can be made beside `resource` in its Redis Cluster hash slot: it has a hash tag, or none of
 * its characters is a `}` (the whole name then serves as the derived keys' tag). `a}` and `a{}b` are hashed
 * whole, and no tag can name them.
 */
export function slotCanBeNamed(resource: string): boolean {
  return hashTagOf(resource) !== undefined || !resource.includes('}');
}

/** The fence counter key of a resource. Kept as it has always been named: the counters outlive deployments. */
export function fenceKey(resource: string): string {
  return hashTagOf(resource) !== undefined ? `${resource}:fence` : `{${resource}}:fence`;
}

/**
 * A resource's waiting line (a sorted set of waiters' values by their places), the line's expiries (the same
 * values by the instance time until which each place is kept) and its arrivals (a hash: each waiter's last
 * attempt, see ACQUIRE): `{tag}:line:<resource>`, where the tag is the resource's own or the whole name, so that
 * no two resources share a line (`x` and `{x}` share a slot).
 */
export function queueKeys(resource: string): [line: string, expiries: string, arrivals: string] {
  const tag = hashTagOf(resource) ?? resource;
  return [`{${tag}}:line:${resource}`, `{${tag}}:line-kept:${resource}`, `{${tag}}:line-at:${resource}`];
}
