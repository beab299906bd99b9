import { createHash } from 'node:crypto';
import { invalidArgument } from '../../core/errors.js';

/**
 * How {@link RedisStore} lays out its keys. `P` is the key prefix (default `curfew:`), `b` a bucket
 * number (0 to `buckets - 1`), `uh` a user key (22 base64url characters: the first 128 bits of
 * the SHA-256 of the user id) and `id` a session id.
 *
 * | Key               | Type   | Holds                                                   | Expires (PEXPIRE, relative to the caller's `now`) |
 * | ----------------- | ------ | ------------------------------------------------------- | ------------------------------------------------- |
 * | `P{b}:s:<id>`     | hash   | the session record (fields below)                        | live: absolute expiry + retention; ended: end + retention |
 * | `P{b}:u:<uh>`     | set    | ids of the user's *active* sessions                      | extended to the longest record it lists            |
 * | `P{b}:exp`        | zset   | `uh:id` of active sessions, by absolute expiry           | extended likewise                                  |
 * | `P{b}:act`        | zset   | `uh:id` of active sessions, by last activity             | extended likewise                                  |
 * | `P{b}:end`        | zset   | `uh:id` of ended sessions, by end time (for purging)     | extended to the longest ended record               |
 * | `Pt:<tokenHash>`  | string | `b:id`: which bucket and session a token hash belongs to | the absolute expiry, never later                   |
 * | `Pi:<id>`         | string | `b`: which bucket a session id lives in                  | absolute expiry + retention                        |
 *
 * Record fields: `id`, `th` (token hash), `uid`, `uh`, `tid`, `app`, `ip`, `ua`, `c`, `la`, `ax`,
 * `ea`, `er`; a `null` value is an absent field; times are epoch milliseconds in decimal.
 *
 * Why buckets rather than one hash tag per user: everything one session operation touches must
 * sit in one Redis Cluster hash slot, and that includes the sweep indexes: a touch moves the
 * session in `act`, an end removes it from `exp` and `act`. With a tag per user, those indexes
 * would be per user and a sweep could not find expired sessions without visiting every user, or
 * a global index would need a second, cross-slot write on every touch. So users are spread over a
 * fixed number of buckets (`{b}` is the hash tag): a user's records, their index and their
 * bucket's sweep indexes share one slot, every write is one script in one slot, and a sweep
 * visits `buckets` fixed places. The bucket count is part of the layout: keep it for the life of
 * the data.
 *
 * The two pointer keys sit in slots of their own (no hash tag), because a token hash or an id is
 * all a caller has: on a single Redis a script follows them itself; on a cluster the store reads
 * them first (and caches them, as a token's bucket never changes), and the bucket script checks
 * the token hash again against the record, so a stale pointer can only ever answer "missing".
 *
 * Only the token pointer makes a session usable, and it expires at the absolute expiry at the
 * latest: a session can never outlive its absolute timeout, even if nothing ever sweeps it. The
 * record outlives it by the audit retention, so that a session that timed out is still on record
 * (ended by the sweep with its expiry moment) for the retention period.
 *
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

/** Where one user's data lives. @internal */
export interface UserPlace {
  /** The bucket number, as the decimal string used in keys. */
  bucket: string;
  /** The user key `uh`. */
  userKey: string;
}

/** @internal */
export function placeUser(layout: KeyLayout, userId: string): UserPlace {
  const digest = createHash('sha256').update(userId, 'utf8').digest();
  return {
    bucket: String(digest.readUInt32BE(0) % layout.buckets),
    userKey: digest.subarray(0, 16).toString('base64url'),
  };
}

/** @internal */
export function bucketKey(layout: KeyLayout, bucket: string, suffix: string): string {
  return `${layout.prefix}{${bucket}}:${suffix}`;
}

/** @internal */
export function recordKey(layout: KeyLayout, bucket: string, id: string): string {
  return bucketKey(layout, bucket, `s:${id}`);
}

/** @internal */
export function userIndexKey(layout: KeyLayout, place: UserPlace): string {
  return bucketKey(layout, place.bucket, `u:${place.userKey}`);
}

/** @internal */
export function tokenPointerKey(layout: KeyLayout, tokenHash: string): string {
  return `${layout.prefix}t:${tokenHash}`;
}

/** @internal */
export function idPointerKey(layout: KeyLayout, id: string): string {
  return `${layout.prefix}i:${id}`;
}

/** The value of a token pointer: `b:id`. @internal */
export function tokenPointerValue(bucket: string, id: string): string {
  return `${bucket}:${id}`;
}

/** @internal */
export function parseTokenPointer(value: string): { bucket: string; id: string } | null {
  const colon = value.indexOf(':');
  if (colon < 1) return null;
  return { bucket: value.slice(0, colon), id: value.slice(colon + 1) };
}

/** Every bucket number, as strings, in order. @internal */
export function allBuckets(layout: KeyLayout): string[] {
  return Array.from({ length: layout.buckets }, (_, i) => String(i));
}
