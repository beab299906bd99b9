import { type Duration, parseDuration } from '../../core/duration.js';
import type { EndReason } from '../../core/end-reason.js';
import { invalidArgument } from '../../core/errors.js';
import {
  type EndedSession,
  type ExpiryRule,
  findExpiry,
  matchesOwner,
  type SessionCounts,
  type SessionOwner,
  type SessionStore,
  type StoredSession,
  type StoreEndInput,
  type StoreSweepInput,
  type StoreValidateInput,
  type StoreValidateResult,
  type UserScope,
} from '../../core/store.js';
import { type RedisClientLike, runScript } from './client.js';
import {
  decodeEnded,
  decodeEndedList,
  decodeSession,
  decodeSessions,
  encodeSession,
} from './codec.js';
import { checkRedisEvictionPolicy, type RedisEvictionReport } from './eviction-policy.js';
import {
  allBuckets,
  bucketKey,
  checkBuckets,
  checkPrefix,
  idPointerKey,
  type KeyLayout,
  parseTokenPointer,
  placeUser,
  recordKey,
  tokenPointerKey,
  tokenPointerValue,
  userIndexKey,
} from './key-layout.js';
import { PointerCache } from './pointer-cache.js';
import {
  BUCKET_SCRIPTS,
  type LuaScript,
  POINTER_SCRIPTS,
  REPORT_SCRIPTS,
  SINGLE_SCRIPTS,
} from './scripts.js';

/**
 * Options for {@link RedisStore}.
 *
 * @example
 * ```ts
 * const options: RedisStoreOptions = { prefix: 'myapp:sessions:', auditRetention: '90d' };
 * ```
 */
export interface RedisStoreOptions {
  /** Prepended to every key (default `curfew:`); no `{` or `}`, which would break the hash tags. */
  prefix?: string | undefined;
  /**
   * How long an ended session stays readable as the audit trail before Redis expires it
   * (default `30d`). `purgeEnded` can delete it sooner.
   */
  auditRetention?: Duration | undefined;
  /**
   * How many buckets (hash tags) the sessions are spread over (default 128). Part of the key
   * layout: never change it for existing data. More buckets spread a large cluster more evenly;
   * fewer make an idle sweep on a cluster cheaper (it looks at each bucket once per call).
   */
  buckets?: number | undefined;
  /**
   * Whether the client is a Redis Cluster (default: the client's own `isCluster`). Set `true` for
   * a single server running in cluster mode, where scripts must also stay within one slot.
   */
  cluster?: boolean | undefined;
  /**
   * On a cluster, how many token-to-bucket pointers to remember (default 10000; 0: none). A hit
   * saves the pointer lookup, making validation one round trip instead of two.
   */
  pointerCacheSize?: number | undefined;
}

/**
 * ioredis options that make a store fail fast (`STORE_UNAVAILABLE`) instead of queueing
 * commands while Redis is down, and reconnect by itself when it is back. For a `Cluster`, put
 * them in `redisOptions` and set `enableOfflineQueue: false` on the cluster options too.
 *
 * - `enableOfflineQueue: false`: while disconnected, a command fails at once instead of waiting.
 * - `maxRetriesPerRequest: 1`: a command caught by a dropped connection fails after one retry.
 * - `commandTimeout`: a server that stops answering (paused, overloaded, half-open TCP) fails
 *   the command after 2 s instead of never.
 * - `connectTimeout`: give up on an unreachable host after 2 s and retry.
 * - `autoResendUnfulfilledCommands: false`: a command the caller was already told failed is not
 *   silently replayed after reconnecting.
 *
 * With `enableOfflineQueue: false`, wait for the client's `ready` event (or a successful
 * `sessions.ping()`) before serving.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { RECOMMENDED_REDIS_OPTIONS, RedisStore } from 'curfew/redis';
 *
 * const client = new Redis(process.env.REDIS_URL!, { ...RECOMMENDED_REDIS_OPTIONS });
 * const store = new RedisStore(client);
 * ```
 */
