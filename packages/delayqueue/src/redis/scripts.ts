/**
 * The Lua scripts: every change of a job's state is one script, so it is atomic, and every key a script touches
 * is in its KEYS (all share the queue's hash tag, so the queue runs on Redis Cluster). Time is the Redis
 * server's (TIME), so producers and consumers with skewed clocks agree on when a job is due.
 *
 * A job is in exactly one place: a delayed bucket, its topic's ready list (with ready-at), the reserved set,
 * the dead set, or nowhere (done: its id in the done set). The pool hash holds the record throughout.
 */
import { createHash } from 'node:crypto';

/** A script and its SHA1, for EVALSHA with EVAL as fallback. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

export function lua(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

// Server time in epoch ms.
export const NOW = String.raw`local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

// Fields of a record (record.ts): version, topic, maxAttempts, ttr, ...
const FIELDS = String.raw`local function topic_of(rec) return string.match(rec, '^[^\31]*\31([^\31]*)') end
local function max_attempts_of(rec) return tonumber(string.match(rec, '^[^\31]*\31[^\31]*\31(%d+)')) end
local function ttr_of(rec) return tonumber(string.match(rec, '^[^\31]*\31[^\31]*\31%d+\31(%d+)')) end
`;

// After scheduling something due at \`due\` in \`topic\`: if no mover plans to look that early, record the new
// time and wake the movers (pub/sub reaches every process's mover, busy consumers or not; a message missed
// while disconnected costs at most the movers' rescan interval).
export const PLAN = String.raw`local function plan(due, next_key, channel, topic)
  local planned = tonumber(redis.call('GET', next_key))
  if not planned or due < planned then
    redis.call('SET', next_key, due)
    redis.call('PUBLISH', channel, topic)
  end
end
`;

// True when ARGV id's current delivery is number \`attempt\` and still reserved.
const CURRENT = String.raw`local function current(attempts_key, reserved_key, id, attempt)
  return tonumber(redis.call('HGET', attempts_key, id)) == tonumber(attempt) and redis.call('ZSCORE', reserved_key, id)
end
`;

/**
 * KEYS: jobs, done, next, topics, bucket 1..n of one topic. ARGV: wake channel, topic, jobs.
 * \`jobs\` packs every job in one string (one argument instead of five per job: the client's cost per argument
 * dominated adding): jobs separated by U+001D, each \`id US due US bucket US check US record\` with U+001E
 * between fields; due is epoch ms (server clock), bucket 1..n, check 1 for a caller's id (which may exist) and
 * 0 for a fresh random 96-bit id (which cannot). Ids, topics and JSON payloads never contain these characters.
 * Adds each job whose id is neither pending nor recently done (a repeated id, also within the call, adds
 * nothing). The per-call cost (reading the clock, checking whether movers must wake, naming the topic in the set
 * of topics) is paid once. Returns a table of 1 (added) / 0 (existed), one per job.
 */
export const ADD = lua(
  'add',
  NOW +
    PLAN +
    String.raw`local out = {}
local earliest = nil
local jobs = ARGV[3]
local pos, len = 1, #jobs
while pos <= len do
  local stop = string.find(jobs, '\29', pos, true) or (len + 1)
  local a = string.find(jobs, '\30', pos, true)
  local b = string.find(jobs, '\30', a + 1, true)
  local c = string.find(jobs, '\30', b + 1, true)
  local d = string.find(jobs, '\30', c + 1, true)
  local id = string.sub(jobs, pos, a - 1)
  local record = string.sub(jobs, d + 1, stop - 1)
  local added
  if string.sub(jobs, c + 1, d - 1) == '0' then
    redis.call('HSET', KEYS[1], id, record)
    added = true
  else
    added = not redis.call('ZSCORE', KEYS[2], id) and redis.call('HSETNX', KEYS[1], id, record) == 1
  end
  if added then
    local due = math.max(now, tonumber(string.sub(jobs, a + 1, b - 1)))
    redis.call('ZADD', KEYS[4 + tonumber(string.sub(jobs, b + 1, c - 1))], due, id)
    if not earliest or due < earliest then earliest = due end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
  pos = stop + 1
end
if earliest then
  plan(earliest, KEYS[3], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[2])
end
return out
`,
);

