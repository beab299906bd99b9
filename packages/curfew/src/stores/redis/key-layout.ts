import { createHash } from 'node:crypto';
import { invalidArgument } from '../../core/errors.js';

/**
 * Where a store's keys live: its prefix and bucket count. The layout itself, and why buckets
 * rather than a hash tag per user, is documented on {@link RedisStore}.
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
