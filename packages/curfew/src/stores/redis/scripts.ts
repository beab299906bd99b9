import { createHash } from 'node:crypto';
import { luaKeyFunctions, luaRecordFunctions, MEMBER_TIME_DIGITS } from './key-layout.js';

// Every RedisStore operation is one of these scripts, so each check-and-change is atomic on the
// server. Keys and records are as key-layout.ts describes; the Lua that builds key names and reads
// records is generated from it.
//
// Calling convention, shared by every script:
//   ARGV[1] key prefix, ARGV[2] audit retention (ms), ARGV[3] mode: 'p' when the script keeps
//   the pointer keys itself (a single Redis), plus 'i' when id pointers exist (more than one
//   bucket); ARGV[4] bucket, ARGV[5] session id ('' for none); the operation's own arguments
//   from ARGV[6], each documented above its script. '' stands for "none". Token hashes travel as
//   their 32 raw bytes, as records hold them.
//
// KEYS[1] is always a key in the slot the script works on, which is how a Redis Cluster routes
// it. A script that finds its session by a pointer comes in variants that differ only in how
// they find it (see TARGETS); the body is the same.
//
// Written for Redis 5 to 7, without shebang flags. Two Redis rules shape them:
// - A script is not rolled back when a command fails, so every check comes before the first
//   write, and nothing after the first write can fail for a reason other than the server dying.
// - Out of memory (noeviction), Redis refuses a script's first memory-growing write but lets a
//   script finish once it has written. So reads come first, an end starts with removals (allowed
//   when full) and thus succeeds on a full server, and an insert starts with a memory-growing
//   write and so fails whole, never half-written.
//
// No script walks an unbounded list: those that end, list or count many sessions take a budget
// and report where to continue.

