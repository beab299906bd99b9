import { createHash } from 'node:crypto';
import { invalidArgument } from '../../core/errors.js';

// The one description of RedisStore's keys. TypeScript builds key names from it (keyName), and
// the Lua every script starts with is generated from it (luaKeyFunctions), so the two can never
// disagree. `{b}` is the bucket, written as a hash tag so that a Redis Cluster keeps one bucket's
// keys in one slot; `<…>` is a parameter of the key. Why the layout is shaped this way is
// documented on RedisStore.

/**
 * Every key the store writes, relative to the prefix.
 * @internal
 */
export const KEY_TEMPLATES = {
  /** string: one session (see {@link RECORD_FIELDS}). */
  record: '{b}:s:<id>',
  /** zset: the bucket's active sessions, member id, score absolute expiry. */
  absolute: '{b}:exp',
  /**
   * zset: the bucket's active sessions that have an idle limit, member id, score the moment they
   * idle out (last activity plus the session's own idle timeout).
   */
  activity: '{b}:act',
  /** zset: the bucket's ended sessions, member id, score end time (for purges). */
  ended: '{b}:end',
  /**
   * zset: one user's active sessions in one tenant (or without one), every score 0 and the
   * members `<last activity, 16 digits>:<id>`, so lexical order is listing order.
   */
  scope: '{b}:u:<scope>',
  /** set: the scopes (as in `scope`) in which one user has active sessions. */
  userScopes: '{b}:ut:<user>',
  /**
   * zset: the scopes (as in `scope`) of one tenant (or of no tenant) that have active sessions,
   * every score 0: one entry per user and tenant, not per session.
   */
  tenantScopes: '{b}:ts:<tenant>',
  /** string `<b>:<id>`: the session a token hash belongs to; the key ends in the hash's 32 bytes. */
  token: 't:<hash>',
  /** string `<b>`: the bucket of a session id. Only when there is more than one bucket. */
  id: 'i:<id>',
} as const;

/** @internal */
export type KeyName = keyof typeof KEY_TEMPLATES;

/**
 * The fields of a record after its first 32 bytes (the token hash, raw), in order, separated by
 * NUL, which no stored text can hold (ids refuse it, user agents have it replaced). A null is an
 * empty field, except for `ua`, which is absent when null (a user agent may be empty).
 * @internal
 */
export const RECORD_FIELDS = [
  'la', // last activity, epoch ms
  'ax', // absolute expiry, epoch ms
  'c', // created, epoch ms
  'ea', // ended at, epoch ms, or empty
  'er', // end reason, or empty
  'app', // app type
  'ip', // IP address, or empty
  'tid', // tenant id, or empty
  'uid', // user id
  'it', // the session's idle timeout in ms, or empty for none
  'aal', // assurance level, 1 to 3
  'am', // authentication methods, space-separated, or empty
  'at', // authenticated at, epoch ms
  'ua', // user agent: the rest of the record, absent when null
] as const;

/**
 * Records written before sessions carried a level have only the fields up to `uid`, then `ua`.
 * They are told apart by their field count (NUL separates fields, and no field holds one) and
 * read with what was known of them: the lowest level, no methods, authenticated at creation, and
 * the strictest preset's idle limit, 15 minutes, so an upgrade fails closed. Any write rewrites
 * such a record in the current form.
 *
 * The same writers kept no `tenantScopes` set and scored `act` by last activity, so such a
 * session is in no tenant scope set and its `act` entry is due (its last activity is past). A
 * script that rewrites one, or moves its `act` entry, adds its scope to its tenant's set
 * (`adopt` in scripts.ts); ending a tenant settles the due part of `act` before walking the set,
 * so it finds the others.
 * @internal
 */
export const LEGACY_RECORD_HEAD = 9;
/** @internal */
export const LEGACY_IDLE_TIMEOUT = 900_000;

/** Digits of a time in a scope member: epoch milliseconds fit in 16 until the year 318857. */
export const MEMBER_TIME_DIGITS = 16;

/**
 * Where a store's keys live: its prefix and bucket count.
 * @internal
 */
export interface KeyLayout {
  readonly prefix: string;
  readonly buckets: number;
}

/** @internal */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length > 64 || /[{}]/.test(prefix)) {
    // A brace in the prefix would become the hash tag and put every key in one slot.
    throw invalidArgument('prefix', 'expected a string of at most 64 characters without { or }');
  }
  return prefix;
}

/** @internal */
export function checkBuckets(buckets: unknown): number {
  if (
    typeof buckets !== 'number' ||
    !Number.isInteger(buckets) ||
    buckets < 1 ||
    buckets > 16_384
  ) {
    throw invalidArgument('buckets', 'expected a whole number from 1 to 16384');
  }
  return buckets;
}

/**
 * A key's name. `hash` (for `token`) is the lowercase hex token hash, `id` a session id as
 * {@link encodeId} stores it: the key holds their bytes.
 * @internal
 */
