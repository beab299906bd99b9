import { type Duration, parseDuration } from '../../core/duration.js';
import type { EndReason } from '../../core/end-reason.js';
import { invalidArgument } from '../../core/errors.js';
import type {
  EndedSession,
  ExpiryRule,
  SessionCounts,
  SessionFilter,
  SessionOwner,
  SessionStore,
  StoredSession,
  StoreEndInput,
  StoreEndUserInput,
  StoreEndUserResult,
  StoreInsertResult,
  StoreListInput,
  StoreRotateInput,
  StoreSessionCap,
  StoreSweepInput,
  StoreValidateInput,
  StoreValidateResult,
  UserScope,
} from '../../core/store.js';
import { hasNetworkCode } from '../../core/store-failure.js';
import { type RedisClientLike, runScript } from './client.js';
import { asBuffer, decodeRecord, decodeRecords, encodeRecord, toEnded } from './codec.js';
import { checkRedisEvictionPolicy, type RedisEvictionReport } from './eviction-policy.js';
import {
  allBuckets,
  bucketOf,
  checkBuckets,
  checkPrefix,
  decodeId,
  encodeId,
  type KeyLayout,
  keyName,
  MEMBER_TIME_DIGITS,
} from './key-layout.js';
import { checkRedisPersistence, type RedisPersistenceReport } from './persistence.js';
import { BUCKET_SCRIPTS, type LuaScript, TARGETED_SCRIPTS } from './scripts.js';
import {
  ClusterTopology,
  type ScriptTarget,
  SingleTopology,
  scriptFor,
  type Topology,
} from './topology.js';

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
   * How long a session stays readable after it ends, or after its absolute expiry if nothing
   * ended it, before Redis expires it (default `30d`): the audit trail, and what lets a timed-out
   * session answer `absolute` or `idle`. `purgeEnded` can delete it sooner.
   */
  auditRetention?: Duration | undefined;
  /**
   * How many buckets (hash tags) the sessions are spread over: default 128 on a Cluster, 1 on a
   * single Redis. Part of the key layout: never change it for existing data. More buckets spread
   * a large cluster more evenly; with more than one, each session also has an id pointer.
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
const DEFAULT_CLUSTER_BUCKETS = 128;
const DEFAULT_POINTER_CACHE = 10_000;
// Sessions ended (or index entries looked at) by one script that writes. Redis runs a script to
// the end before serving anyone else, so this bounds how long one can delay a validation: about
// a millisecond.
const WRITE_BUDGET = 100;
// Index entries one read-only script looks at: a slice of a count, and at least this many when a
// page of a listing goes on past expired sessions (its first call looks at just the page).
const READ_BUDGET = 1_000;
const LIST_MIN_BUDGET = 100;

// Errors that mean Redis could not answer now, from ioredis (the client's own) and from the
// server (a reply's first word). Anything else, a script's error or a duplicate included, is the
// store answering with something unexpected.
const UNAVAILABLE_CLIENT_ERRORS = new Set([
  'MaxRetriesPerRequestError',
  'ClusterAllFailedError',
  'AbortError',
]);
const UNAVAILABLE_CLIENT_MESSAGE =
  /Connection is closed|Stream isn't writeable|Command timed out|None of startup nodes|Failed to refresh slots cache|Too many Cluster redirections|Cluster isn't ready|connect ETIMEDOUT/;
const UNAVAILABLE_REPLY =
  /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM|READONLY|NOREPLICAS|MISCONF)\b|^ERR max number of clients/;

/**
 * A {@link SessionStore} on Redis or Redis Cluster, through an ioredis client that you create
 * (and close). curfew does not depend on ioredis: install it yourself (v5).
 *
 * Every operation is one Lua script (or, for work that grows with a user's sessions, a series of
 * short ones), so each check-and-change is atomic on the server. On a single Redis every
 * operation on one session is one round trip. On a Cluster, a session's keys share a hash tag and
 * every script stays within one slot; finding a session by token hash or id takes a pointer
 * lookup in another slot first, which a per-process cache usually saves (see
 * {@link RedisStoreOptions.pointerCacheSize}). Round trips per operation:
 *
 * | operation                      | single | cluster                                      |
 * | ------------------------------ | ------ | -------------------------------------------- |
 * | validate (with touch)          | 1      | 1 (pointer cached) or 2                      |
 * | insert                         | 1      | 2 (claim token and id pointers, in parallel; then the record) |
 * | insert under a cap             | 1, + 1 per 100 sessions to end beyond the first 100 | the same, + the pointer claims |
 * | rotate                         | 1      | 4 or 5 (check; claim new pointer, and on a reauthentication extend the id pointer, in parallel; switch; drop old pointer) |
 * | findById, endSession           | 1      | 1 (cached) or 2                              |
 * | endUserSessions                | 1 per 100 sessions | the same                         |
 * | endSessions (a tenant, everyone) | 1 per bucket and 100 sessions | the same, buckets one after another |
 * | listUserSessions               | 1 per page (more if most of it has expired unswept) | the same |
 * | sweep                          | 1 per 100 sessions | 1 peek per bucket, in parallel, + 1 per 100 sessions and bucket |
 * | purgeEnded                     | 1 per 100 sessions | 1 per bucket and 100 sessions, + pointer clean-up |
 *
 * Key layout (key-layout.ts, from which the scripts' Lua is generated; `P` the prefix, `b` a
 * bucket whose `{b}` is the hash tag, `id` the session id):
 *
 * | key              | type   | holds                                                  | expires at |
 * | ---------------- | ------ | ------------------------------------------------------ | ---------- |
 * | `P{b}:s:<id>`    | string | the session: the token hash's 32 bytes, then `la ax c ea er app ip tid uid it aal am at ua` separated by NUL (records from before levels lack `it aal am at`, and read as AAL1 with a 15-minute idle limit) | absolute expiry (or end, once ended) + retention |
 * | `P{b}:exp`       | zset   | ids of the bucket's active sessions, by absolute expiry | outlives every record it lists |
 * | `P{b}:act`       | zset   | ids of the bucket's active sessions that have an idle limit, by the moment they idle out | likewise |
 * | `P{b}:ts:<tenant>` | zset | the scopes of one tenant (or of none) with active sessions, all scores 0 | likewise |
 * | `P{b}:end`       | zset   | ids of the bucket's ended sessions, by end (for purges) | likewise |
 * | `P{b}:u:<scope>` | zset   | one user's active sessions in one tenant (or none): members `<last activity, 16 digits>:<id>`, all scores 0 | likewise |
 * | `P{b}:ut:<user>` | set    | the scopes in which a user has active sessions          | likewise |
 * | `Pt:<hash>`      | string | `b:id`, the session a token hash belongs to (the key ends in the hash's 32 bytes) | as the record |
 * | `Pi:<id>`        | string | `b`, the bucket of a session id; only with more than one bucket | as the record |
 *
 * `scope`, `user` and `tenant` are the first 80 bits of the SHA-1 of the user id (and tenant):
 * they only spread keys, since every record is checked against the caller's user and tenant.
 *
 * Why this shape:
 * - A user's bucket is fixed by their id, so one user's records, their indexes and the bucket's
 *   sweep indexes share a hash slot: every change to a session, including a touch that moves it
 *   in `act` and in its scope index, is one script in one slot.
 * - A record is one string, not a hash: Redis keeps a small hash compact only while every value
 *   is at most 64 bytes, and user agents are longer. With the token hash kept as bytes, an
 *   active session costs about 900 bytes in all (see docs/benchmarks.md).
 * - A scope index per user and tenant, ordered by last activity, makes a page of a listing cost
 *   the same whatever the user's session count, keeps one tenant's sessions from slowing another
 *   tenant's listing of a user with the same id, and lets "sign out everywhere" end a bounded
 *   number per script.
 * - The token pointer lives as long as the record, so a session that timed out answers `absolute`
 *   or `idle` until it is purged, as on every other store. Scripts check the record's token hash
 *   again, so a stale pointer only ever reads as missing. Every key has a TTL; no clock of the
 *   store's own is read: TTLs are computed from the `now` the caller passes.
 * - A single Redis needs one bucket, so there it has one and no id pointers: a record is found by
 *   its id directly.
 * - Each session carries its own limits, so `act` is scored by each one's idle deadline: the
 *   sweep stays a range read, and a session without an idle limit is not in `act` at all.
 * - The session cap is decided in the insert script from the scope index, whose records share
 *   the bucket's slot (on a cluster too: the scope is the user's, and the user fixes the
 *   bucket), before the script's first write: a refusal adds nothing. The script counts valid
 *   sessions from the most recently active down, and inserts only once it has seen the whole
 *   index; when more must end first than one script may end (a user far over a cap set later),
 *   each call ends 100 and answers "not yet", and the next call counts again. No call adds a
 *   session while more than `max - 1` valid ones are left. A call reads at most the `max - 1`
 *   sessions it keeps, the 100 it ends and 1,000 stale entries.
 * - A tenant's scopes per bucket (`ts`) let ending a tenant's sessions walk only that tenant's
 *   scope indexes, as "sign out everywhere" walks a user's: each call is as cheap with a million
 *   sessions in the bucket as with ten. One entry per user and tenant, not per session, so a
 *   session still costs under 1,000 bytes on a single Redis (see docs/benchmarks.md); an entry
 *   per session cost about 90 bytes more. Ending everyone needs no index of its own: it walks
 *   `exp`, which holds every active session.
 *
 * Records written before sessions carried a level (and before `ts` existed) read as AAL1,
 * authenticated at creation, with a 15-minute idle limit, so the upgrade fails closed; any write
 * rewrites them. They are in no `ts` set and their `act` entry is scored by their last activity,
 * so it is due: the scripts that rewrite one or move its `act` entry (a touch, a rotation, a
 * sweep) add its scope to its tenant's set, and ending a tenant first settles the due part of
 * `act` (ending expired sessions of any tenant with their timeout, as a sweep would), so it finds
 * every one that is still valid.
 *
 * When Redis is out of memory (`noeviction`), inserts fail while validations (without recording
 * activity) and revocations still succeed. Use {@link RECOMMENDED_REDIS_OPTIONS} on the client so
 * an unreachable Redis fails fast, and check the eviction policy at start-up with
 * {@link RedisStore.checkEvictionPolicy}.
 *
 * Sessions written by curfew 0.1 (whose records were hashes) are not read by this layout: they
 * answer as not found and expire on their own; sign-ins made after the upgrade work as usual.
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
  readonly #topology: Topology;
  readonly #buckets: string[];
  readonly #allBuckets: string;

  constructor(client: RedisClientLike, options: RedisStoreOptions = {}) {
    if (typeof client !== 'object' || client === null || typeof client.callBuffer !== 'function') {
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
    this.#cluster = options.cluster ?? client.isCluster === true;
    this.#layout = {
      prefix: checkPrefix(options.prefix ?? DEFAULT_PREFIX),
      buckets: checkBuckets(options.buckets ?? (this.#cluster ? DEFAULT_CLUSTER_BUCKETS : 1)),
    };
    this.#retention = parseDuration(options.auditRetention ?? DEFAULT_RETENTION, 'auditRetention');
    this.#topology = this.#cluster
      ? new ClusterTopology(client, this.#layout, cacheSize)
      : new SingleTopology(this.#layout);
    this.#buckets = allBuckets(this.#layout);
    this.#allBuckets = this.#buckets.join(',');
  }

  async insert(session: StoredSession, cap?: StoreSessionCap): Promise<StoreInsertResult> {
    const bucket = bucketOf(this.#layout, session.userId);
    const record = encodeRecord(session);
    const id = encodeId(session.id);
    const now = Math.max(session.createdAt, session.lastActivityAt, session.endedAt ?? 0);
    const undo = await this.#topology.claimPointers({
      tokenHash: session.tokenHash,
      id,
      bucket,
      ttl: (session.endedAt ?? session.absoluteExpiresAt) + this.#retention - now,
    });
    const ended: EndedSession[] = [];
    let verdict: unknown;
    try {
      // Usually one call. Under a cap, when more must end first than one script may end (a user
      // far over a cap set later), each call ends a batch and answers "not yet" (2) until one
      // sees room and inserts: every call is atomic, and none adds a session while more than
      // `max - 1` valid ones are left.
      do {
        const [answer, ...records] = asArray(
          await this.#run(
            BUCKET_SCRIPTS.insert,
            [keyName(this.#layout, 'record', { b: bucket, id })],
            [
              ...this.#base(bucket, id),
              String(now),
              record,
              cap === undefined ? '' : String(cap.max),
              cap?.action === 'refuse' ? 'r' : 'e',
              cap === undefined ? '' : String(cap.now),
              WRITE_BUDGET,
              READ_BUDGET,
            ],
          ),
        );
        verdict = answer;
        for (const row of decodeRecords(records)) ended.push(toEnded(row));
      } while (verdict === 2);
    } catch (error) {
      await undo();
      throw error;
    }
    if (verdict !== 1) {
      // Refused by the cap, which added nothing: the pointers claimed for it go.
      await undo();
      return { inserted: false, ended };
    }
    return { inserted: true, ended };
  }

  async validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult> {
    const target = await this.#topology.locateToken(tokenHash);
    if (target === null) return { status: 'missing' };
    const reply = asArray(
      await this.#runOn(TARGETED_SCRIPTS.validate, target, [
        Buffer.from(tokenHash, 'hex'),
        String(input.now),
        '',
        optional(input.touchInterval),
        input.owner?.userId ?? '',
        ...tenantFilter(input.owner?.tenantId),
      ]),
    );
    const [status, id, record, touched] = reply;
    switch (String(status)) {
      case 'missing':
        this.#topology.forgetToken(tokenHash);
        return { status: 'missing' };
      case 'ended':
        return { status: 'ended', session: decodeRecord(decodeId(asBuffer(id)), record) };
      case 'expired':
        // The script checks and ends in one step, so whoever sees it active is the one ending it.
        return {
          status: 'expired',
          session: decodeRecord(decodeId(asBuffer(id)), record),
          endedNow: true,
        };
      case 'valid':
        return {
          status: 'valid',
          session: decodeRecord(decodeId(asBuffer(id)), record),
          touched: touched === 1,
        };
      default:
        throw new Error('unexpected reply from Redis to validate');
    }
  }

  async rotate(
    oldHash: string,
    newHash: string,
    input: StoreRotateInput,
  ): Promise<StoredSession | null> {
    const renewed = input.reauthentication;
    const head = [Buffer.from(oldHash, 'hex'), Buffer.from(newHash, 'hex'), String(input.now), ''];
    const tail = [
      input.owner?.userId ?? '',
      ...tenantFilter(input.owner?.tenantId),
      ...(renewed === undefined
        ? ['', '', '', '', '']
        : [
            '1',
            optional(renewed.idleTimeout),
            String(renewed.absoluteExpiresAt),
            String(renewed.aal),
            renewed.methods.join(' '),
          ]),
    ];
    // The new token pointer lasts as long as the record will: a reauthentication sets a new
    // absolute expiry, later or (a step-up to a stricter level) sooner.
    const lasts = (absoluteExpiresAt: number) =>
      (renewed?.absoluteExpiresAt ?? absoluteExpiresAt) + this.#retention - input.now;
    const reply = await this.#topology.rotate(
      oldHash,
      newHash,
      (target, checkOnly) =>
        this.#runOn(TARGETED_SCRIPTS.rotate, target, [...head, checkOnly ? '1' : '', ...tail]),
      lasts,
      renewed !== undefined,
    );
    if (reply === null) return null;
    const session = decodeRecords(reply)[0]!;
    return session;
  }

  async findById(id: string): Promise<StoredSession | null> {
    const target = await this.#topology.locateId(encodeId(id));
    if (target === null) return null;
    const reply = await this.#runOn(TARGETED_SCRIPTS.find, target, []);
    return reply === null ? null : decodeRecords(reply)[0]!;
  }

  async endSession(
    target: { tokenHash: string; owner?: SessionOwner } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null> {
    const byToken = 'tokenHash' in target;
    const owner = target.owner;
    const located = byToken
      ? await this.#topology.locateToken(target.tokenHash)
      : await this.#topology.locateId(encodeId(target.id));
    if (located === null) return null;
    const reply = await this.#runOn(TARGETED_SCRIPTS.end, located, [
      byToken ? Buffer.from(target.tokenHash, 'hex') : '',
      owner?.userId ?? '',
      ...tenantFilter(owner?.tenantId),
      String(input.now),
      '',
      input.reason,
    ]);
    return reply === null ? null : toEnded(decodeRecords(reply)[0]!);
  }

  async endSessions(filter: SessionFilter, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const ended: EndedSession[] = [];
    // Bucket by bucket, each a series of short scripts, as endUserSessions: a tenant of a hundred
    // thousand sessions never holds Redis for more than one of them. A bucket found empty costs
    // one short read when the manager calls again.
    for (const bucket of this.#buckets) {
      for (;;) {
        const want = Math.min(WRITE_BUDGET, input.limit - ended.length);
        if (want <= 0) return { ended, done: false };
        const [done, ...records] = asArray(
          await this.#run(
            BUCKET_SCRIPTS.endMany,
            [keyName(this.#layout, 'absolute', { b: bucket })],
            [
              ...this.#base(bucket, ''),
              ...tenantFilter(filter.tenantId),
              input.exceptId === undefined ? '' : encodeId(input.exceptId),
              String(input.now),
              input.reason,
              want,
              want * 4,
            ],
          ),
        );
        for (const session of decodeRecords(records)) ended.push(toEnded(session));
        if (done === 1) break;
      }
    }
    return { ended, done: true };
  }

  async endUserSessions(scope: UserScope, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const bucket = bucketOf(this.#layout, scope.userId);
    const ended: EndedSession[] = [];
    // A series of short scripts, each ending a bounded number: a user with a hundred thousand
    // sessions never holds Redis for more than one of them.
    for (;;) {
      const want = Math.min(WRITE_BUDGET, input.limit - ended.length);
      const [done, ...records] = asArray(
        await this.#run(
          BUCKET_SCRIPTS.endUser,
          [keyName(this.#layout, 'absolute', { b: bucket })],
          [
            ...this.#base(bucket, ''),
            scope.userId,
            ...tenantFilter(scope.tenantId),
            input.exceptId === undefined ? '' : encodeId(input.exceptId),
            String(input.now),
            '',
            input.reason,
            want,
            want * 4,
          ],
        ),
      );
      for (const session of decodeRecords(records)) ended.push(toEnded(session));
      if (done === 1) return { ended, done: true };
      if (ended.length >= input.limit) return { ended, done: false };
    }
  }

  async listUserSessions(scope: UserScope, input: StoreListInput): Promise<StoredSession[]> {
    const bucket = bucketOf(this.#layout, scope.userId);
    const rows: StoredSession[] = [];
    let after: Buffer | '' = input.after === undefined ? '' : scopeMember(input.after);
    for (let call = 0; ; call += 1) {
      const want = input.limit - rows.length;
      const [exhausted, last, ...records] = asArray(
        await this.#run(
          BUCKET_SCRIPTS.listUser,
          [keyName(this.#layout, 'absolute', { b: bucket })],
          [
            ...this.#base(bucket, ''),
            scope.userId,
            ...tenantFilter(scope.tenantId),
            after,
            String(input.now),
            '',
            want,
            // Entries looked at: the page itself, so that a page costs what its size does; a
            // call that continues past sessions that expired without being swept looks further.
            call === 0 ? want : Math.max(want, LIST_MIN_BUDGET),
          ],
        ),
      );
      rows.push(...decodeRecords(records));
      // More calls only when most of a page had expired without being swept yet.
      if (rows.length >= input.limit || exhausted === 1) return rows;
      after = asBuffer(last);
    }
  }

  async sweep(input: StoreSweepInput): Promise<EndedSession[]> {
    const ended: EndedSession[] = [];
    // One script call: returns where it stopped (phase and bucket position) unless it is done.
    const sweepIn = async (
      buckets: string,
      modes: string,
      start: number,
    ): Promise<{ done: boolean; phase: string; position: number }> => {
      const budget = Math.min(WRITE_BUDGET, input.limit - ended.length);
      const first = buckets.split(',', 1)[0]!;
      const reply = asArray(
        await this.#run(
          BUCKET_SCRIPTS.sweep,
          [keyName(this.#layout, 'absolute', { b: first })],
          [...this.#base(buckets, ''), modes, String(input.now), '', budget, start],
        ),
      );
      for (const session of decodeRecords(reply[1])) ended.push(toEnded(session));
      return { done: reply[0] === 1, phase: String(reply[2]), position: Number(reply[3]) };
    };

    if (!this.#cluster) {
      // One script visits every bucket (one, by default), absolute expiries first, a bounded
      // number per call; the next call carries on where the last stopped.
      let modes = 'ai';
      let start = 1;
      while (ended.length < input.limit) {
        const step = await sweepIn(this.#allBuckets, modes, start);
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
            [keyName(this.#layout, 'absolute', { b: bucket })],
            [...this.#base(bucket, ''), '', String(input.now), ''],
          ),
        );
        return { bucket, absolute: Number(counts[0]), idle: Number(counts[1]) };
      }),
    );
    for (const mode of ['a', 'i'] as const) {
      for (const entry of due) {
        if ((mode === 'a' ? entry.absolute : entry.idle) === 0) continue;
        while (ended.length < input.limit) {
          if ((await sweepIn(entry.bucket, mode, 1)).done) break;
        }
        if (ended.length >= input.limit) return ended;
      }
    }
    return ended;
  }

  async purgeEnded(input: { endedBefore: number; limit: number }): Promise<number> {
    let deleted = 0;
    const purgeIn = async (buckets: string): Promise<boolean> => {
      const first = buckets.split(',', 1)[0]!;
      const reply = asArray(
        await this.#run(
          BUCKET_SCRIPTS.purge,
          [keyName(this.#layout, 'ended', { b: first })],
          [
            ...this.#base(buckets, ''),
            String(input.endedBefore),
            Math.min(WRITE_BUDGET, input.limit - deleted),
          ],
        ),
      );
      deleted += Number(reply[0]);
      const pointers = asArray(reply[2]);
      if (pointers.length > 0) await this.#topology.dropPointers(first, pointers);
      return reply[1] === 1;
    };
    if (!this.#cluster) {
      while (deleted < input.limit) {
        if (await purgeIn(this.#allBuckets)) break;
      }
      return deleted;
    }
    for (const bucket of this.#buckets) {
      while (deleted < input.limit) {
        if (await purgeIn(bucket)) break;
      }
      if (deleted >= input.limit) break;
    }
    return deleted;
  }

  async countSessions(input: ExpiryRule & { endedSince: number }): Promise<SessionCounts> {
    const counts: SessionCounts = { active: 0, endedByReason: {} };
    // Every bucket at once (on a cluster, each in its own slot), each a slice at a time.
    await Promise.all(
      this.#buckets.flatMap((bucket) =>
        (['a', 'e'] as const).map(async (what) => {
          for (let offset = 0; offset !== -1; ) {
            const [next, ...rest] = asArray(
              await this.#run(
                BUCKET_SCRIPTS.count,
                [keyName(this.#layout, 'absolute', { b: bucket })],
                [
                  ...this.#base(bucket, ''),
                  what,
                  String(input.now),
                  '',
                  String(input.endedSince),
                  offset,
                  READ_BUDGET,
                ],
              ),
            );
            offset = Number(next);
            if (what === 'a') {
              counts.active += Number(rest[0]);
              continue;
            }
            for (let i = 0; i + 1 < rest.length; i += 2) {
              const reason = String(rest[i]) as EndReason;
              counts.endedByReason[reason] =
                (counts.endedByReason[reason] ?? 0) + Number(rest[i + 1]);
            }
          }
        }),
      ),
    );
    return counts;
  }

  async ping(): Promise<void> {
    const masters =
      this.#cluster && typeof this.#client.nodes === 'function' ? this.#client.nodes('master') : [];
    if (masters.length === 0) await this.#client.ping();
    else await Promise.all(masters.map((node) => node.ping()));
  }

  /**
   * Redis's `TIME`, epoch milliseconds: for measuring clock skew. On a cluster, whichever node
   * the client sends a keyless command to: the store reads no Redis clock for sessions, so any
   * node is as good a reference.
   */
  async storeTime(): Promise<number> {
    const reply = (await this.#client.callBuffer('TIME', [])) as [Buffer, Buffer];
    return Number(String(reply[0])) * 1000 + Number(String(reply[1])) / 1000;
  }

  /**
   * Whether an error from this store means Redis could not answer now: the connection is down or
   * timed out, the server is loading, busy, full (`OOM`), read-only after a failover, or a
   * cluster is reconfiguring. A script error or a duplicate is not: it is a bug to look at.
   *
   * @example
   * ```ts
   * if (store.isUnavailable(error)) retryLater();
   * ```
   */
  isUnavailable(error: unknown): boolean {
    if (hasNetworkCode(error)) return true;
    if (!(error instanceof Error)) return false;
    if (UNAVAILABLE_CLIENT_ERRORS.has(error.name)) return true;
    if (error.name === 'ReplyError') return UNAVAILABLE_REPLY.test(error.message);
    return UNAVAILABLE_CLIENT_MESSAGE.test(error.message);
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

  /**
   * Whether the Redis servers behind this store keep the sessions across a restart (see
   * {@link checkRedisPersistence}); call it at start-up and log `message` when it is set.
   *
   * @example
   * ```ts
   * const report = await store.checkPersistence();
   * if (report.message !== null) logger.warn(report.message);
   * ```
   */
  checkPersistence(): Promise<RedisPersistenceReport> {
    return checkRedisPersistence(this.#client);
  }

  /** ARGV[1] to ARGV[5] (scripts.ts). */
  #base(bucket: string, id: Buffer | ''): Array<string | Buffer> {
    return [this.#layout.prefix, String(this.#retention), this.#topology.mode, bucket, id];
  }

  #run(
    script: LuaScript,
    keys: Array<string | Buffer>,
    args: ReadonlyArray<string | Buffer | number>,
  ): Promise<unknown> {
    return runScript(this.#client, script, keys, args);
  }

  #runOn(
    variants: Partial<Record<ScriptTarget['variant'], LuaScript>>,
    target: ScriptTarget,
    args: ReadonlyArray<string | Buffer | number>,
  ): Promise<unknown> {
    return this.#run(scriptFor(variants, target), target.keys, [
      ...this.#base(target.bucket, target.id),
      ...args,
    ]);
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

/** A listing position as a scope index member (see key-layout.ts). */
function scopeMember(position: { lastActivityAt: number; id: string }): Buffer {
  const time = String(position.lastActivityAt).padStart(MEMBER_TIME_DIGITS, '0');
  return Buffer.concat([Buffer.from(`${time}:`), encodeId(position.id)]);
}

function asArray(reply: unknown): unknown[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from Redis');
  return reply;
}