/**
 * KEYS: jobs, attempts, ready-at, errors, ready, reserved, dead, next, signal, paused, bucket 1..n. ARGV: limit, topic.
 * Moves up to \`limit\` due jobs from the buckets to the ready list (in due order across the buckets), and takes
 * back up to \`limit\` deliveries whose ttr ran out (ready again, or dead when they had no attempts left). Then
 * records in \`next\` when this topic next needs a mover, and leaves consumers a few tokens if jobs are ready and
 * something moved, unless the topic is paused (a paused topic's jobs still become ready, in order, for its resume).
 * Returns {moved, expired, buried, next due or -1, now}.
 */
export const MOVE = lua(
  'move',
  NOW +
    FIELDS +
    String.raw`local limit = tonumber(ARGV[1])
local due = {}
for i = 11, #KEYS do
  if #due >= limit then break end
  local found = redis.call('ZRANGE', KEYS[i], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit - #due, 'WITHSCORES')
  if #found > 0 then
    local ids = {}
    for j = 1, #found, 2 do
      ids[#ids + 1] = found[j]
      due[#due + 1] = {found[j], found[j + 1], tonumber(found[j + 1])}
    end
    redis.call('ZREM', KEYS[i], unpack(ids))
  end
end
local moved = #due
if moved > 0 then
  -- Each bucket is in due order already; jobs from several are merged into one order for the ready list.
  if #KEYS > 11 then table.sort(due, function(a, b) return a[3] < b[3] end) end
  local ids = {}
  local at = {}
  for j = 1, moved do
    ids[j] = due[j][1]
    at[#at + 1] = due[j][1]
    at[#at + 1] = due[j][2]
  end
  redis.call('HSET', KEYS[3], unpack(at))
  redis.call('LPUSH', KEYS[5], unpack(ids))
end
local expired, buried = 0, 0
local late = redis.call('ZRANGE', KEYS[6], '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
for _, id in ipairs(late) do
  redis.call('ZREM', KEYS[6], id)
  expired = expired + 1
  local rec = redis.call('HGET', KEYS[1], id)
  if rec then
    local attempts = tonumber(redis.call('HGET', KEYS[2], id)) or 0
    if attempts >= max_attempts_of(rec) then
      redis.call('ZADD', KEYS[7], now, id)
      redis.call('HSET', KEYS[4], id, 'time to run (' .. ttr_of(rec) .. ' ms) ran out on delivery ' .. attempts)
      buried = buried + 1
    else
      redis.call('HSET', KEYS[3], id, now)
      redis.call('LPUSH', KEYS[5], id)
    end
  end
end
-- Tokens for what became ready, and for jobs already waiting when deliveries ended here (slots freed under a
-- concurrency limit).
if (moved + expired) > 0 and redis.call('SISMEMBER', KEYS[10], ARGV[2]) == 0 then
  local want = math.min(redis.call('LLEN', KEYS[5]), 16) - redis.call('LLEN', KEYS[9])
  for _ = 1, want do redis.call('RPUSH', KEYS[9], '1') end
end
local next_at = nil
for i = 11, #KEYS do
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  if first[2] and (not next_at or tonumber(first[2]) < next_at) then next_at = tonumber(first[2]) end
end
local first = redis.call('ZRANGE', KEYS[6], 0, 0, 'WITHSCORES')
if first[2] and (not next_at or tonumber(first[2]) < next_at) then next_at = tonumber(first[2]) end
if next_at then redis.call('SET', KEYS[8], next_at) else redis.call('DEL', KEYS[8]) end
return {moved, expired, buried, next_at or -1, now}
`,
);

/**
 * KEYS: jobs, attempts, ready-at, ready, reserved, signal, next, paused, limits, rate. ARGV: max, wake channel, topic.
 * Takes up to \`max\` ready jobs and reserves each until now + its ttr; makes sure some mover plans to look
 * at the earliest of those deadlines (this process's mover may die with the consumer).
 * The topic's limits (\`limits\` field: "rate max, interval ms, concurrency", 0 for none) cap how many: reservations
 * within the last interval (the \`rate\` sorted set, one entry per delivery) and jobs reserved at once.
 * Returns {now, wait, id1, attempt1, dueAt1, record1, id2, ...}: \`wait\` is -1, or the ms until the rate window
 * lets more out when it held some back. Passes a token on when jobs remain ready and more may go out now.
 * A paused or limited topic passes no token on: its consumers wait for a resume, an ack or the window.
 */