/** The helpers every store script starts with. @internal */
export const LUA_LIBRARY = `
local P = ARGV[1]
local RETENTION = tonumber(ARGV[2])
local POINTERS = string.find(ARGV[3], 'p', 1, true) ~= nil
local ID_POINTERS = string.find(ARGV[3], 'i', 1, true) ~= nil
${luaKeyFunctions()}
${luaRecordFunctions()}

local function fmt(n) return string.format('%.0f', n) end
local function opt(s) if s == nil or s == '' then return nil end return tonumber(s) end
local function pad(digits) return string.rep('0', ${MEMBER_TIME_DIGITS} - #digits) .. digits end
-- A session's member in its scope index: lexical order is listing order.
local function member(rec, id) return pad(rec.la) .. ':' .. id end
local function member_id(m) return string.sub(m, ${MEMBER_TIME_DIGITS + 2}) end
-- Scope and user names in index keys: SHA-1 only spreads them, every record is checked again.
local function scope_of(uid, tid)
  if tid == '' then return string.sub(redis.sha1hex(uid .. '\\0'), 1, 20) end
  return string.sub(redis.sha1hex(uid .. '\\0=' .. tid), 1, 20)
end
local function user_of(uid) return string.sub(redis.sha1hex(uid), 1, 20) end
local function tenant_of(tid)
  if tid == '' then return string.sub(redis.sha1hex('\\0'), 1, 20) end
  return string.sub(redis.sha1hex('=' .. tid), 1, 20)
end

-- Never shortens a TTL, so an index always outlives the records it lists. The hour of headroom
-- spares the next writes to the same index a PEXPIRE each.
local function extend(key, ms)
  if ms < 1 then ms = 1 end
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, fmt(ms + 3600000)) end
end

local function load(b, id)
  local s = redis.call('GET', k_record(b, id))
  if not s then return nil end
  return parse(s)
end

-- How long a record (and its pointers) stays: retention past its end, or past its absolute
-- expiry while it is active, so that a session that timed out answers with its reason until it
-- is purged.
local function keep_ms(rec, now)
  local base = tonumber(rec.ax)
  if rec.ea ~= '' then base = tonumber(rec.ea) end
  local keep = base + RETENTION - now
  if keep < 1 then keep = 1 end
  return keep
end

-- When the session idles out if nothing touches it, or nil without an idle limit.
local function idle_at(rec)
  local it = opt(rec.it)
  if not it then return nil end
  return tonumber(rec.la) + it
end

-- findExpiry of core/store.ts, on the session's own limits: absolute first, then idle; returns
-- the reason and the moment.
local function expiry(rec, now)
  local ax = tonumber(rec.ax)
  if now >= ax then return 'absolute_timeout', ax end
  local at = idle_at(rec)
  if at and now >= at then return 'idle_timeout', at end
  return nil
end

local function tenant_ok(rec, mode, value)
  if mode == 'n' then return rec.tid == '' end
  if mode == 'v' then return rec.tid == value end
  return true
end

-- The owner check of a one-session call: [user id or ''] and a tenant filter.
local function owner_ok(rec, uid, mode, value)
  if uid ~= '' and rec.uid ~= uid then return false end
  return tenant_ok(rec, mode, value)
end

-- The ExpiryRule first: an expired session ends with its timeout and moment, never \`reason\`.
local function with_rule(id, rec, reason, now)
  local r, at = expiry(rec, now)
  if r then return {id, rec, r, at} end
  return {id, rec, reason, now}
end

-- Ends sessions of one bucket: \`ended\` is a list of {id, record, reason, moment}.
local function finish_many(b, ended, now)
  if #ended == 0 then return end
  local ids = {}
  for _, e in ipairs(ended) do ids[#ids + 1] = e[1] end
  -- Removals first: they are allowed when Redis is out of memory, and once a script has written,
  -- Redis lets it finish, so a revocation still succeeds on a full server.
  redis.call('ZREM', k_absolute(b), unpack(ids))
  redis.call('ZREM', k_activity(b), unpack(ids))
  local scopes = {}
  for _, e in ipairs(ended) do
    local sk = scope_of(e[2].uid, e[2].tid)
    redis.call('ZREM', k_scope(b, sk), member(e[2], e[1]))
    scopes[sk] = e[2]
  end
  for sk, rec in pairs(scopes) do
    if redis.call('EXISTS', k_scope(b, sk)) == 0 then
      redis.call('SREM', k_userScopes(b, user_of(rec.uid)), sk)
      redis.call('ZREM', k_tenantScopes(b, tenant_of(rec.tid)), sk)
    end
  end
  local scores = {}
  local longest = 1
  for _, e in ipairs(ended) do
    local id, rec = e[1], e[2]
    rec.ea = fmt(e[4])
    rec.er = e[3]
    local keep = keep_ms(rec, now)
    if keep > longest then longest = keep end
    redis.call('SET', k_record(b, id), pack(rec), 'PX', fmt(keep))
    if POINTERS then
      redis.call('PEXPIRE', k_token(rec.th), fmt(keep))
      if ID_POINTERS then redis.call('PEXPIRE', k_id(id), fmt(keep)) end
    end
    scores[#scores + 1] = rec.ea
    scores[#scores + 1] = id
  end
  redis.call('ZADD', k_ended(b), unpack(scores))
  extend(k_ended(b), longest)
  -- Entries ended longer ago than the retention point at records Redis has expired already.
  redis.call('ZREMRANGEBYSCORE', k_ended(b), '-inf', '(' .. fmt(now - RETENTION))
end

-- A record from before tenant scope sets (LEGACY_RECORD_HEAD in key-layout.ts) is in none: a
-- script that rewrites it, or moves its \`act\` entry out of the due range that ending a tenant
-- settles, adds its scope to its tenant's set. Call it after the script's first write (it grows
-- memory). A scope added so is removed as any other once its index empties.
local function adopt(b, rec, now)
  if not rec.legacy or rec.ea ~= '' then return end
  local tk = k_tenantScopes(b, tenant_of(rec.tid))
  redis.call('ZADD', tk, 0, scope_of(rec.uid, rec.tid))
  extend(tk, keep_ms(rec, now))
end

-- Records activity at \`at\` (digits): the record, its place in \`act\` and in its scope index.
-- Returns the record as written, or nil when Redis is full (then nothing changed).
local function touch(b, id, rec, at, now)
  local old = member(rec, id)
  local la = rec.la
  rec.la = at
  local packed = pack(rec)
  local written = redis.pcall('SET', k_record(b, id), packed, 'PX', fmt(keep_ms(rec, now)))
  if type(written) == 'table' and written.err then
    rec.la = la
    return nil
  end
  adopt(b, rec, now)
  local deadline = idle_at(rec)
  if deadline then redis.call('ZADD', k_activity(b), 'XX', fmt(deadline), id) end
  -- Add before removing: removing a zset's last member deletes the key, and its TTL with it.
  local key = k_scope(b, scope_of(rec.uid, rec.tid))
  redis.call('ZADD', key, 0, member(rec, id))
  redis.call('ZREM', key, old)
  return packed
end

-- Settles entries of \`exp\` or \`act\` that are due by their score: an entry whose record is gone
-- or ended leaves both; an expired session ends with its timeout; a valid one (its entry
-- disagreed with its record, as a record from before per-session limits does) is rescored from
-- the record, so it is not due again. Returns {id, record, reason, moment} of those it ended.
local function settle(b, ids, now)
  local ended, gone, fixed = {}, {}, {}
  for _, id in ipairs(ids) do
    local rec = load(b, id)
    if not rec or rec.ea ~= '' then
      gone[#gone + 1] = id
    else
      local r, at = expiry(rec, now)
      if r then ended[#ended + 1] = {id, rec, r, at} else fixed[#fixed + 1] = {id, rec} end
    end
  end
  -- Removals first (see finish_many).
  if #gone > 0 then
    redis.call('ZREM', k_absolute(b), unpack(gone))
    redis.call('ZREM', k_activity(b), unpack(gone))
  end
  finish_many(b, ended, now)
  for _, f in ipairs(fixed) do
    redis.call('ZADD', k_absolute(b), 'XX', f[2].ax, f[1])
    local deadline = idle_at(f[2])
    if deadline then redis.call('ZADD', k_activity(b), 'XX', fmt(deadline), f[1])
    else redis.call('ZREM', k_activity(b), f[1]) end
    adopt(b, f[2], now)
  end
  return ended
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

-- The scope indexes a user-scoped call reads: one tenant's (or those without), or every one.
local function scopes_for(b, uid, mode, value)
  if mode == '' then return redis.call('SMEMBERS', k_userScopes(b, user_of(uid))) end
  if mode == 'n' then return {scope_of(uid, '')} end
  return {scope_of(uid, value)}
end
`;

