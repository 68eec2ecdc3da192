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
const NOW = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;

/**
 * ARGV: value, ttl ms, resource count n, fencing (1/0).
 * Returns {now, 1, fence1, ..., fenceN} when granted (fences 0 without fencing), {now, 0, i} when resource i is
 * held by another value. A key already holding our value (left by an attempt whose answer we missed) counts as
 * ours.
 */
export const ACQUIRE = script(`
${NOW}
local n = tonumber(ARGV[3])
for i = 1, n do
  local current = redis.call('GET', KEYS[i])
  if current and current ~= ARGV[1] then return {now, 0, i} end
end
local result = {now, 1}
for i = 1, n do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
  if ARGV[4] == '1' then result[i + 2] = redis.call('INCR', KEYS[n + i]) else result[i + 2] = 0 end
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
 * ARGV: value, channel prefix, announce (1/0). Deletes each key that still holds our value and, when asked to,
 * announces it on `<prefix><key>` so a waiter wakes at once; the message is the released value (worthless once
 * deleted), so the releasing process can tell its own releases, which it announced locally already. Giving back
 * the minority of a failed attempt is not announced: nobody could have been waiting for that. Returns how many
 * keys were deleted.
 */
export const RELEASE = script(`
local deleted = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
    if ARGV[3] == '1' then redis.call('PUBLISH', ARGV[2] .. KEYS[i], ARGV[1]) end
    deleted = deleted + 1
  end
end
return deleted
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

/**
 * The fence counter key of a resource, in the resource's hash slot: the resource's own hash tag when it has one,
 * else the whole resource name as the tag.
 */
export function fenceKey(resource: string): string {
  const open = resource.indexOf('{');
  const close = open === -1 ? -1 : resource.indexOf('}', open + 1);
  return close > open + 1 ? `${resource}:fence` : `{${resource}}:fence`;
}