export const RESERVE = lua(
  'reserve',
  NOW +
    FIELDS +
    PLAN +
    String.raw`if redis.call('SISMEMBER', KEYS[8], ARGV[3]) == 1 then return {now, -1} end
local want = tonumber(ARGV[1])
local wait = -1
local rate, interval = 0, 0
local spec = redis.call('HGET', KEYS[9], ARGV[3])
if spec then
  local concurrency
  rate, interval, concurrency = string.match(spec, '^(%d+):(%d+):(%d+)$')
  rate, interval, concurrency = tonumber(rate), tonumber(interval), tonumber(concurrency)
  if concurrency > 0 then want = math.min(want, concurrency - redis.call('ZCARD', KEYS[5])) end
  if rate > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', now - interval)
    local room = rate - redis.call('ZCARD', KEYS[10])
    if room < want then
      want = room
      local oldest = redis.call('ZRANGE', KEYS[10], 0, 0, 'WITHSCORES')[2]
      if oldest then wait = math.max(1, tonumber(oldest) + interval - now) end
    end
  end
end
if want <= 0 then return {now, wait} end
local out = {now, wait}
local earliest = nil
local ids = redis.call('RPOP', KEYS[4], want)
if ids then
  for _, id in ipairs(ids) do
    local rec = redis.call('HGET', KEYS[1], id)
    if rec then
      local due = tonumber(redis.call('HGET', KEYS[3], id)) or now
      redis.call('HDEL', KEYS[3], id)
      local attempt = redis.call('HINCRBY', KEYS[2], id, 1)
      local deadline = now + ttr_of(rec)
      redis.call('ZADD', KEYS[5], deadline, id)
      if rate > 0 then redis.call('ZADD', KEYS[10], now, id .. '\31' .. attempt) end
      if not earliest or deadline < earliest then earliest = deadline end
      out[#out + 1] = id
      out[#out + 1] = attempt
      out[#out + 1] = due
      out[#out + 1] = rec
    end
  end
end
if rate > 0 then redis.call('PEXPIRE', KEYS[10], interval) end
if earliest then plan(earliest, KEYS[7], ARGV[2], ARGV[3]) end
if wait < 0 and redis.call('LLEN', KEYS[4]) > 0 and redis.call('LLEN', KEYS[6]) == 0 then redis.call('RPUSH', KEYS[6], '1') end
return out
`,
);

// After a delivery ends (a slot frees under a concurrency limit): a token for a consumer if jobs wait.
const WAKE = String.raw`local function wake(ready_key, signal_key)
  if redis.call('LLEN', ready_key) > 0 and redis.call('LLEN', signal_key) == 0 then redis.call('RPUSH', signal_key, '1') end
end
`;

/**
 * KEYS: jobs, attempts, errors, done, reserved, ready, signal. ARGV: keepDone, then pairs of id, attempt.
 * Finishes each delivery that is still current. Returns a table of 1/0, one per pair.
 */
export const ACK = lua(
  'ack',
  NOW +
    CURRENT +
    WAKE +
    String.raw`local keep = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if current(KEYS[2], KEYS[5], id, ARGV[i + 1]) then
    redis.call('ZREM', KEYS[5], id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    if keep > 0 then redis.call('ZADD', KEYS[4], now, id) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
if keep > 0 then redis.call('ZREMRANGEBYRANK', KEYS[4], 0, -(keep + 1)) end
wake(KEYS[6], KEYS[7])
return out
`,
);

/**
 * KEYS: attempts, errors, reserved, bucket, next, ready, signal. ARGV: id, attempt, delay, error, wake channel, topic.
 * Puts a failed delivery back as delayed. Returns 1, or 0 when the delivery is no longer current.
 */
export const RETRY = lua(
  'retry',
  NOW +
    CURRENT +
    PLAN +
    WAKE +
    String.raw`if not current(KEYS[1], KEYS[3], ARGV[1], ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
local due = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[4], due, ARGV[1])
plan(due, KEYS[5], ARGV[5], ARGV[6])
wake(KEYS[6], KEYS[7])
return 1
`,
);