export const RECOMMENDED_REDIS_OPTIONS = Object.freeze({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 2_000,
  connectTimeout: 2_000,
  autoResendUnfulfilledCommands: false,
});

const DEFAULT_PREFIX = 'curfew:';
const DEFAULT_RETENTION = 30 * 86_400_000;
const DEFAULT_BUCKETS = 128;
const DEFAULT_POINTER_CACHE = 10_000;
// Sessions ended (or index entries examined) by one sweep or purge script. Redis runs a script to
// the end before serving anyone else, so this bounds how long a sweep can delay a validation.
const SCRIPT_BUDGET = 100;

type Script = LuaScript;
type Pointer = { bucket: string; id: string };

/**
 * A {@link SessionStore} on Redis or Redis Cluster, through an ioredis client that you create
 * (and close). curfew does not depend on ioredis: install it yourself (v5).
 *
 * Every operation is one Lua script, so each check-and-change is atomic on the server. On a
 * single Redis every operation is one round trip. On a Cluster, a session's keys share a hash
 * tag and every script stays within one slot; finding a session by token hash or id takes a
 * pointer lookup in another slot first, which a per-process cache usually saves (see
 * {@link RedisStoreOptions.pointerCacheSize}). Round trips per operation:
 *
 * | operation                      | single | cluster                                      |
 * | ------------------------------ | ------ | -------------------------------------------- |
 * | validate (with touch)          | 1      | 1 (pointer cached) or 2                      |
 * | insert                         | 1      | 2 (claim token and id pointers, in parallel; then the record) |
 * | rotate                         | 1      | 4 or 5 (check, claim new pointer, switch, drop old pointer) |
 * | findById, endSession           | 1      | 1 (cached) or 2                              |
 * | endUserSessions, listUserSessions | 1   | 1                                            |
 * | sweep                          | 1 per 100 sessions | 1 peek per bucket, in parallel, + 1 per 100 sessions and bucket |
 * | purgeEnded                     | 1 per 100 sessions | 1 per bucket and 100 sessions, + pointer clean-up |
 *
 * Key layout (`P` the prefix, `b` a bucket 0…`buckets - 1` whose `{b}` is the hash tag, `uh` the
 * first 128 bits of the SHA-256 of the user id in base64url, `id` the session id):
 *
 * | key              | type   | holds                                                  | expires at (TTL set from the caller's `now`) |
 * | ---------------- | ------ | ------------------------------------------------------ | -------------------------------------------- |
 * | `P{b}:s:<id>`    | hash   | the session: `id th uid uh tid app ip ua c la ax ea er` (absent = null; times in ms) | live: absolute expiry + retention; ended: end + retention |
 * | `P{b}:u:<uh>`    | set    | ids of the user's active sessions                      | extended to outlive every record it lists     |
 * | `P{b}:exp`       | zset   | `uh:id` of the bucket's active sessions, by absolute expiry | likewise                                 |
 * | `P{b}:act`       | zset   | `uh:id` of the bucket's active sessions, by last activity   | likewise                                 |
 * | `P{b}:end`       | zset   | `uh:id` of the bucket's ended sessions, by end (for purges) | likewise                                 |
 * | `Pt:<tokenHash>` | string | `b:id`, the session a token hash belongs to            | the absolute expiry, never later              |
 * | `Pi:<id>`        | string | `b`, the bucket of a session id                        | absolute expiry + retention                   |
 *
 * A user's bucket is fixed by their id, so one user's records, their index and the bucket's
 * sweep indexes share a hash slot: every change to a session, including a touch that moves it in
 * `act`, is one script in one slot, and a sweep visits `buckets` fixed places. A tag per user
 * would leave the sweep no global index to read without a second, cross-slot write on every
 * touch. The two pointers sit in slots of their own, since a token hash or an id is all a caller
 * has; scripts check the record's token hash again, so a stale pointer only ever reads as
 * missing. Every key has a TTL; the token pointer, the one key that makes a session usable,
 * expires by the absolute expiry, so no session outlives it even if nothing ever sweeps; the
 * record outlives it by the audit retention, so a session that timed out stays on record. No
 * clock of the store's own is read: TTLs are computed from the `now` the caller passes (at
 * insert, the session's own times).

 * Differences from `MemoryStore` that come from Redis itself: once Redis's own time passes a
 * session's absolute expiry, its token pointer is gone, so validating it answers `missing` (the
 * manager's `not_found`) rather than `expired`; the sweep still ends the record with
 * `absolute_timeout` at its expiry moment. When Redis is out of memory (`noeviction`), inserts
 * fail while validations (without recording activity) and revocations still succeed.
 *
 * Use {@link RECOMMENDED_REDIS_OPTIONS} on the client so an unreachable Redis fails fast, and
 * check the eviction policy at start-up with {@link RedisStore.checkEvictionPolicy}.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { SessionManager } from 'curfew';
 * import { RECOMMENDED_REDIS_OPTIONS, RedisStore } from 'curfew/redis';
 *
 * const client = new Redis('redis://127.0.0.1:6379', { ...RECOMMENDED_REDIS_OPTIONS });
 * const store = new RedisStore(client, { auditRetention: '90d' });
 * const report = await store.checkEvictionPolicy();
 * if (report.message) console.warn(report.message);
 * const sessions = new SessionManager({ store });
 * ```
 *
 * @example
 * ```ts
 * import { Cluster } from 'ioredis';
 *
 * const cluster = new Cluster([{ host: '10.0.0.1', port: 6379 }], {
 *   enableOfflineQueue: false,
 *   redisOptions: { ...RECOMMENDED_REDIS_OPTIONS },
 * });
 * const sessions = new SessionManager({ store: new RedisStore(cluster) });
 * ```
 */