export function keyName(
  layout: KeyLayout,
  name: KeyName,
  params: { b?: string; id?: Buffer; scope?: string; user?: string; hash?: string } = {},
): string | Buffer {
  const parts: Array<string | Buffer> = [layout.prefix];
  for (const part of KEY_TEMPLATES[name].split(/(\{b\}|<\w+>)/)) {
    if (part === '{b}') parts.push(`{${params.b}}`);
    else if (part === '<hash>') parts.push(Buffer.from(params.hash!, 'hex'));
    else if (part === '<id>') parts.push(params.id!);
    else if (part.startsWith('<'))
      parts.push(String(params[part.slice(1, -1) as 'scope' | 'user']));
    else parts.push(part);
  }
  return parts.every((part) => typeof part === 'string')
    ? parts.join('')
    : Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part) : part)));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A session id as keys, index members and pointers hold it: a UUID as `curfew` makes them
 * (lowercase, with dashes) is `u` and its 16 bytes, any other id `t` and its UTF-8. Four keys and
 * index entries a session name its id in, so 20 bytes fewer in each is a fifth of the memory a
 * session costs beyond its record.
 * @internal
 */
export function encodeId(id: string): Buffer {
  if (UUID.test(id)) {
    return Buffer.concat([Buffer.from('u'), Buffer.from(id.replaceAll('-', ''), 'hex')]);
  }
  return Buffer.from(`t${id}`, 'utf8');
}

/** The session id that {@link encodeId} stored. @internal */
export function decodeId(stored: Buffer): string {
  if (stored.length === 17 && stored[0] === 0x75) {
    const hex = stored.toString('hex', 1);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  if (stored[0] !== 0x74) throw new Error('unexpected reply from Redis: not a session id');
  return stored.toString('utf8', 1);
}

/**
 * The bucket of a user: every session of one user lives in it, so a user's sessions and their
 * indexes share a slot. SHA-256, so user ids chosen to crowd one bucket cannot be found.
 * @internal
 */
export function bucketOf(layout: KeyLayout, userId: string): string {
  if (layout.buckets === 1) return '0';
  const digest = createHash('sha256').update(userId, 'utf8').digest();
  return String(digest.readUInt32BE(0) % layout.buckets);
}

/** Every bucket number, as strings, in order. @internal */
export function allBuckets(layout: KeyLayout): string[] {
  return Array.from({ length: layout.buckets }, (_, i) => String(i));
}

/**
 * The Lua functions that build each key, generated from {@link KEY_TEMPLATES}: `k_record(b, id)`,
 * `k_absolute(b)`, …; `k_token(hash)` takes the hash's raw bytes. They read the prefix from `P`.
 * @internal
 */
export function luaKeyFunctions(): string {
  return Object.entries(KEY_TEMPLATES)
    .map(([name, template]) => {
      const params: string[] = [];
      const parts = template.split(/(\{b\}|<\w+>)/).filter((part) => part !== '');
      const pieces = parts.map((part) => {
        if (part === '{b}') {
          params.push('b');
          return "'{' .. b .. '}'";
        }
        const param = /^<(\w+)>$/.exec(part)?.[1];
        if (param !== undefined) {
          params.push(param);
          return param;
        }
        return `'${part}'`;
      });
      return `local function k_${name}(${params.join(', ')}) return P .. ${pieces.join(' .. ')} end`;
    })
    .join('\n');
}

/**
 * The Lua that reads and writes records, generated from {@link RECORD_FIELDS}: `parse(s)` gives a
 * table with `th` (raw bytes) and every field (`ua` nil when absent), `pack(r)` the reverse.
 * @internal
 */
export function luaRecordFunctions(): string {
  const head = RECORD_FIELDS.slice(0, -1);
  return `
local RECORD_HEAD = {${head.map((f) => `'${f}'`).join(', ')}}
local LEGACY_HEAD = ${LEGACY_RECORD_HEAD}
local function parse(s)
  local r = {th = string.sub(s, 1, 32)}
  local parts = {}
  local pos = 33
  while true do
    local nul = string.find(s, '\\0', pos, true)
    if not nul then
      parts[#parts + 1] = string.sub(s, pos)
      break
    end
    parts[#parts + 1] = string.sub(s, pos, nul - 1)
    pos = nul + 1
  end
  local head = #RECORD_HEAD
  if #parts <= LEGACY_HEAD + 1 then
    -- Written before sessions carried a level: see LEGACY_RECORD_HEAD. \`legacy\` is not a
    -- field (pack leaves it out): it tells the scripts the session is in no tenant scope set.
    head = LEGACY_HEAD
    r.it, r.aal, r.am, r.legacy = '${LEGACY_IDLE_TIMEOUT}', '1', '', true
  end
  for i = 1, head do r[RECORD_HEAD[i]] = parts[i] end
  if head == LEGACY_HEAD then r.at = r.c end
  r.ua = parts[head + 1]
  return r
end
local function pack(r)
  local out = {r.th}
  for i, f in ipairs(RECORD_HEAD) do
    if i > 1 then out[#out + 1] = '\\0' end
    out[#out + 1] = r[f]
  end
  if r.ua then
    out[#out + 1] = '\\0'
    out[#out + 1] = r.ua
  end
  return table.concat(out)
end`;
}