// How a script finds its session (see the calling convention).
const TARGETS = {
  /** The bucket and id are in ARGV[4] and ARGV[5]; KEYS[1] is the record (Cluster, or known). */
  args: `local function target() return ARGV[4], ARGV[5] end`,
  /** KEYS[1] is the token pointer, followed here (a single Redis). */
  token: `
local function target()
  local p = redis.call('GET', KEYS[1])
  if not p then return nil end
  return split(p)
end`,
  /** KEYS[1] is the id pointer, followed here (a single Redis with buckets); the id is ARGV[5]. */
  id: `
local function target()
  local b = redis.call('GET', KEYS[1])
  if not b then return nil end
  return b, ARGV[5]
end`,
} as const;

/** @internal */
export type TargetVariant = keyof typeof TARGETS;

// ARGV[6] token hash, [7] now, [8] (unused), [9] touch interval, [10] owner user id (''),
// [11] owner tenant mode ('' any, 'n' none, 'v' the value), [12] tenant value.
// Reply: {'missing'} | {'ended', id, record} | {'expired', id, record}
//        | {'valid', id, record, touched (0 or 1)}. Another owner's session is 'missing'.
const VALIDATE = `
local b, id = target()
if not b then return {'missing'} end
local s = redis.call('GET', k_record(b, id))
if not s then return {'missing'} end
local rec = parse(s)
if rec.th ~= ARGV[6] then return {'missing'} end
if not owner_ok(rec, ARGV[10], ARGV[11], ARGV[12]) then return {'missing'} end
if rec.ea ~= '' then return {'ended', id, s} end
local now = tonumber(ARGV[7])
local reason, at = expiry(rec, now)
if reason then
  finish_many(b, {{id, rec, reason, at}}, now)
  return {'expired', id, pack(rec)}
end
local interval = opt(ARGV[9])
if interval and now - tonumber(rec.la) >= interval then
  if now <= tonumber(rec.la) then return {'valid', id, s, 1} end
  -- Out of memory the touch writes nothing: answer valid without recording activity. The idle
  -- timeout can then only come sooner, never later, and the session stays usable while full.
  local written = touch(b, id, rec, ARGV[7], now)
  if written then return {'valid', id, written, 1} end
end
return {'valid', id, s, 0}
`;

