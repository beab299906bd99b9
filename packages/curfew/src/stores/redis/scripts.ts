import { createHash } from 'node:crypto';

// Every RedisStore operation is one of these scripts, so each check-and-change is atomic on the
// server. The key layout they work on is described in key-layout.ts.
//
// Calling convention, shared by every script built on LUA_LIBRARY:
//   ARGV[1] key prefix, ARGV[2] audit retention (ms), ARGV[3] bucket, ARGV[4] session id,
//   then the operation's own arguments from ARGV[5]; '' stands for "none".
//
// Each operation comes in two builds that share one body:
// - `single` (a single Redis): KEYS[1] is a pointer key (token or id) that the script follows
//   itself, so the operation is one round trip; it also maintains the pointer keys.
// - `bucket` (Redis Cluster): the caller has resolved the pointer and passes the bucket and id;
//   KEYS[1] is a key in the bucket's slot, so the script runs there and touches only that slot.
//   Pointer keys, in other slots, are maintained by the small POINTER scripts.
//
// Scripts written for Redis 5 to 7 without shebang flags. Two Redis rules shape them:
// - A script is not rolled back when a command fails, so every check comes before the first
//   write, and nothing after the first write can fail for a reason other than the server dying.
// - Out of memory (noeviction), Redis refuses a script's first memory-growing write but lets a
//   script finish once it has written. So reads come first, an end starts with removals (allowed
//   when full) and thus succeeds on a full server, and an insert starts with a memory-growing
//   write and so fails whole, never half-written.