/** KEYS: attempts, errors, reserved, dead, ready, signal. ARGV: id, attempt, error. Dead-letters a current delivery. */
export const BURY = lua(
  'bury',
  NOW +
    CURRENT +
    WAKE +
    String.raw`if not current(KEYS[1], KEYS[3], ARGV[1], ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], now, ARGV[1])
wake(KEYS[5], KEYS[6])
return 1
`,
);

/** KEYS: attempts, reserved. ARGV: id, attempt, ttr. Moves a current delivery's deadline to now + ttr. */
export const EXTEND = lua(
  'extend',
  NOW +
    CURRENT +
    String.raw`if not current(KEYS[1], KEYS[2], ARGV[1], ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[3]), ARGV[1])
return 1
`,
);

/**
 * KEYS: jobs, attempts, errors, ready-at, ready, reserved, dead, bucket. ARGV: id, topic.
 * Deletes a delayed, ready or dead job. Returns 1, 0 (not found or reserved), or -1 (the id now belongs to
 * another topic: the caller read a stale record).
 */
export const CANCEL = lua(
  'cancel',
  FIELDS +
    String.raw`local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
if topic_of(rec) ~= ARGV[2] then return -1 end
if redis.call('ZSCORE', KEYS[6], ARGV[1]) then return 0 end
local removed = redis.call('ZREM', KEYS[8], ARGV[1]) + redis.call('ZREM', KEYS[7], ARGV[1])
if redis.call('HDEL', KEYS[4], ARGV[1]) == 1 then
  redis.call('LREM', KEYS[5], 1, ARGV[1])
  removed = removed + 1
end
if removed == 0 then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`,
);

/**
 * KEYS: jobs, ready-at, ready, bucket, next. ARGV: id, topic, delay, wake channel.
 * Makes a delayed or ready job due at now + delay. Returns 1, 0 (other state or unknown) or -1 (stale topic).
 */
export const RESCHEDULE = lua(
  'reschedule',
  NOW +
    FIELDS +
    PLAN +
    String.raw`local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
if topic_of(rec) ~= ARGV[2] then return -1 end
if not redis.call('ZSCORE', KEYS[4], ARGV[1]) then
  if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return 0 end
  redis.call('LREM', KEYS[3], 1, ARGV[1])
end
local due = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[4], due, ARGV[1])
plan(due, KEYS[5], ARGV[4], ARGV[2])
return 1
`,
);

/**
 * KEYS: jobs, attempts, errors, dead, bucket, next. ARGV: id, topic, delay, wake channel.
 * Moves a dead job back to delayed with its attempts reset. Returns 1, 0 (not dead) or -1 (stale topic).
 */
export const REQUEUE = lua(
  'requeue',
  NOW +
    FIELDS +
    PLAN +
    String.raw`local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
if topic_of(rec) ~= ARGV[2] then return -1 end
if redis.call('ZREM', KEYS[4], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
local due = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[5], due, ARGV[1])
plan(due, KEYS[6], ARGV[4], ARGV[2])
return 1
`,
);

/**
 * KEYS: jobs, attempts, errors, ready-at, reserved, dead, bucket. ARGV: id, topic.
 * A consistent snapshot: {state, record, attempts, at, error} or -1 (stale topic) or nil (unknown).
 */
export const INSPECT = lua(
  'inspect',
  FIELDS +
    String.raw`local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return nil end
if topic_of(rec) ~= ARGV[2] then return -1 end
local attempts = redis.call('HGET', KEYS[2], ARGV[1]) or '0'
local err = redis.call('HGET', KEYS[3], ARGV[1]) or false
local at = redis.call('ZSCORE', KEYS[7], ARGV[1])
if at then return {'delayed', rec, attempts, at, err} end
at = redis.call('HGET', KEYS[4], ARGV[1])
if at then return {'ready', rec, attempts, at, err} end
at = redis.call('ZSCORE', KEYS[5], ARGV[1])
if at then return {'reserved', rec, attempts, at, err} end
at = redis.call('ZSCORE', KEYS[6], ARGV[1])
if at then return {'dead', rec, attempts, at, err} end
return {'unknown', rec, attempts, '0', err}
`,
);

// Members of equal score in the order Redis keeps them: by their bytes. Lua's own \`<\` on strings follows the
// server's locale (strcoll), which need not be that order.
const BYTE_ORDER = String.raw`local function id_less(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
`;