// KEYS[1] a key of the bucket. ARGV[6] the insert's "now" (the latest time in the record),
// [7] the record, [8] the session cap ('' for none), [9] at the cap: 'e' end the least recently
// active, 'r' refuse, [10] the cap's "now", [11] most sessions one call ends, [12] most stale
// index entries one call looks past.
// Reply: {verdict, id, record, …} of the sessions this call ended: verdict 1 inserted; 0 refused
// by the cap (only expired sessions were ended, nothing was added); 2 not yet: ending what must
// go before the insert takes more than one call, so this one ended a batch, added nothing, and
// the caller calls again. Errors start with CURFEW_DUPLICATE.
const INSERT = `
local b, id = ARGV[4], ARGV[5]
local now = tonumber(ARGV[6])
local s = ARGV[7]
local rec = parse(s)
local keep = keep_ms(rec, now)
-- Without id pointers, the record itself says whether the id is taken (a read, so first).
if (not POINTERS or not ID_POINTERS) and redis.call('EXISTS', k_record(b, id)) == 1 then
  return redis.error_reply('CURFEW_DUPLICATE session id')
end
-- The cap, decided from reads before any write. The scope's index and its records share this
-- bucket's slot, so the count and the insert are one step. The index is walked from the most
-- recently active: the first cap - 1 valid sessions stay; past them, a valid one means refusal,
-- or (evicting) ends; expired ones end with their timeout wherever they are. Only a call that
-- has seen the whole index inserts, so no valid session goes uncounted; a call that reaches its
-- budget first ends what it found and answers "not yet".
local ending, stale = {}, {}
local verdict = 1
local cap = opt(ARGV[8])
local key = k_scope(b, scope_of(rec.uid, rec.tid))
if cap then
  local capNow, most, skips = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12])
  local valid = 0
  local upper = '+'
  local walking = true
  while walking do
    local members = redis.call('ZREVRANGEBYLEX', key, upper, '-', 'LIMIT', 0, 100)
    for _, m in ipairs(members) do
      if #ending >= most or #stale >= skips then
        verdict = 2
        walking = false
        break
      end
      upper = '(' .. m
      local oid = member_id(m)
      local other = load(b, oid)
      if not other or other.ea ~= '' or member(other, oid) ~= m then
        stale[#stale + 1] = m
      elseif other.uid == rec.uid and other.tid == rec.tid then
        local r, at = expiry(other, capNow)
        if r then
          ending[#ending + 1] = {oid, other, r, at}
        elseif valid < cap - 1 then
          valid = valid + 1
        elseif ARGV[9] == 'r' then
          verdict = 0
          walking = false
          break
        else
          ending[#ending + 1] = {oid, other, 'session_limit', capNow}
        end
      end
    end
    if #members < 100 then walking = false end
  end
  if verdict ~= 1 then
    -- Nothing is added: removals only, which Redis allows even when full.
    if #stale > 0 then redis.call('ZREM', key, unpack(stale)) end
    finish_many(b, ending, capNow)
    local out = {verdict}
    for _, e in ipairs(ending) do
      out[#out + 1] = e[1]
      out[#out + 1] = pack(e[2])
    end
    return out
  end
end
if POINTERS then
  -- The first write claims the token: a duplicate, or a full server, changes nothing.
  if not redis.call('SET', k_token(rec.th), b .. ':' .. id, 'NX', 'PX', fmt(keep)) then
    return redis.error_reply('CURFEW_DUPLICATE token hash')
  end
  if ID_POINTERS and not redis.call('SET', k_id(id), b, 'NX', 'PX', fmt(keep)) then
    redis.call('DEL', k_token(rec.th))
    return redis.error_reply('CURFEW_DUPLICATE session id')
  end
end
redis.call('SET', k_record(b, id), s, 'PX', fmt(keep))
-- After the first memory-growing write: from here the script runs to its end even when full.
if #stale > 0 then redis.call('ZREM', key, unpack(stale)) end
if #ending > 0 then finish_many(b, ending, tonumber(ARGV[10])) end
if rec.ea ~= '' then
  redis.call('ZADD', k_ended(b), rec.ea, id)
  extend(k_ended(b), keep)
else
  redis.call('ZADD', k_absolute(b), rec.ax, id)
  extend(k_absolute(b), keep)
  local deadline = idle_at(rec)
  if deadline then
    redis.call('ZADD', k_activity(b), fmt(deadline), id)
    extend(k_activity(b), keep)
  end
  local sk = scope_of(rec.uid, rec.tid)
  redis.call('ZADD', key, 0, member(rec, id))
  extend(key, keep)
  local users = k_userScopes(b, user_of(rec.uid))
  redis.call('SADD', users, sk)
  extend(users, keep)
  local tk = k_tenantScopes(b, tenant_of(rec.tid))
  redis.call('ZADD', tk, 0, sk)
  extend(tk, keep)
end
local out = {1}
for _, e in ipairs(ending) do
  out[#out + 1] = e[1]
  out[#out + 1] = pack(e[2])
end
return out
`;