/** The helpers every store script starts with (exported for the benchmark's bulk loader). @internal */
export const LUA_LIBRARY = `
local P = ARGV[1]
local RETENTION = tonumber(ARGV[2])
local FIELDS = {'id', 'th', 'uid', 'uh', 'tid', 'app', 'ip', 'ua', 'c', 'la', 'ax', 'ea', 'er'}

local function fmt(n) return string.format('%.0f', n) end
local function opt(s) if s == nil or s == '' then return nil end return tonumber(s) end
local function bkey(b, suffix) return P .. '{' .. b .. '}:' .. suffix end
local function member(rec) return rec.uh .. ':' .. rec.id end

-- Never shortens a TTL, so an index always outlives the records it lists. The hour of headroom
-- spares the next writes to the same index a PEXPIRE each; an index outliving its last entry by
-- up to an hour costs nothing.
local function extend(key, ms)
  if ms < 1 then ms = 1 end
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, fmt(ms + 3600000)) end
end

local function load(b, id)
  local flat = redis.call('HGETALL', bkey(b, 's:' .. id))
  if #flat == 0 then return nil end
  local rec = {}
  for i = 1, #flat, 2 do rec[flat[i]] = flat[i + 1] end
  return rec
end

local function reply(rec)
  local out = {}
  for _, f in ipairs(FIELDS) do
    if rec[f] then
      out[#out + 1] = f
      out[#out + 1] = rec[f]
    end
  end
  return out
end

-- What a caller needs of an ended session (EndedSession): a fifth of the record, which matters
-- when a sweep returns a hundred at a time.
local function brief(rec)
  local out = {'id', rec.id, 'uid', rec.uid, 'ea', rec.ea, 'er', rec.er}
  if rec.tid then
    out[#out + 1] = 'tid'
    out[#out + 1] = rec.tid
  end
  return out
end

-- The ExpiryRule of core/store.ts: absolute first, then idle; returns the reason and the moment.
local function expiry(rec, now, idle)
  local ax = tonumber(rec.ax)
  if now >= ax then return 'absolute_timeout', ax end
  if idle then
    local at = tonumber(rec.la) + idle
    if now >= at then return 'idle_timeout', at end
  end
  return nil
end

local function tenant_ok(rec, mode, value)
  if mode == 'n' then return rec.tid == nil end
  if mode == 'v' then return rec.tid == value end
  return true
end

-- Ends sessions of one bucket: \`ended\` is a list of {record, reason, moment}; \`gone\` a list of
-- {member, user key, id} of index entries whose record no longer exists, pruned on the way. One
-- removal per index for the lot: a sweep ends up to a hundred sessions per call.
local function finish_many(b, ended, gone, now)
  local members = {}
  for _, g in ipairs(gone) do members[#members + 1] = g[1] end
  for _, e in ipairs(ended) do members[#members + 1] = member(e[1]) end
  if #members == 0 then return end
  -- Removals first: they are allowed when Redis is out of memory, and once a script has written,
  -- Redis lets it finish, so a revocation still succeeds on a full server.
  redis.call('ZREM', bkey(b, 'exp'), unpack(members))
  redis.call('ZREM', bkey(b, 'act'), unpack(members))
  for _, g in ipairs(gone) do
    if g[2] then redis.call('SREM', bkey(b, 'u:' .. g[2]), g[3]) end
  end
  if #ended == 0 then return end
  local scores = {}
  local longest = 1
  for _, e in ipairs(ended) do
    local rec, reason, at = e[1], e[2], e[3]
    redis.call('SREM', bkey(b, 'u:' .. rec.uh), rec.id)
    local skey = bkey(b, 's:' .. rec.id)
    rec.ea = fmt(at)
    rec.er = reason
    redis.call('HSET', skey, 'ea', rec.ea, 'er', reason)
    local keep = at + RETENTION - now
    if keep < 1 then keep = 1 end
    if keep > longest then longest = keep end
    redis.call('PEXPIRE', skey, fmt(keep))
    scores[#scores + 1] = rec.ea
    scores[#scores + 1] = member(rec)
  end
  local ekey = bkey(b, 'end')
  redis.call('ZADD', ekey, unpack(scores))
  extend(ekey, longest)
  -- Entries ended longer ago than the retention point at records Redis has expired already.
  redis.call('ZREMRANGEBYSCORE', ekey, '-inf', '(' .. fmt(now - RETENTION))
end

-- The ExpiryRule first: an expired session ends with its timeout and moment, never \`reason\`.
local function with_rule(rec, reason, now, idle)
  local r, at = expiry(rec, now, idle)
  if r then return {rec, r, at} end
  return {rec, reason, now}
end

-- Adds one session. With the pointer keys (single Redis) it claims them too (SET NX, the first
-- write, so a duplicate or a full server changes nothing); without (cluster) the caller has
-- claimed them already.
local function insert(b, id, now, fields, tkey, ikey)
  local rec = {}
  for i = 1, #fields, 2 do rec[fields[i]] = fields[i + 1] end
  local keep = tonumber(rec.ea or rec.ax) + RETENTION - now
  if keep < 1 then keep = 1 end
  local live = tonumber(rec.ax) - now
  if live < 1 then live = 1 end
  local skey = bkey(b, 's:' .. id)
  if tkey then
    if not redis.call('SET', tkey, b .. ':' .. id, 'NX', 'PX', fmt(live)) then
      return redis.error_reply('CURFEW_DUPLICATE token hash')
    end
    if not redis.call('SET', ikey, b, 'NX', 'PX', fmt(keep)) then
      redis.call('DEL', tkey)
      return redis.error_reply('CURFEW_DUPLICATE session id')
    end
    -- The id pointer outlives the record, so with it claimed the record cannot exist.
  elseif redis.call('EXISTS', skey) == 1 then
    return redis.error_reply('CURFEW_DUPLICATE session id')
  end
  redis.call('HSET', skey, unpack(fields))
  redis.call('PEXPIRE', skey, fmt(keep))
  local m = member(rec)
  if rec.ea then
    redis.call('ZADD', bkey(b, 'end'), rec.ea, m)
    extend(bkey(b, 'end'), keep)
  else
    local ukey = bkey(b, 'u:' .. rec.uh)
    redis.call('SADD', ukey, id)
    extend(ukey, keep)
    redis.call('ZADD', bkey(b, 'exp'), rec.ax, m)
    extend(bkey(b, 'exp'), keep)
    redis.call('ZADD', bkey(b, 'act'), rec.la, m)
    extend(bkey(b, 'act'), keep)
  end
  return fmt(live)
end

local function split(s)
  local i = string.find(s, ':', 1, true)
  if not i then return nil end
  return string.sub(s, 1, i - 1), string.sub(s, i + 1)
end

local function list(csv)
  local out = {}
  for item in string.gmatch(csv, '[^,]+') do out[#out + 1] = item end
  return out
end
`;