// One job of a page (KEYS 1-3: jobs, attempts, errors): id, score, record, attempts, last error; none when the
// job's record is gone.
const PAGE_ENTRY = String.raw`local function entry(out, id, score)
  local rec = redis.call('HGET', KEYS[1], id)
  if not rec then return end
  out[#out + 1] = id
  out[#out + 1] = score
  out[#out + 1] = rec
  out[#out + 1] = redis.call('HGET', KEYS[2], id) or '0'
  out[#out + 1] = redis.call('HGET', KEYS[3], id) or ''
end
`;

/**
 * KEYS: jobs, attempts, errors, sorted set 1..n. ARGV: limit, 'asc' or 'desc', after score or '', after id.
 * One page of the members of the sets in (score, id) order, ascending or descending, after the given position
 * (which need not be a member any more: it is found by score, then by a binary search among equal scores, so
 * seeking costs O(log n) per set however many jobs share a due time). The sets are merged through a heap, each
 * read a small chunk at a time, so a page reads about \`limit\` members in all, not \`limit\` per set.
 * Returns {last score, last id, then id, score, record, attempts, error for each job}; the last position is ''
 * when no job follows the page.
 */
export const LIST = lua(
  'list',
  BYTE_ORDER +
    PAGE_ENTRY +
    String.raw`local limit = tonumber(ARGV[1])
local desc = ARGV[2] == 'desc'
local after_s, after_id = ARGV[3], ARGV[4]
local chunk = math.ceil((limit + 1) / (#KEYS - 3)) + 8
-- Ascending rank of the first member with score after_s whose id is after after_id (or, with \`inclusive\`, equal).
local function seek(key, inclusive)
  local lo = redis.call('ZCOUNT', key, '-inf', '(' .. after_s)
  local hi = lo + redis.call('ZCOUNT', key, after_s, after_s)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local member = redis.call('ZRANGE', key, mid, mid)[1]
    if id_less(after_id, member) or (inclusive and member == after_id) then hi = mid else lo = mid + 1 end
  end
  return lo
end
-- Whether entry a ({id, score text, score}) comes before b in this walk.
local function before(a, b)
  if a[3] ~= b[3] then
    if desc then return a[3] > b[3] end
    return a[3] < b[3]
  end
  if desc then return id_less(b[1], a[1]) end
  return id_less(a[1], b[1])
end
-- Reads the set's next chunk in walk order; false when it has no more.
local function refill(set)
  if set.done then return false end
  local from, to
  if desc then
    if set.next < 0 then return false end
    from, to = math.max(0, set.next - chunk + 1), set.next
    set.next = from - 1
    set.done = from == 0
  else
    from, to = set.next, set.next + chunk - 1
    set.next = to + 1
  end
  local got = redis.call('ZRANGE', set.key, from, to, 'WITHSCORES')
  local buf = {}
  if desc then
    for j = #got - 1, 1, -2 do buf[#buf + 1] = {got[j], got[j + 1], tonumber(got[j + 1])} end
  else
    for j = 1, #got, 2 do buf[#buf + 1] = {got[j], got[j + 1], tonumber(got[j + 1])} end
    if #buf < chunk then set.done = true end
  end
  set.buf, set.at = buf, 1
  return #buf > 0
end
local heap, size = {}, 0
local function lower(i, j) return before(heap[i].buf[heap[i].at], heap[j].buf[heap[j].at]) end
local function sift_up(i)
  while i > 1 do
    local parent = math.floor(i / 2)
    if not lower(i, parent) then return end
    heap[i], heap[parent] = heap[parent], heap[i]
    i = parent
  end
end
local function sift_down(i)
  while true do
    local least, l, r = i, 2 * i, 2 * i + 1
    if l <= size and lower(l, least) then least = l end
    if r <= size and lower(r, least) then least = r end
    if least == i then return end
    heap[i], heap[least] = heap[least], heap[i]
    i = least
  end
end
for i = 4, #KEYS do
  local set = {key = KEYS[i], done = false}
  if desc then
    set.next = (after_s == '' and redis.call('ZCARD', KEYS[i]) or seek(KEYS[i], true)) - 1
  else
    set.next = after_s == '' and 0 or seek(KEYS[i], false)
  end
  if refill(set) then
    size = size + 1
    heap[size] = set
    sift_up(size)
  end
end
-- One past the page: it says whether more follow.
local picked = {}
while size > 0 and #picked <= limit do
  local set = heap[1]
  picked[#picked + 1] = set.buf[set.at]
  set.at = set.at + 1
  if set.at > #set.buf and not refill(set) then
    heap[1] = heap[size]
    heap[size] = nil
    size = size - 1
  end
  if size > 0 then sift_down(1) end
end
local out = {'', ''}
for j = 1, math.min(limit, #picked) do entry(out, picked[j][1], picked[j][2]) end
if #picked > limit then
  out[1] = picked[limit][2]
  out[2] = picked[limit][1]
end
return out
`,
);