// KEYS (single Redis) [1] the old token pointer. ARGV[6] old hash, [7] new hash, [8] now,
// [9] (unused), [10] '1' to only check, [11] owner user id (''), [12] owner tenant mode,
// [13] tenant value, [14] '1' for a reauthentication, with [15] its idle timeout (''), [16] its
// absolute expiry, [17] its level, [18] its methods. Reply: nil when no valid session of the
// owner has the old hash; with [10], the absolute expiry; else {id, record}.
const ROTATE = `
local b, id = target()
if not b then return false end
local rec = load(b, id)
if not rec or rec.th ~= ARGV[6] or rec.ea ~= '' then return false end
if not owner_ok(rec, ARGV[11], ARGV[12], ARGV[13]) then return false end
local now = tonumber(ARGV[8])
if expiry(rec, now) then return false end
if ARGV[10] == '1' then return rec.ax end
if POINTERS and redis.call('EXISTS', k_token(ARGV[7])) == 1 then
  return redis.error_reply('CURFEW_DUPLICATE token hash')
end
rec.th = ARGV[7]
local renew = ARGV[14] == '1'
local old_member = member(rec, id)
if renew then
  -- Activity and authentication now, the new level and limits; the absolute index follows.
  rec.it, rec.ax, rec.aal, rec.am, rec.at = ARGV[15], ARGV[16], ARGV[17], ARGV[18], ARGV[8]
  if tonumber(rec.la) < now then rec.la = ARGV[8] end
  local keep = keep_ms(rec, now)
  redis.call('ZADD', k_absolute(b), 'XX', rec.ax, id)
  extend(k_absolute(b), keep)
  local deadline = idle_at(rec)
  if deadline then
    redis.call('ZADD', k_activity(b), fmt(deadline), id)
    extend(k_activity(b), keep)
  else
    redis.call('ZREM', k_activity(b), id)
  end
  extend(k_tenantScopes(b, tenant_of(rec.tid)), keep)
  local sk = k_scope(b, scope_of(rec.uid, rec.tid))
  extend(sk, keep)
  extend(k_userScopes(b, user_of(rec.uid)), keep)
  if POINTERS and ID_POINTERS then extend(k_id(id), keep) end
end
local packed
if not renew and now > tonumber(rec.la) then
  packed = touch(b, id, rec, ARGV[8], now)
end
if not packed then
  if renew and member(rec, id) ~= old_member then
    -- The scope index member carries the activity time: move it as a touch would (add first).
    local key = k_scope(b, scope_of(rec.uid, rec.tid))
    redis.call('ZADD', key, 0, member(rec, id))
    redis.call('ZREM', key, old_member)
  end
  packed = pack(rec)
  redis.call('SET', k_record(b, id), packed, 'PX', fmt(keep_ms(rec, now)))
end
adopt(b, rec, now)
if POINTERS then
  redis.call('DEL', KEYS[1])
  redis.call('SET', k_token(ARGV[7]), b .. ':' .. id, 'PX', fmt(keep_ms(rec, now)))
end
return {id, packed}
`;

// Reply: {id, record}, or nil.
const FIND = `
local b, id = target()
if not b then return false end
local s = redis.call('GET', k_record(b, id))
if not s then return false end
return {id, s}
`;

// ARGV[6] token hash ('' when found by id), [7] owner user id (''), [8] owner tenant mode
// ('' any, 'n' none, 'v' the value), [9] tenant value, [10] now, [11] (unused), [12] reason.
// Reply: {id, record} as ended, or nil.
const END = `
local b, id = target()
if not b then return false end
local rec = load(b, id)
if not rec or rec.ea ~= '' then return false end
if ARGV[6] ~= '' and rec.th ~= ARGV[6] then return false end
if ARGV[7] ~= '' and rec.uid ~= ARGV[7] then return false end
if not tenant_ok(rec, ARGV[8], ARGV[9]) then return false end
local now = tonumber(ARGV[10])
finish_many(b, {with_rule(id, rec, ARGV[12], now)}, now)
return {id, pack(rec)}
`;

// KEYS[1] a key of the bucket. ARGV[6] user id, [7] tenant mode, [8] tenant value, [9] session
// id to keep (''), [10] now, [11] (unused), [12] reason, [13] most sessions to end, [14] most
// index entries to look at. Ends the scope's sessions from the least recently active.
// Reply: {done, id, record, id, record, …} of the sessions it ended; done is 1 when none of the
// scope's active sessions (but the kept one) is left.
const END_USER = `
local b, uid, mode, value, keep = ARGV[4], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local now, limit, budget = tonumber(ARGV[10]), tonumber(ARGV[13]), tonumber(ARGV[14])
local ended = {}
local spent = 0
local cut = false
for _, sk in ipairs(scopes_for(b, uid, mode, value)) do
  local key = k_scope(b, sk)
  local after = '-'
  while true do
    if #ended >= limit or spent >= budget then cut = true break end
    local want = math.min(limit - #ended, budget - spent) + 1
    local members = redis.call('ZRANGEBYLEX', key, after, '+', 'LIMIT', 0, want)
    if #members == 0 then break end
    local stale = {}
    for _, m in ipairs(members) do
      if #ended >= limit or spent >= budget then break end
      spent = spent + 1
      after = '(' .. m
      local id = member_id(m)
      if id ~= keep then
        local rec = load(b, id)
        if not rec or rec.ea ~= '' or member(rec, id) ~= m then
          stale[#stale + 1] = m
        elseif rec.uid == uid and tenant_ok(rec, mode, value) then
          ended[#ended + 1] = with_rule(id, rec, ARGV[12], now)
        end
      end
    end
    if #stale > 0 then redis.call('ZREM', key, unpack(stale)) end
    if #members < want then break end
  end
  if cut then break end
end
finish_many(b, ended, now)
local out = {cut and 0 or 1}
for _, e in ipairs(ended) do
  out[#out + 1] = e[1]
  out[#out + 1] = pack(e[2])
end
return out
`;