// How a script finds its session: from the arguments (cluster, or when the bucket is known), or by
// following the pointer in KEYS[1] (single Redis).
const FROM_ARGS = `
local function target() return ARGV[3], ARGV[4] end
`;
const FROM_TOKEN = `
local function target()
  local p = redis.call('GET', KEYS[1])
  if not p then return nil end
  return split(p)
end
`;
const FROM_ID = `
local function target()
  local b = redis.call('GET', KEYS[1])
  if not b then return nil end
  return b, ARGV[4]
end
`;

// ARGV[5] token hash, [6] now, [7] idle timeout, [8] touch interval.
// Reply: {'missing'} | {'ended', rec} | {'expired', rec} | {'valid', touched, rec}.
const VALIDATE = `
local b, id = target()
if not b then return {'missing'} end
local rec = load(b, id)
if not rec or rec.th ~= ARGV[5] then return {'missing'} end
if rec.ea then return {'ended', reply(rec)} end
local now = tonumber(ARGV[6])
local reason, at = expiry(rec, now, opt(ARGV[7]))
if reason then
  finish_many(b, {{rec, reason, at}}, {}, now)
  return {'expired', reply(rec)}
end
local touch = opt(ARGV[8])
local touched = 0
if touch and now - tonumber(rec.la) >= touch then
  touched = 1
  if now > tonumber(rec.la) then
    local written = redis.pcall('HSET', bkey(b, 's:' .. id), 'la', ARGV[6])
    if type(written) == 'table' and written.err then
      -- Out of memory: answer valid without recording activity. The idle timeout can then only
      -- come sooner, never later, and the session stays usable while Redis is full.
      touched = 0
    else
      rec.la = ARGV[6]
      redis.call('ZADD', bkey(b, 'act'), 'XX', ARGV[6], member(rec))
    end
  end
end
return {'valid', touched, reply(rec)}
`;

// KEYS (single) [1] token pointer, [2] id pointer; (bucket) [1] the record key.
// ARGV[5] the insert's "now" (the latest time in the record), [6..] field/value pairs.
// Reply: the token pointer's TTL in ms; errors start with CURFEW_DUPLICATE.
const INSERT = `
local b, id = target()
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
if SINGLE then return insert(b, id, tonumber(ARGV[5]), fields, KEYS[1], KEYS[2]) end
return insert(b, id, tonumber(ARGV[5]), fields)
`;

// KEYS (single) [1] old token pointer, [2] new token pointer.
// ARGV[5] old hash, [6] new hash, [7] now, [8] idle timeout, [9] '1' to only check.
// Reply: nil when no valid session has the old hash; with [9], the absolute expiry; else the record.
const ROTATE = `
local b, id = target()
if not b then return false end
local rec = load(b, id)
if not rec or rec.th ~= ARGV[5] or rec.ea then return false end
local now = tonumber(ARGV[7])
if expiry(rec, now, opt(ARGV[8])) then return false end
if ARGV[9] == '1' then return rec.ax end
if SINGLE and redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('CURFEW_DUPLICATE token hash')
end
local skey = bkey(b, 's:' .. id)
rec.th = ARGV[6]
if now > tonumber(rec.la) then
  rec.la = ARGV[7]
  redis.call('HSET', skey, 'th', rec.th, 'la', rec.la)
  redis.call('ZADD', bkey(b, 'act'), 'XX', rec.la, member(rec))
else
  redis.call('HSET', skey, 'th', rec.th)
end
if SINGLE then
  redis.call('DEL', KEYS[1])
  local live = tonumber(rec.ax) - now
  if live < 1 then live = 1 end
  redis.call('SET', KEYS[2], b .. ':' .. id, 'PX', fmt(live))
end
return reply(rec)
`;

