/**
 * The scripts of recurring jobs. A schedule is a field of the queue's schedules hash (`topic US version US
 * definition`, the version a random token per put, so readers can keep definitions they have seen) and
 * a member of its topic's schedule set, scored by the tick whose job is stored now. Putting, removing and
 * stepping a schedule each change the set and the tick jobs in one script, so a tick's job exists exactly when
 * its schedule stands on it, and a step is a compare-and-set on the score: of many workers stepping one tick,
 * one wins.
 */
import { NOW, PLAN, lua } from './scripts.js';

// Deletes a job that still waits (delayed in \`bucket\` or ready); a reserved, dead or done one stays. True when it went.
const DROP_WAITING = String.raw`local function drop_waiting(id, bucket, jobs, attempts, errors, ready_at, ready)
  if redis.call('ZREM', bucket, id) == 0 then
    if redis.call('HDEL', ready_at, id) == 0 then return false end
    redis.call('LREM', ready, 1, id)
  end
  redis.call('HDEL', jobs, id)
  redis.call('HDEL', attempts, id)
  redis.call('HDEL', errors, id)
  return true
end
`;

// Stores a tick's job (unless its id is pending or recently done) delayed until \`due\`; true when stored.
const ADD_TICK = String.raw`local function add_tick(id, due, bucket, record, jobs, done)
  if redis.call('ZSCORE', done, id) or redis.call('HSETNX', jobs, id, record) == 0 then return false end
  redis.call('ZADD', bucket, due, id)
  return true
end
`;

/**
 * KEYS: schedules, jobs, done, attempts, errors, ready-at, topics, new topic's schedule set, its next, its tick
 * bucket, old topic's schedule set, its ready list, old tick's bucket (the last three: the new topic's when there
 * was no schedule). ARGV: name, topic, version US definition, wake channel, tick id, tick, tick record, old topic ('' when
 * none), old tick, old tick id.
 * Replaces the schedule: the old tick's job goes if it still waits, the first tick's job goes in, and the topic's
 * schedule drivers in every process hear of it (U+0000 and the topic on the wake channel: no topic starts so), so
 * they step it from its first tick however short its period. Returns 1, or -1 when the schedule changed since
 * the caller read it (read again).
 */
export const SCHEDULE_PUT = lua(
  'schedule-put',
  NOW +
    PLAN +
    DROP_WAITING +
    ADD_TICK +
    String.raw`local current = redis.call('HGET', KEYS[1], ARGV[1])
local current_topic = current and string.match(current, '^([^\31]*)\31') or ''
if current_topic ~= ARGV[8] then return -1 end
if current then
  if tonumber(redis.call('ZSCORE', KEYS[11], ARGV[1])) ~= tonumber(ARGV[9]) then return -1 end
  redis.call('ZREM', KEYS[11], ARGV[1])
  drop_waiting(ARGV[10], KEYS[13], KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[12])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\31' .. ARGV[3])
local tick = tonumber(ARGV[6])
if add_tick(ARGV[5], tick, KEYS[10], ARGV[7], KEYS[2], KEYS[3]) then plan(math.max(now, tick), KEYS[9], ARGV[4], ARGV[2]) end
redis.call('ZADD', KEYS[8], tick, ARGV[1])
redis.call('SADD', KEYS[7], ARGV[2])
redis.call('PUBLISH', ARGV[4], '\0' .. ARGV[2])
return 1
`,
);

/**
 * KEYS: schedules, jobs, attempts, errors, ready-at, schedule set, ready, tick bucket. ARGV: name, topic, tick,
 * tick id. Deletes the schedule and its tick's job if that still waits. Returns 1, 0 (none), or -1 when it
 * changed since the caller read it.
 */
export const SCHEDULE_REMOVE = lua(
  'schedule-remove',
  DROP_WAITING +
    String.raw`local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return 0 end
if string.match(current, '^([^\31]*)\31') ~= ARGV[2] or tonumber(redis.call('ZSCORE', KEYS[6], ARGV[1])) ~= tonumber(ARGV[3]) then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
drop_waiting(ARGV[4], KEYS[8], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7])
return 1
`,
);

/**
 * KEYS: schedules, schedule set. ARGV: limit.
 * The topic's schedules whose tick is due: {now, next tick of the rest or -1, name, tick, version, ...}. Not the
 * definitions: a driver reads those once per version (at thousands of schedules a second they were most of the
 * reply, read again by every driver every second).
 */
export const SCHEDULE_DUE = lua(
  'schedule-due',
  NOW +
    String.raw`local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local later = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
local out = {now, later[2] or -1}
for i = 1, #due, 2 do
  local stored = redis.call('HGET', KEYS[1], due[i])
  if stored then
    out[#out + 1] = due[i]
    out[#out + 1] = due[i + 1]
    out[#out + 1] = string.match(stored, '^[^\31]*\31([^\31]*)\31')
  end
end
return out
`,
);

/**
 * KEYS: schedules, jobs, done, attempts, errors, ready-at, ready, next, schedule set, bucket 1..n. ARGV: wake
 * channel, topic, steps: separated by U+001D, each \`name RS from RS drop RS from's bucket RS from's id RS id RS
 * tick RS bucket RS record\` (RS = U+001E; id '' when the schedule ends; drop 1 to delete from's job if it
 * still waits). A step happens only while the schedule stands on \`from\`. Returns per step 2 (stepped, and from's
 * job deleted), 1 (stepped) or 0 (not: another worker was first, or the schedule changed).
 */
export const SCHEDULE_STEP = lua(
  'schedule-step',
  NOW +
    PLAN +
    DROP_WAITING +
    ADD_TICK +
    String.raw`local out = {}
local earliest = nil
local steps = ARGV[3]
local pos, len = 1, #steps
while pos <= len do
  local stop = string.find(steps, '\29', pos, true) or (len + 1)
  local f = {}
  local at = pos
  for i = 1, 8 do
    local sep = string.find(steps, '\30', at, true)
    f[i] = string.sub(steps, at, sep - 1)
    at = sep + 1
  end
  local record = string.sub(steps, at, stop - 1)
  local name = f[1]
  if tonumber(redis.call('ZSCORE', KEYS[9], name)) == tonumber(f[2]) then
    local dropped = f[3] == '1' and drop_waiting(f[5], KEYS[9 + tonumber(f[4])], KEYS[2], KEYS[4], KEYS[5], KEYS[6], KEYS[7])
    if f[6] == '' then
      redis.call('ZREM', KEYS[9], name)
      redis.call('HDEL', KEYS[1], name)
    else
      local tick = tonumber(f[7])
      if add_tick(f[6], tick, KEYS[9 + tonumber(f[8])], record, KEYS[2], KEYS[3]) and (not earliest or tick < earliest) then earliest = tick end
      redis.call('ZADD', KEYS[9], tick, name)
    end
    out[#out + 1] = dropped and 2 or 1
  else
    out[#out + 1] = 0
  end
  pos = stop + 1
end
if earliest then plan(math.max(now, earliest), KEYS[8], ARGV[1], ARGV[2]) end
return out
`,
);