/**
 * KEYS: jobs, attempts, errors, ready-at, ready. ARGV: limit, after id or ''.
 * One page of the ready list in the order consumers take it (oldest first), after the given id, found by a scan
 * from the oldest end (LPOS); when that id is no longer ready (taken, cancelled, rescheduled), from the oldest.
 * Returns as LIST, the ready-at time as the score.
 */
export const LIST_READY = lua(
  'list-ready',
  PAGE_ENTRY +
    String.raw`local limit = tonumber(ARGV[1])
local start = redis.call('LLEN', KEYS[5]) - 1
if ARGV[2] ~= '' then
  local at = redis.call('LPOS', KEYS[5], ARGV[2], 'RANK', -1)
  if at then start = at - 1 end
end
local out = {'', ''}
if start < 0 then return out end
-- One past the page (the list's oldest are on the right): it says whether more follow.
local ids = redis.call('LRANGE', KEYS[5], math.max(0, start - limit), start)
local last = math.max(1, #ids - limit + 1)
for j = #ids, last, -1 do entry(out, ids[j], redis.call('HGET', KEYS[4], ids[j]) or '0') end
if #ids > limit then
  out[1] = redis.call('HGET', KEYS[4], ids[last]) or '0'
  out[2] = ids[last]
end
return out
`,
);

/**
 * KEYS: jobs, attempts, errors, dead, next, bucket 1..n. ARGV: wake channel, topic, delay, then pairs of id and
 * its bucket number (1..n). Moves each id that is still a dead job of the topic back to delayed, attempts reset.
 * Returns how many moved.
 */
export const REQUEUE_DEAD = lua(
  'requeue-dead',
  NOW +
    PLAN +
    String.raw`local due = now + tonumber(ARGV[3])
local moved = 0
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('ZREM', KEYS[4], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('ZADD', KEYS[5 + tonumber(ARGV[i + 1])], due, id)
    moved = moved + 1
  end
end
if moved > 0 then plan(due, KEYS[5], ARGV[1], ARGV[2]) end
return moved
`,
);

/** KEYS: jobs, attempts, errors, dead. ARGV: ids. Deletes each id that is still a dead job of the topic; returns how many. */
export const PURGE_DEAD = lua(
  'purge-dead',
  String.raw`local gone = 0
for _, id in ipairs(ARGV) do
  if redis.call('ZREM', KEYS[4], id) == 1 then
    redis.call('HDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    gone = gone + 1
  end
end
return gone
`,
);

/** KEYS: ready, reserved, dead, bucket 1..n. A topic's jobs by state: {delayed, ready, reserved, dead}. */
export const COUNT = lua(
  'count',
  String.raw`local delayed = 0
for i = 4, #KEYS do delayed = delayed + redis.call('ZCARD', KEYS[i]) end
return {delayed, redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]), redis.call('ZCARD', KEYS[3])}
`,
);

/** KEYS: ready, signal. A token for a consumer if jobs wait (after limits changed). */
export const RESUME_WAKE = lua('wake', WAKE + String.raw`wake(KEYS[1], KEYS[2])
`);

/**
 * KEYS: paused, ready, signal. ARGV: topic.
 * Takes the topic out of the paused set and leaves its consumers tokens for what became ready meanwhile.
 */
export const RESUME = lua(
  'resume',
  String.raw`if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local want = math.min(redis.call('LLEN', KEYS[2]), 16) - redis.call('LLEN', KEYS[3])
for _ = 1, want do redis.call('RPUSH', KEYS[3], '1') end
return 1
`,
);