// Reply: the record, or nil.
const FIND = `
local b, id = target()
if not b then return false end
local rec = load(b, id)
if not rec or rec.id ~= id then return false end
return reply(rec)
`;

// ARGV[5] token hash ('' when found by id), [6] owner user id (''), [7] owner tenant mode
// ('' any, 'n' none, 'v' the value), [8] tenant value, [9] now, [10] idle timeout, [11] reason.
// Reply: the ended session (brief), or nil.
const END = `
local b, id = target()
if not b then return false end
local rec = load(b, id)
if not rec or rec.ea then return false end
if ARGV[5] ~= '' and rec.th ~= ARGV[5] then return false end
if ARGV[6] ~= '' and rec.uid ~= ARGV[6] then return false end
if not tenant_ok(rec, ARGV[7], ARGV[8]) then return false end
local now = tonumber(ARGV[9])
finish_many(b, {with_rule(rec, ARGV[11], now, opt(ARGV[10]))}, {}, now)
return brief(rec)
`;

// KEYS[1] the user index. ARGV[5] user key, [6] user id, [7] tenant mode, [8] tenant value,
// [9] session id to keep (''), [10] now, [11] idle timeout, [12] reason. Reply: ended sessions
// (brief).
const END_USER = `
local b = ARGV[3]
local ukey = bkey(b, 'u:' .. ARGV[5])
local now = tonumber(ARGV[10])
local idle = opt(ARGV[11])
local ended = {}
local stale = {}
for _, id in ipairs(redis.call('SMEMBERS', ukey)) do
  local rec = load(b, id)
  if not rec or rec.ea then
    stale[#stale + 1] = id
  elseif rec.uid == ARGV[6] and id ~= ARGV[9] and tenant_ok(rec, ARGV[7], ARGV[8]) then
    ended[#ended + 1] = with_rule(rec, ARGV[12], now, idle)
  end
end
finish_many(b, ended, {}, now)
if #stale > 0 then redis.call('SREM', ukey, unpack(stale)) end
local out = {}
for _, e in ipairs(ended) do out[#out + 1] = brief(e[1]) end
return out
`;

// KEYS[1] the user index. ARGV[5] user key, [6] user id. Reply: the user's active records.
// Read only: filtering by tenant and expiry, and sorting, happen in the caller.
const LIST_USER = `
local b = ARGV[3]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', bkey(b, 'u:' .. ARGV[5]))) do
  local rec = load(b, id)
  if rec and not rec.ea and rec.uid == ARGV[6] then out[#out + 1] = reply(rec) end
end
return out
`;