// KEYS[1] a key of the bucket. ARGV[6] user id, [7] tenant mode, [8] tenant value, [9] the
// member to start after ('' from the most recent), [10] now, [11] (unused), [12] most
// sessions to return, [13] most index entries to look at (at least [12]). Read only.
// Reply: {exhausted, last member looked at, id, record, …}: the scope's valid sessions in listing
// order; exhausted is 1 when nothing after the last member can be valid.
const LIST_USER = `
local b, uid, mode, value = ARGV[4], ARGV[6], ARGV[7], ARGV[8]
local now, limit, budget = tonumber(ARGV[10]), tonumber(ARGV[12]), tonumber(ARGV[13])
local upper = '+'
if ARGV[9] ~= '' then upper = '(' .. ARGV[9] end
-- Each session has its own limits, so expired entries (not yet swept) are passed over one by
-- one, within the budget: the sweep keeps them few.
local lower = '-'
-- Each scope's first \`budget\` entries hold the first \`budget\` of all of them merged.
local candidates = {}
local truncated = false
local scopes = scopes_for(b, uid, mode, value)
for _, sk in ipairs(scopes) do
  local got = redis.call('ZREVRANGEBYLEX', k_scope(b, sk), upper, lower, 'LIMIT', 0, budget)
  if #got == budget then truncated = true end
  for _, m in ipairs(got) do candidates[#candidates + 1] = m end
end
-- One scope's entries come in order already; several are merged.
if #scopes > 1 then table.sort(candidates, function(x, y) return x > y end) end
local out = {0, ''}
local found = 0
local looked = 0
for _, m in ipairs(candidates) do
  if found >= limit or looked >= budget then return out end
  looked = looked + 1
  out[2] = m
  local id = member_id(m)
  local s = redis.call('GET', k_record(b, id))
  if s then
    local rec = parse(s)
    if rec.ea == '' and rec.uid == uid and tenant_ok(rec, mode, value)
      and member(rec, id) == m and not expiry(rec, now) then
      out[#out + 1] = id
      out[#out + 1] = s
      found = found + 1
    end
  end
end
if not truncated then out[1] = 1 end
return out
`;