export class RedisStore implements SessionStore {
  readonly #client: RedisClientLike;
  readonly #layout: KeyLayout;
  readonly #retention: number;
  readonly #cluster: boolean;
  readonly #cache: PointerCache;
  readonly #buckets: string[];
  readonly #allBuckets: string;

  constructor(client: RedisClientLike, options: RedisStoreOptions = {}) {
    if (
      typeof client !== 'object' ||
      client === null ||
      typeof client.evalsha !== 'function' ||
      typeof client.eval !== 'function'
    ) {
      throw invalidArgument('client', 'expected an ioredis Redis or Cluster client');
    }
    const cacheSize = options.pointerCacheSize ?? DEFAULT_POINTER_CACHE;
    if (!Number.isInteger(cacheSize) || cacheSize < 0) {
      throw invalidArgument('pointerCacheSize', 'expected a whole number, 0 or more');
    }
    if (options.cluster !== undefined && typeof options.cluster !== 'boolean') {
      throw invalidArgument('cluster', 'expected true or false');
    }
    this.#client = client;
    this.#layout = {
      prefix: checkPrefix(options.prefix ?? DEFAULT_PREFIX),
      buckets: checkBuckets(options.buckets ?? DEFAULT_BUCKETS),
    };
    this.#retention = parseDuration(options.auditRetention ?? DEFAULT_RETENTION, 'auditRetention');
    this.#cluster = options.cluster ?? client.isCluster === true;
    this.#cache = new PointerCache(this.#cluster ? cacheSize : 0);
    this.#buckets = allBuckets(this.#layout);
    this.#allBuckets = this.#buckets.join(',');
  }

  async insert(session: StoredSession): Promise<void> {
    const place = placeUser(this.#layout, session.userId);
    const now = Math.max(session.createdAt, session.lastActivityAt, session.endedAt ?? 0);
    const args = [
      ...this.#base(place.bucket, session.id),
      String(now),
      ...encodeSession(session, place.userKey),
    ];
    const tokenKey = tokenPointerKey(this.#layout, session.tokenHash);
    const idKey = idPointerKey(this.#layout, session.id);
    if (!this.#cluster) {
      await this.#run(SINGLE_SCRIPTS.insert, [tokenKey, idKey], args);
      return;
    }
    // The pointers are claimed first, in their own slots, because they are what makes a token
    // hash and an id unique across the whole cluster; then the record is written in its bucket.
    const tokenValue = tokenPointerValue(place.bucket, session.id);
    const keep = (session.endedAt ?? session.absoluteExpiresAt) + this.#retention - now;
    const claims = await Promise.allSettled([
      this.#claim(tokenKey, tokenValue, session.absoluteExpiresAt - now),
      this.#claim(idKey, place.bucket, keep),
    ]);
    const [token, id] = claims;
    const undo = () =>
      Promise.allSettled([
        token?.status === 'fulfilled' && token.value ? this.#release(tokenKey, tokenValue) : null,
        id?.status === 'fulfilled' && id.value ? this.#release(idKey, place.bucket) : null,
      ]);
    for (const claim of claims) {
      if (claim.status === 'rejected') {
        await undo();
        throw claim.reason;
      }
    }
    if (token?.status === 'fulfilled' && !token.value) {
      await undo();
      throw new Error('duplicate token hash');
    }
    if (id?.status === 'fulfilled' && !id.value) {
      await undo();
      throw new Error('duplicate session id');
    }
    try {
      await this.#run(
        BUCKET_SCRIPTS.insert,
        [recordKey(this.#layout, place.bucket, session.id)],
        args,
      );
    } catch (error) {
      await undo();
      throw error;
    }
    this.#cache.set(`t:${session.tokenHash}`, tokenValue);
    this.#cache.set(`i:${session.id}`, place.bucket);
  }

  async validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult> {
    const tail = [
      tokenHash,
      String(input.now),
      optional(input.idleTimeout),
      optional(input.touchInterval),
    ];
    let reply: unknown;
    if (this.#cluster) {
      const pointer = await this.#resolveToken(tokenHash);
      if (pointer === null) return { status: 'missing' };
      reply = await this.#run(
        BUCKET_SCRIPTS.validate,
        [recordKey(this.#layout, pointer.bucket, pointer.id)],
        [...this.#base(pointer.bucket, pointer.id), ...tail],
      );
    } else {
      reply = await this.#run(
        SINGLE_SCRIPTS.validate,
        [tokenPointerKey(this.#layout, tokenHash)],
        [...this.#base('', ''), ...tail],
      );
    }
    const [status, first, second] = asArray(reply);
    switch (status) {
      case 'missing':
        this.#cache.delete(`t:${tokenHash}`);
        return { status: 'missing' };
      case 'ended':
        return { status: 'ended', session: decodeSession(first) };
      case 'expired':
        // The script checks and ends in one step, so whoever sees it active is the one ending it.
        return { status: 'expired', session: decodeSession(first), endedNow: true };
      case 'valid':
        return { status: 'valid', session: decodeSession(second), touched: first === 1 };
      default:
        throw new Error('unexpected reply from Redis to validate');
    }
  }

  async rotate(oldHash: string, newHash: string, rule: ExpiryRule): Promise<StoredSession | null> {
    const tail = [oldHash, newHash, String(rule.now), optional(rule.idleTimeout)];
    if (!this.#cluster) {
      const reply = await this.#run(
        SINGLE_SCRIPTS.rotate,
        [tokenPointerKey(this.#layout, oldHash), tokenPointerKey(this.#layout, newHash)],
        [...this.#base('', ''), ...tail, ''],
      );
      return reply === null ? null : decodeSession(reply);
    }
    const pointer = await this.#resolveToken(oldHash);
    if (pointer === null) return null;
    const key = recordKey(this.#layout, pointer.bucket, pointer.id);
    const base = this.#base(pointer.bucket, pointer.id);
    // Check first, to learn the absolute expiry that bounds the new pointer's TTL; the switch
    // below checks again, in the same slot as every other change to this session.
    const absolute = await this.#run(BUCKET_SCRIPTS.rotate, [key], [...base, ...tail, '1']);
    if (absolute === null) return null;
    const value = tokenPointerValue(pointer.bucket, pointer.id);
    const newKey = tokenPointerKey(this.#layout, newHash);
    if (!(await this.#claim(newKey, value, Number(absolute) - rule.now))) {
      throw new Error('duplicate token hash');
    }
    let reply: unknown;
    try {
      reply = await this.#run(BUCKET_SCRIPTS.rotate, [key], [...base, ...tail, '']);
    } catch (error) {
      await this.#release(newKey, value).catch(() => undefined);
      throw error;
    }
    if (reply === null) {
      await this.#release(newKey, value).catch(() => undefined);
      return null;
    }
    this.#cache.delete(`t:${oldHash}`);
    this.#cache.set(`t:${newHash}`, value);
    // The old hash already stopped working (the record now holds the new one): removing its
    // pointer only saves memory, so a failure here leaves a pointer that expires by itself.
    await this.#release(tokenPointerKey(this.#layout, oldHash), value).catch(() => undefined);
    return decodeSession(reply);
  }

  async findById(id: string): Promise<StoredSession | null> {
    let reply: unknown;
    if (this.#cluster) {
      const bucket = await this.#resolveId(id);
      if (bucket === null) return null;
      reply = await this.#run(
        BUCKET_SCRIPTS.find,
        [recordKey(this.#layout, bucket, id)],
        this.#base(bucket, id),
      );
    } else {
      reply = await this.#run(
        SINGLE_SCRIPTS.findById,
        [idPointerKey(this.#layout, id)],
        this.#base('', id),
      );
    }
    return reply === null ? null : decodeSession(reply);
  }

  async endSession(
    target: { tokenHash: string } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null> {
    const byToken = 'tokenHash' in target;
    const owner = byToken ? undefined : target.owner;
    const tail = [
      byToken ? target.tokenHash : '',
      owner?.userId ?? '',
      ...tenantFilter(owner?.tenantId),
      String(input.now),
      optional(input.idleTimeout),
      input.reason,
    ];
    let reply: unknown;
    if (this.#cluster) {
      const pointer = byToken
        ? await this.#resolveToken(target.tokenHash)
        : await this.#resolveId(target.id).then((bucket) =>
            bucket === null ? null : { bucket, id: target.id },
          );
      if (pointer === null) return null;
      reply = await this.#run(
        BUCKET_SCRIPTS.end,
        [recordKey(this.#layout, pointer.bucket, pointer.id)],
        [...this.#base(pointer.bucket, pointer.id), ...tail],
      );
    } else if (byToken) {
      reply = await this.#run(
        SINGLE_SCRIPTS.endByToken,
        [tokenPointerKey(this.#layout, target.tokenHash)],
        [...this.#base('', ''), ...tail],
      );
    } else {
      reply = await this.#run(
        SINGLE_SCRIPTS.endById,
        [idPointerKey(this.#layout, target.id)],
        [...this.#base('', target.id), ...tail],
      );
    }
    return reply === null ? null : decodeEnded(reply);
  }

  async endUserSessions(
    scope: UserScope,
    input: StoreEndInput & { exceptId?: string | undefined },
  ): Promise<EndedSession[]> {
    const place = placeUser(this.#layout, scope.userId);
    const reply = await this.#run(
      this.#cluster ? BUCKET_SCRIPTS.endUser : SINGLE_SCRIPTS.endUser,
      [userIndexKey(this.#layout, place)],
      [
        ...this.#base(place.bucket, ''),
        place.userKey,
        scope.userId,
        ...tenantFilter(scope.tenantId),
        input.exceptId ?? '',
        String(input.now),
        optional(input.idleTimeout),
        input.reason,
      ],
    );
    return decodeEndedList(reply);
  }

  async listUserSessions(
    scope: UserScope,
    rule: ExpiryRule & { limit: number },
  ): Promise<StoredSession[]> {
    const place = placeUser(this.#layout, scope.userId);
    const reply = await this.#run(
      this.#cluster ? BUCKET_SCRIPTS.listUser : SINGLE_SCRIPTS.listUser,
      [userIndexKey(this.#layout, place)],
      [...this.#base(place.bucket, ''), place.userKey, scope.userId],
    );
    return decodeSessions(reply)
      .filter((row) => matchesOwner(row, scope) && findExpiry(row, rule) === null)
      .sort((a, b) => b.lastActivityAt - a.lastActivityAt || (a.id < b.id ? -1 : 1))
      .slice(0, rule.limit);
  }

  async sweep(input: StoreSweepInput): Promise<EndedSession[]> {
    const ended: EndedSession[] = [];
    // One script call: returns where it stopped (phase and bucket position) unless it is done.
    const sweepIn = async (
      buckets: string,
      script: Script,
      modes: string,
      start: number,
    ): Promise<{ done: boolean; phase: string; position: number }> => {
      const budget = Math.min(SCRIPT_BUDGET, input.limit - ended.length);
      const first = buckets.split(',', 1)[0]!;
      const reply = asArray(
        await this.#run(
          script,
          [bucketKey(this.#layout, first, 'exp')],
          [
            ...this.#base(buckets, ''),
            modes,
            String(input.now),
            optional(input.idleTimeout),
            budget,
            start,
          ],
        ),
      );
      ended.push(...decodeEndedList(reply[1]));
      return { done: reply[0] === 1, phase: String(reply[2]), position: Number(reply[3]) };
    };

    if (!this.#cluster) {
      // One script visits every bucket, absolute expiries first, a bounded number per call; the
      // next call carries on where the last stopped instead of looking at emptied buckets again.
      let modes = 'ai';
      let start = 1;
      while (ended.length < input.limit) {
        const step = await sweepIn(this.#allBuckets, SINGLE_SCRIPTS.sweep, modes, start);
        if (step.done) break;
        modes = step.phase === 'i' ? 'i' : 'ai';
        start = step.position;
      }
      return ended;
    }
    // On a cluster each bucket is its own slot: count what is due everywhere at once, then end
    // absolute expiries in every bucket before any idle one, as the contract orders.
    const due = await Promise.all(
      this.#buckets.map(async (bucket) => {
        const counts = asArray(
          await this.#run(
            BUCKET_SCRIPTS.sweepPeek,
            [bucketKey(this.#layout, bucket, 'exp')],
            [...this.#base(bucket, ''), '', String(input.now), optional(input.idleTimeout)],
          ),
        );
        return { bucket, absolute: Number(counts[0]), idle: Number(counts[1]) };
      }),
    );
    for (const mode of ['a', 'i'] as const) {
      for (const entry of due) {
        if ((mode === 'a' ? entry.absolute : entry.idle) === 0) continue;
        while (ended.length < input.limit) {
          if ((await sweepIn(entry.bucket, BUCKET_SCRIPTS.sweep, mode, 1)).done) break;
        }
        if (ended.length >= input.limit) return ended;
      }
    }
    return ended;
  }

  async purgeEnded(input: { endedBefore: number; limit: number }): Promise<number> {
    let deleted = 0;
    const purgeIn = async (buckets: string, script: Script): Promise<boolean> => {
      const first = buckets.split(',', 1)[0]!;
      const reply = asArray(
        await this.#run(
          script,
          [bucketKey(this.#layout, first, 'end')],
          [
            ...this.#base(buckets, ''),
            String(input.endedBefore),
            Math.min(SCRIPT_BUDGET, input.limit - deleted),
          ],
        ),
      );
      deleted += Number(reply[0]);
      const pointers = asArray(reply[2]);
      if (pointers.length > 0) await this.#dropPointers(first, pointers);
      return reply[1] === 1;
    };
    if (!this.#cluster) {
      while (deleted < input.limit) {
        if (await purgeIn(this.#allBuckets, SINGLE_SCRIPTS.purge)) break;
      }
      return deleted;
    }
    for (const bucket of this.#buckets) {
      while (deleted < input.limit) {
        if (await purgeIn(bucket, BUCKET_SCRIPTS.purge)) break;
      }
      if (deleted >= input.limit) break;
    }
    return deleted;
  }

  async countSessions(input: ExpiryRule & { endedSince: number }): Promise<SessionCounts> {
    const counts: SessionCounts = { active: 0, endedByReason: {} };
    // One script per bucket, all in flight at once: on a cluster each runs in its bucket's slot.
    const replies = await Promise.all(
      this.#buckets.map((bucket) =>
        this.#run(
          REPORT_SCRIPTS.count,
          [bucketKey(this.#layout, bucket, 'exp')],
          [
            this.#layout.prefix,
            bucket,
            String(input.now),
            optional(input.idleTimeout),
            String(input.endedSince),
          ],
        ),
      ),
    );
    for (const reply of replies) {
      const [active, ...pairs] = asArray(reply);
      counts.active += Number(active);
      for (let i = 0; i < pairs.length; i += 2) {
        const reason = String(pairs[i]) as EndReason;
        counts.endedByReason[reason] = (counts.endedByReason[reason] ?? 0) + Number(pairs[i + 1]);
      }
    }
    return counts;
  }

  async ping(): Promise<void> {
    const masters =
      this.#cluster && typeof this.#client.nodes === 'function' ? this.#client.nodes('master') : [];
    if (masters.length === 0) await this.#client.ping();
    else await Promise.all(masters.map((node) => node.ping()));
  }

  /**
   * Whether the Redis servers behind this store could evict session keys when full (see
   * {@link checkRedisEvictionPolicy}); call it at start-up and log `message` when it is set.
   *
   * @example
   * ```ts
   * const report = await store.checkEvictionPolicy();
   * if (report.message !== null) logger.warn(report.message);
   * ```
   */
  checkEvictionPolicy(): Promise<RedisEvictionReport> {
    return checkRedisEvictionPolicy(this.#client);
  }

  #base(bucket: string, id: string): string[] {
    return [this.#layout.prefix, String(this.#retention), bucket, id];
  }

  #run(script: Script, keys: string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    return runScript(this.#client, script, keys, args);
  }

  async #resolveToken(tokenHash: string): Promise<Pointer | null> {
    const cacheKey = `t:${tokenHash}`;
    let value: unknown = this.#cache.get(cacheKey);
    if (value === undefined) {
      value = await this.#run(POINTER_SCRIPTS.get, [tokenPointerKey(this.#layout, tokenHash)], []);
      if (typeof value !== 'string') return null;
      this.#cache.set(cacheKey, value);
    }
    return parseTokenPointer(value as string);
  }

  async #resolveId(id: string): Promise<string | null> {
    const cacheKey = `i:${id}`;
    const cached = this.#cache.get(cacheKey);
    if (cached !== undefined) return cached;
    const value = await this.#run(POINTER_SCRIPTS.get, [idPointerKey(this.#layout, id)], []);
    if (typeof value !== 'string') return null;
    this.#cache.set(cacheKey, value);
    return value;
  }

  async #claim(key: string, value: string, ttl: number): Promise<boolean> {
    const ms = Math.max(1, Math.floor(ttl));
    return (await this.#run(POINTER_SCRIPTS.claim, [key], [value, ms])) === 1;
  }

  async #release(key: string, value: string): Promise<void> {
    await this.#run(POINTER_SCRIPTS.release, [key], [value]);
  }

  // After a purge on a cluster: the pointers of deleted records, in other slots. They would
  // expire by themselves and resolve to nothing meanwhile; removing them only frees memory.
  async #dropPointers(bucket: string, pointers: unknown[]): Promise<void> {
    const drops: Array<Promise<void>> = [];
    for (let i = 0; i + 1 < pointers.length; i += 2) {
      const tokenHash = String(pointers[i]);
      const id = String(pointers[i + 1]);
      this.#cache.delete(`t:${tokenHash}`);
      this.#cache.delete(`i:${id}`);
      drops.push(
        this.#release(tokenPointerKey(this.#layout, tokenHash), tokenPointerValue(bucket, id)),
        this.#release(idPointerKey(this.#layout, id), bucket),
      );
    }
    await Promise.allSettled(drops);
  }
}

function optional(value: number | null): string {
  return value === null ? '' : String(value);
}

function tenantFilter(tenantId: string | null | undefined): [string, string] {
  if (tenantId === undefined) return ['', ''];
  if (tenantId === null) return ['n', ''];
  return ['v', tenantId];
}

function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from Redis');
  return reply;
}