// KEYS[1] the first bucket's exp index. ARGV[3] buckets (comma-separated), [5] which indexes
// ('a' absolute, 'i' idle, 'ai' both, in that order), [6] now, [7] idle timeout, [8] budget,
// [9] where in the bucket list to start (1-based), so that a caller continuing a sweep does not
// look again at the buckets it has emptied.
// Ends at most [8] expired sessions, examining at most [8] index entries.
// Reply: {done, ended sessions (brief), phase, position}; done = 1 when nothing due is left in those
// buckets; otherwise the phase ('a' or 'i') and bucket position to continue from.
const SWEEP = `
local buckets = list(ARGV[3])
local now = tonumber(ARGV[6])
local idle = opt(ARGV[7])
local budget = tonumber(ARGV[8])
local first = tonumber(ARGV[9]) or 1
local out = {}
local spent = 0
local function drain(b, index, upto)
  local key = bkey(b, index)
  while spent < budget do
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', fmt(upto), 'LIMIT', 0, budget - spent)
    if #due == 0 then return true end
    local ended, gone, fixed = {}, {}, {}
    for _, m in ipairs(due) do
      spent = spent + 1
      local uh, id = split(m)
      local rec = id and load(b, id)
      if not rec or rec.ea then
        -- The record expired by TTL or the entry is stale: prune every index that could list it.
        gone[#gone + 1] = {m, uh, id}
      else
        local r, at = expiry(rec, now, idle)
        if r then ended[#ended + 1] = {rec, r, at} else fixed[#fixed + 1] = rec end
      end
    end
    finish_many(b, ended, gone, now)
    for _, e in ipairs(ended) do out[#out + 1] = brief(e[1]) end
    for _, rec in ipairs(fixed) do
      -- The index disagreed with the record: trust the record, so this entry is not due again.
      redis.call('ZADD', bkey(b, 'exp'), 'XX', rec.ax, member(rec))
      redis.call('ZADD', bkey(b, 'act'), 'XX', rec.la, member(rec))
    end
  end
  return false
end
local phases = {}
if string.find(ARGV[5], 'a', 1, true) then phases[#phases + 1] = {'a', 'exp', now} end
if idle and string.find(ARGV[5], 'i', 1, true) then
  phases[#phases + 1] = {'i', 'act', now - idle}
end
for _, phase in ipairs(phases) do
  for k = first, #buckets do
    if not drain(buckets[k], phase[2], phase[3]) then return {0, out, phase[1], k} end
  end
  for k = 1, first - 1 do
    if not drain(buckets[k], phase[2], phase[3]) then return {0, out, phase[1], k} end
  end
end
return {1, out, '', 1}
`;

// KEYS[1] the bucket's exp index. ARGV[3] bucket, [6] now, [7] idle timeout.
// Reply: {absolute expiries due, idle expiries due}, for a cluster sweep to skip idle buckets.
const SWEEP_PEEK = `
local b = ARGV[3]
local due = redis.call('ZCOUNT', bkey(b, 'exp'), '-inf', ARGV[6])
local idle = opt(ARGV[7])
local idleDue = 0
if idle then idleDue = redis.call('ZCOUNT', bkey(b, 'act'), '-inf', fmt(tonumber(ARGV[6]) - idle)) end
return {due, idleDue}
`;

// KEYS[1] the first bucket's end index. ARGV[3] buckets (comma-separated), [5] ended before,
// [6] budget. Reply: {deleted, done, pointers}; pointers (bucket build only) are
// {token hash, id, ...} of deleted records, whose pointer keys the caller then removes.
const PURGE = `
local buckets = list(ARGV[3])
local budget = tonumber(ARGV[6])
local spent = 0
local deleted = 0
local pointers = {}
local done = 1
for _, b in ipairs(buckets) do
  local key = bkey(b, 'end')
  while true do
    if spent >= budget then done = 0 break end
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. ARGV[5], 'LIMIT', 0, budget - spent)
    if #due == 0 then break end
    for _, m in ipairs(due) do
      spent = spent + 1
      redis.call('ZREM', key, m)
      local _, id = split(m)
      local rec = id and load(b, id)
      if rec and rec.ea then
        redis.call('DEL', bkey(b, 's:' .. id))
        deleted = deleted + 1
        if SINGLE then
          local t = P .. 't:' .. rec.th
          if redis.call('GET', t) == b .. ':' .. id then redis.call('DEL', t) end
          local i = P .. 'i:' .. id
          if redis.call('GET', i) == b then redis.call('DEL', i) end
        else
          pointers[#pointers + 1] = rec.th
          pointers[#pointers + 1] = id
        end
      end
    end
  end
  if done == 0 then break end
end
return {deleted, done, pointers}
`;