// KEYS[1] the first bucket's \`exp\` index. ARGV[4] buckets (comma-separated), [6] which indexes
// ('a' absolute, 'i' idle, 'ai' both, in that order), [7] now, [8] (unused), [9] budget,
// [10] where in the bucket list to start (1-based), so that a caller continuing a sweep does not
// look again at the buckets it has emptied.
// Ends at most [9] expired sessions, looking at most at [9] index entries.
// Reply: {done, {id, record, …} ended, phase, position}; done = 1 when nothing due is left in
// those buckets; otherwise the phase ('a' or 'i') and bucket position to continue from.
const SWEEP = `
local buckets = list(ARGV[4])
local now = tonumber(ARGV[7])
local budget = tonumber(ARGV[9])
local first = tonumber(ARGV[10]) or 1
local out = {}
local spent = 0
local function drain(b, index, upto)
  local key = index(b)
  while spent < budget do
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', fmt(upto), 'LIMIT', 0, budget - spent)
    if #due == 0 then return true end
    spent = spent + #due
    for _, e in ipairs(settle(b, due, now)) do
      out[#out + 1] = e[1]
      out[#out + 1] = pack(e[2])
    end
  end
  return false
end
local phases = {}
if string.find(ARGV[6], 'a', 1, true) then phases[#phases + 1] = {'a', k_absolute, now} end
if string.find(ARGV[6], 'i', 1, true) then phases[#phases + 1] = {'i', k_activity, now} end
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

// KEYS[1] the bucket's \`exp\` index. ARGV[4] bucket, [7] now.
// Reply: {absolute expiries due, idle expiries due}, for a cluster sweep to skip idle buckets.
const SWEEP_PEEK = `
local b = ARGV[4]
local due = redis.call('ZCOUNT', k_absolute(b), '-inf', ARGV[7])
local idleDue = redis.call('ZCOUNT', k_activity(b), '-inf', ARGV[7])
return {due, idleDue}
`;

// KEYS[1] a key of the bucket. ARGV[6] tenant mode ('' every session, 'n' those without a
// tenant, 'v' one tenant), [7] tenant value, [8] session id to keep (''), [9] now, [10] reason,
// [11] most sessions to end, [12] most index entries to look at.
// Every session: walks \`exp\` from its start. A tenant: settles the due part of \`act\` first
// (sessions written before tenant scope sets are only found there, see adopt; expired sessions
// of any tenant end there with their timeout, as a sweep would end them), then walks the
// tenant's scopes (\`ts\`), and each scope's index as END_USER does. Ended sessions leave the
// indexes, so each call starts at the first still active. Reply: {done, id, record, …} of the
// sessions it ended; done is 1 when none of the tenant's (or any) active sessions but the kept
// one is left in this bucket.
const END_MANY = `
local b, mode, value, keep = ARGV[4], ARGV[6], ARGV[7], ARGV[8]
local now, limit, budget = tonumber(ARGV[9]), tonumber(ARGV[11]), tonumber(ARGV[12])
local ended = {}
local settled = {}
local spent = 0
local cut = false
if mode == '' then
  local key, start = k_absolute(b), 0
  local gone = {}
  while true do
    if #ended >= limit or spent >= budget then cut = true break end
    local want = math.min(limit - #ended, budget - spent)
    local ids = redis.call('ZRANGE', key, start, start + want - 1)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      spent = spent + 1
      local rec = load(b, id)
      if not rec or rec.ea ~= '' then
        gone[#gone + 1] = id
      elseif id ~= keep then
        ended[#ended + 1] = with_rule(id, rec, ARGV[10], now)
      end
    end
    -- Nothing leaves the index before finish_many below: the next slice starts past this one.
    start = start + #ids
    if #ids < want then break end
  end
  if #gone > 0 then
    redis.call('ZREM', key, unpack(gone))
    redis.call('ZREM', k_activity(b), unpack(gone))
  end
else
  local want = math.min(limit, budget)
  local due = redis.call('ZRANGEBYSCORE', k_activity(b), '-inf', ARGV[9], 'LIMIT', 0, want + 1)
  if #due > want then
    cut = true
    due[#due] = nil
  end
  spent = #due
  if #due > 0 then settled = settle(b, due, now) end
  local tk = k_tenantScopes(b, tenant_of(value))
  local sks = {}
  if not cut then sks = redis.call('ZRANGE', tk, 0, budget - 1) end
  if #sks == budget then cut = true end
  local emptied = {}
  for _, sk in ipairs(sks) do
    local key = k_scope(b, sk)
    if redis.call('EXISTS', key) == 0 then emptied[#emptied + 1] = sk end
    local after = '-'
    while true do
      if #settled + #ended >= limit or spent >= budget then cut = true break end
      local want = math.min(limit - #settled - #ended, budget - spent) + 1
      local members = redis.call('ZRANGEBYLEX', key, after, '+', 'LIMIT', 0, want)
      if #members == 0 then break end
      local stale = {}
      for _, m in ipairs(members) do
        if #settled + #ended >= limit or spent >= budget then break end
        spent = spent + 1
        after = '(' .. m
        local id = member_id(m)
        local rec = load(b, id)
        if not rec or rec.ea ~= '' or member(rec, id) ~= m then
          stale[#stale + 1] = m
        elseif id ~= keep and tenant_ok(rec, mode, value) then
          ended[#ended + 1] = with_rule(id, rec, ARGV[10], now)
        end
      end
      if #stale > 0 then redis.call('ZREM', key, unpack(stale)) end
      if #members < want then break end
    end
    if cut then break end
  end
  if #emptied > 0 then redis.call('ZREM', tk, unpack(emptied)) end
end
finish_many(b, ended, now)
local out = {cut and 0 or 1}
for _, list in ipairs({settled, ended}) do
  for _, e in ipairs(list) do
    out[#out + 1] = e[1]
    out[#out + 1] = pack(e[2])
  end
end
return out
`;

// KEYS[1] the first bucket's \`end\` index. ARGV[4] buckets (comma-separated), [6] ended before,
// [7] budget. Reply: {deleted, done, pointers}; pointers (when the caller keeps them) are
// {token hash, id, …} of deleted records, whose pointer keys the caller then removes.
const PURGE = `
local buckets = list(ARGV[4])
local budget = tonumber(ARGV[7])
local spent = 0
local deleted = 0
local pointers = {}
local done = 1
for _, b in ipairs(buckets) do
  local key = k_ended(b)
  while true do
    if spent >= budget then done = 0 break end
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', '(' .. ARGV[6], 'LIMIT', 0, budget - spent)
    if #due == 0 then break end
    for _, id in ipairs(due) do
      spent = spent + 1
      redis.call('ZREM', key, id)
      local rec = load(b, id)
      if rec and rec.ea ~= '' then
        redis.call('DEL', k_record(b, id))
        deleted = deleted + 1
        if POINTERS then
          if redis.call('GET', k_token(rec.th)) == b .. ':' .. id then redis.call('DEL', k_token(rec.th)) end
          if ID_POINTERS and redis.call('GET', k_id(id)) == b then redis.call('DEL', k_id(id)) end
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

// Counts for an operator's report, in one bucket, a budget of entries at a time. KEYS[1] the
// bucket's \`exp\` index. ARGV[4] bucket, [6] 'a' (active) or 'e' (ended), [7] now, [8] (unused),
// [9] ended since, [10] how many entries of the range earlier calls looked at,
// [11] budget. Reply: {next offset or -1 when done, count} for 'a';
// {next offset or -1, reason, n, …} for 'e'. Read only; the calls together are not one
// snapshot, which a report can live with.
const COUNT = `
local b, what = ARGV[4], ARGV[6]
local now, since = tonumber(ARGV[7]), tonumber(ARGV[9])
local offset, budget = tonumber(ARGV[10]), tonumber(ARGV[11])
if what == 'a' then
  -- Not past the absolute expiry, by rank in \`exp\`, so each call starts where the last stopped
  -- without walking the entries before it; then not past the idle deadline in \`act\` (absent:
  -- no idle limit). A due entry is checked against its record: one written before per-session
  -- limits is scored by its last activity until a write or a sweep settles it.
  local start = redis.call('ZCOUNT', k_absolute(b), '-inf', ARGV[7]) + offset
  local ids = redis.call('ZRANGE', k_absolute(b), start, start + budget - 1)
  local n = 0
  for _, id in ipairs(ids) do
    local at = redis.call('ZSCORE', k_activity(b), id)
    if not at or tonumber(at) > now then
      n = n + 1
    else
      local rec = load(b, id)
      if rec and rec.ea == '' and not expiry(rec, now) then n = n + 1 end
    end
  end
  if #ids < budget then return {-1, n} end
  return {offset + #ids, n}
end
local start = redis.call('ZCOUNT', k_ended(b), '-inf', '(' .. fmt(since)) + offset
local flat = redis.call('ZRANGE', k_ended(b), start, start + budget - 1, 'WITHSCORES')
local counts, order = {}, {}
local past = false
local looked = 0
for i = 1, #flat, 2 do
  if tonumber(flat[i + 1]) > now then past = true break end
  looked = looked + 1
  local rec = load(b, flat[i])
  if rec and rec.er ~= '' then
    if not counts[rec.er] then
      order[#order + 1] = rec.er
      counts[rec.er] = 0
    end
    counts[rec.er] = counts[rec.er] + 1
  end
end
local out = {offset + looked}
if past or #flat < budget * 2 then out[1] = -1 end
for _, reason in ipairs(order) do
  out[#out + 1] = reason
  out[#out + 1] = counts[reason]
end
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

function build(name: string, body: string, target: TargetVariant = 'args'): LuaScript {
  return lua(`${name}:${target}`, `${LUA_LIBRARY}\n${TARGETS[target]}\n${body}`);
}

/** Scripts on one session found by a pointer: one build per way of finding it. @internal */
export const TARGETED_SCRIPTS = {
  validate: { args: build('validate', VALIDATE), token: build('validate', VALIDATE, 'token') },
  rotate: { args: build('rotate', ROTATE), token: build('rotate', ROTATE, 'token') },
  find: { args: build('find', FIND), id: build('find', FIND, 'id') },
  end: {
    args: build('end', END),
    token: build('end', END, 'token'),
    id: build('end', END, 'id'),
  },
} as const;

/** Scripts on a bucket, the same on a single Redis and a cluster. @internal */
export const BUCKET_SCRIPTS = {
  insert: build('insert', INSERT),
  endUser: build('end-user', END_USER),
  endMany: build('end-many', END_MANY),
  listUser: build('list-user', LIST_USER),
  sweep: build('sweep', SWEEP),
  sweepPeek: build('sweep-peek', SWEEP_PEEK),
  purge: build('purge', PURGE),
  count: build('count', COUNT),
} as const;

/**
 * Pointer keys on a Redis Cluster, each alone in its slot. KEYS[1] is the pointer; ARGV[1] the
 * value it must hold (so a late cleanup never removes a pointer someone else has since written).
 * @internal
 */
export const POINTER_SCRIPTS = {
  get: lua('pointer-get', `return redis.call('GET', KEYS[1])`),
  /** ARGV[2]: a TTL in ms the pointer must last at least. Reply: 1 when it held the value. */
  extend: lua(
    'pointer-extend',
    `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`,
  ),
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

/** Every script, for loading them ahead of time. @internal */
export const ALL_SCRIPTS: readonly LuaScript[] = [
  ...Object.values(TARGETED_SCRIPTS).flatMap((variants) => Object.values(variants)),
  ...Object.values(BUCKET_SCRIPTS),
  ...Object.values(POINTER_SCRIPTS),
];