// Counts for an operator's report, in one bucket (KEYS[1] its `exp` key, for the slot).
// ARGV: prefix, bucket, now, idle timeout or '', ended since. Reply: {active, reason, n, ...}.
// Read only. It walks the bucket's live and recently ended entries, which is fine for a report
// and is why nothing on a request path calls it.
const COUNT = `
local P, B, NOW, IDLE, SINCE = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local function bkey(suffix) return P .. '{' .. B .. '}:' .. suffix end
local active = 0
if IDLE == '' then
  active = redis.call('ZCOUNT', bkey('exp'), '(' .. ARGV[3], '+inf')
else
  local floor = string.format('%.0f', NOW - tonumber(IDLE))
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', bkey('act'), '(' .. floor, '+inf')) do
    local ax = redis.call('ZSCORE', bkey('exp'), m)
    if ax and tonumber(ax) > NOW then active = active + 1 end
  end
end
local counts, order = {}, {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', bkey('end'), SINCE, ARGV[3])) do
  local id = string.sub(m, string.find(m, ':', 1, true) + 1)
  local reason = redis.call('HGET', bkey('s:' .. id), 'er')
  if reason then
    if not counts[reason] then order[#order + 1] = reason; counts[reason] = 0 end
    counts[reason] = counts[reason] + 1
  end
end
local out = {active}
for _, reason in ipairs(order) do out[#out + 1] = reason; out[#out + 1] = counts[reason] end
return out
`;

/** A Lua script and its SHA-1, which is how Redis caches it. @internal */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function lua(name: string, source: string): LuaScript {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

function build(name: string, single: boolean, resolve: string, body: string): LuaScript {
  return lua(
    `${name}:${single ? 'single' : 'bucket'}`,
    `${LUA_LIBRARY}\nlocal SINGLE = ${single}\n${resolve}\n${body}`,
  );
}

/** The operations as run against a single Redis: pointers followed inside the script. @internal */
export const SINGLE_SCRIPTS = {
  validate: build('validate', true, FROM_TOKEN, VALIDATE),
  insert: build('insert', true, FROM_ARGS, INSERT),
  rotate: build('rotate', true, FROM_TOKEN, ROTATE),
  findById: build('find', true, FROM_ID, FIND),
  endByToken: build('end', true, FROM_TOKEN, END),
  endById: build('end', true, FROM_ID, END),
  endUser: build('end-user', true, FROM_ARGS, END_USER),
  listUser: build('list-user', true, FROM_ARGS, LIST_USER),
  sweep: build('sweep', true, FROM_ARGS, SWEEP),
  purge: build('purge', true, FROM_ARGS, PURGE),
} as const;

/** The operations as run in one bucket's slot of a Redis Cluster. @internal */
export const BUCKET_SCRIPTS = {
  validate: build('validate', false, FROM_ARGS, VALIDATE),
  insert: build('insert', false, FROM_ARGS, INSERT),
  rotate: build('rotate', false, FROM_ARGS, ROTATE),
  find: build('find', false, FROM_ARGS, FIND),
  end: build('end', false, FROM_ARGS, END),
  endUser: build('end-user', false, FROM_ARGS, END_USER),
  listUser: build('list-user', false, FROM_ARGS, LIST_USER),
  sweep: build('sweep', false, FROM_ARGS, SWEEP),
  sweepPeek: build('sweep-peek', false, FROM_ARGS, SWEEP_PEEK),
  purge: build('purge', false, FROM_ARGS, PURGE),
} as const;

/** Reports: the count script, the same on a single Redis and a cluster. @internal */
export const REPORT_SCRIPTS = {
  count: lua('count', COUNT),
} as const;

/**
 * Pointer keys on a Redis Cluster, each alone in its slot. KEYS[1] is the pointer; ARGV[1] the
 * value it must hold (so a late cleanup never removes a pointer someone else has since written).
 * @internal
 */
export const POINTER_SCRIPTS = {
  get: lua('pointer-get', `return redis.call('GET', KEYS[1])`),
  /** ARGV[2]: TTL in ms. Reply: 1 when claimed, 0 when the key exists. */
  claim: lua(
    'pointer-claim',
    `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end return 0`,
  ),
  release: lua(
    'pointer-release',
    `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`,
  ),
} as const;
