import { createHash } from 'node:crypto';
import type { EndReason } from '../../core/end-reason.js';
import { invalidArgument } from '../../core/errors.js';
import {
  type EndedSession,
  type ExpiryRule,
  findExpiry,
  matchesOwner,
  type SessionCounts,
  type SessionFilter,
  type SessionOwner,
  type SessionStore,
  type StoredSession,
  type StoreEndInput,
  type StoreEndUserInput,
  type StoreEndUserResult,
  type StoreInsertResult,
  type StoreListInput,
  type StoreReauthentication,
  type StoreRotateInput,
  type StoreSessionCap,
  type StoreSweepInput,
  type StoreValidateInput,
  type StoreValidateResult,
  type UserScope,
} from '../../core/store.js';
import { isMysqlUnavailable } from './failures.js';
import { inTransaction, isDeadlock, type Lease, runBounded } from './lease.js';
import { checkSchemaCurrent, type MysqlMigrateOptions, migrateMysql } from './migrations.js';
import {
  affectedRows,
  type MysqlPool,
  type MysqlPoolConnection,
  type MysqlQueryable,
  type MysqlValue,
  read,
  rowsOf,
} from './pool.js';
import { decodeEndRow, decodeSession, type EndRow, insertValues, type SessionRow } from './rows.js';
import {
  COUNT_ACTIVE,
  COUNT_ENDED,
  END_LOCKED,
  END_ONE,
  endWithRuleParams,
  INSERT,
  LOCK_ABSOLUTE,
  LOCK_BY_HASH,
  LOCK_BY_ID,
  LOCK_IDLE,
  LOCK_LISTED,
  LOCK_SCOPE,
  LOCK_SCOPE_CREATE,
  listUser,
  PING,
  PURGE,
  REAUTHENTICATE,
  ROTATE,
  SELECT_BY_HASH,
  SELECT_BY_ID,
  SELECT_SCOPE,
  STORE_TIME,
  SWEEP_ABSOLUTE_CANDIDATES,
  SWEEP_IDLE_CANDIDATES,
  TOUCH,
  tenantCandidates,
  userCandidates,
} from './statements.js';

/**
 * Options for {@link MysqlStore}.
 *
 * @example
 * ```ts
 * const options: MysqlStoreOptions = { timeout: 2_000 };
 * ```
 */
export interface MysqlStoreOptions {
  /**
   * The most milliseconds one store call may take, waiting for a pool connection included
   * (default 5000; 0: no bound). Past it the call throws (so the manager answers
   * `STORE_UNAVAILABLE`) and any transaction it holds is rolled back by closing its connection.
   */
  timeout?: number | undefined;
}

/**
 * Options for {@link MysqlStore.open}.
 *
 * @example
 * ```ts
 * const store = await MysqlStore.open(pool, { migrate: false, timeout: 2_000 });
 * ```
 */
export interface MysqlStoreOpenOptions extends MysqlStoreOptions, MysqlMigrateOptions {
  /**
   * Run pending migrations first (default `true`). With `false`, the schema must already be
   * current (see `migrateMysql`), else `open` throws.
   */
  migrate?: boolean | undefined;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const OPTIMISTIC_ATTEMPTS = 2;
// Sessions are locked and ended in chunks of this many ids per statement, so that a large batch
// never builds one enormous statement.
const END_CHUNK = 1_000;
// Pages of candidates a sweep reads, each the size of its batch, when other sweepers hold the
// first ones: past that many batches in progress elsewhere, it ends short and leaves the rest.
const SWEEP_PAGES = 4;
const TOKEN_HASH = /^[0-9a-f]{64}$/;
// Ids are stored as ASCII; comparing that column with anything else is an error in MySQL, not a
// miss, so such an id is answered as missing before it reaches the server.
const ASCII_ID = /^[\x20-\x7e]{1,64}$/;

/** What a single-row check-and-change decided: its answer, and the write it needs, if any. */
interface Plan<T> {
  result: T;
  write?: { sql: string; values: MysqlValue[] };
}

/**
 * A {@link SessionStore} in MySQL 8 (≥ 8.0.17) or MariaDB (≥ 10.6), on a mysql2 promise pool that
 * you create (and end). curfew does not depend on mysql2: install it yourself (v3). Run
 * `migrateMysql(pool)` (or use {@link MysqlStore.open}) before the first call.
 *
 * **Round trips.** MySQL has no `RETURNING` and mysql2 sends one statement per round trip, so:
 * - validate, when no write is due (the usual case, as activity writes are coalesced): **1**,
 *   a `SELECT` by token hash;
 * - validate that records activity or ends an expired session, rotate, revoke (by token or id):
 *   **2**, that `SELECT` and a conditional `UPDATE` by primary key whose `WHERE` repeats the
 *   row's whole mutable state (hash, `ended_at`, `last_activity_at`) as read, so it matches only
 *   if nothing changed in between; `affectedRows` says whether this call won. Only when another
 *   writer changed that same row in between: one more read (and write, if still due), and if that
 *   loses too, the decision under `SELECT … FOR UPDATE` in a transaction (5 more);
 * - create, get by id, purge a batch, ping: **1**;
 * - list a page: **1**, a walk of the user's index from the page's start, so its cost is the
 *   page's, however many sessions the user has;
 * - sign out everywhere, per batch (500 sessions by default; the manager repeats it until a batch
 *   finds fewer than its size): **6**, a plain read of up to a batch of the scope's active
 *   sessions from the user index, then a transaction (`SET TRANSACTION ISOLATION LEVEL READ
 *   COMMITTED`, `START TRANSACTION`, a `FOR UPDATE` read of those by primary key in key order,
 *   the `UPDATE` that ends them, `COMMIT`; one more read and `UPDATE` per further 1000 in a
 *   batch); **1** for a batch that finds none. The transactions wait for rows another holds (a
 *   touch in progress must not keep a session alive) but always lock in key order, so two
 *   sign-outs of one user never deadlock, and sweeps skip what they hold;
 * - sweep a batch: **6–8** (the same transaction; for the absolute expiries, then if the batch
 *   has room the idle ones: a plain read of a page of candidates from the expiry index, and a
 *   `FOR UPDATE SKIP LOCKED` read of those by primary key; 2 more per further page when other
 *   sweepers hold the first), so several instances sweep at once without waiting for,
 *   deadlocking with or double-counting each other, and validations (plain reads) never wait for
 *   a sweep. A batch skips rows another transaction holds, so it can come back short while such
 *   rows wait for the next sweep (or the next validation, which ends them itself). The manager
 *   sweeps until a batch finds nothing, which costs **4–5** (the transaction and the reads).
 *
 * Activity writes only move `last_activity_at` forward and only on an active, unexpired row, so a
 * late write can neither move it back nor revive a session. Times are BIGINT epoch milliseconds;
 * the store never reads a clock. Tokens are never stored, only their SHA-256.
 *
 * **Pool settings.** Every call is bounded by `timeout` (default 5 s), the wait for a free
 * connection included. Also set, on the pool: `connectTimeout` (mysql2's default is 10 s; 2–5 s
 * suits loopback or one LAN), `connectionLimit` at least the concurrency you expect (default 10;
 * beyond it calls queue), `enableKeepAlive: true` (the default) so that dead peers are noticed,
 * and `maxIdle`/`idleTimeout` below the server's `wait_timeout`. Keep mysql2's defaults for
 * `charset` (utf8mb4: a 3-byte charset cannot hold emoji in user agents), `typeCast`, and
 * autocommit (the store's single statements rely on committing on their own); `rowsAsArray`,
 * `nestTables`, `namedPlaceholders` and `bigNumberStrings` may be set as you like. On the server,
 * a lower `innodb_lock_wait_timeout` (default 50 s) keeps a stuck transaction of someone else's
 * from holding a session row past `timeout`, and `binlog_format` must be ROW or MIXED (the
 * defaults) for the READ COMMITTED transactions. When the server restarts, the pool
 * drops broken connections and opens new ones: the store recovers without help.
 *
 * A call that timed out has failed as far as the caller knows, but a single statement already on
 * the server may still complete; every write here is safe to find applied later (a revoke ends
 * the session, a touch only moves activity forward, an insert or rotation whose token was never
 * handed out leaves a session nobody can use).
 *
 * **Errors.** Driver errors are thrown as mysql2 raised them, and a call past `timeout` throws an
 * error with code `CURFEW_STORE_TIMEOUT`. {@link MysqlStore.isUnavailable} sorts them for the
 * manager: a refused, dropped or timed-out connection, the store's own time bound, a closed pool
 * or full queue, and the server saying "not now" (shutting down, too many connections, out of
 * memory or disk, a lock wait timeout, a deadlock that outlasted the store's retries, a statement
 * killed or past `max_statement_time`) become `STORE_UNAVAILABLE`; any other answer (a duplicate
 * key, a failed CHECK, an SQL error, a missing table or privilege) becomes `STORE_ERROR`.
 *
 * @example
 * ```ts
 * import { createPool } from 'mysql2/promise';
 * import { SessionManager } from 'curfew';
 * import { MysqlStore } from 'curfew/mysql';
 *
 * const pool = createPool({
 *   host: '127.0.0.1',
 *   user: 'curfew',
 *   password: process.env.MYSQL_PASSWORD,
 *   database: 'app',
 *   connectionLimit: 20,
 *   connectTimeout: 3_000,
 * });
 * const store = await MysqlStore.open(pool); // migrates, then returns the store
 * const sessions = new SessionManager({ store });
 * const { token } = await sessions.create({ userId: '42' });
 * console.log((await sessions.validate(token)).valid); // true
 * ```
 */
export class MysqlStore implements SessionStore {
  /**
   * Migrates the pool's database (or, with `migrate: false`, checks that it is current), then
   * returns a store on it. Throws when the server cannot be reached, so a service fails at start
   * rather than on its first request.
   *
   * @example
   * ```ts
   * const store = await MysqlStore.open(pool, { timeout: 2_000 });
   * ```
   */
  static async open(pool: MysqlPool, options: MysqlStoreOpenOptions = {}): Promise<MysqlStore> {
    const store = new MysqlStore(pool, options);
    if (options.migrate ?? true) await migrateMysql(pool, options);
    else await checkSchemaCurrent(pool);
    return store;
  }

  readonly #pool: MysqlPool;
  readonly #timeout: number;

  /**
   * A store on `pool`, whose database must already be migrated (see `migrateMysql`). Makes no
   * connection until the first call.
   *
   * @example
   * ```ts
   * await migrateMysql(pool);
   * const store = new MysqlStore(pool, { timeout: 2_000 });
   * ```
   */
  constructor(pool: MysqlPool, options: MysqlStoreOptions = {}) {
    if (
      typeof pool !== 'object' ||
      pool === null ||
      typeof pool.execute !== 'function' ||
      typeof pool.getConnection !== 'function'
    ) {
      throw invalidArgument(
        'pool',
        'expected a mysql2 promise pool (createPool from mysql2/promise)',
      );
    }
    const timeout = options.timeout ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isInteger(timeout) || timeout < 0 || timeout > 2_147_483_647) {
      throw invalidArgument('timeout', 'expected whole milliseconds, or 0');
    }
    this.#pool = pool;
    this.#timeout = timeout;
  }

  /**
   * Without a cap, one INSERT. With one, a transaction: the scope's lock row (created on first
   * use) locked FOR UPDATE, so every capped create of that (user, tenant) takes its turn; then a
   * plain read of the scope's active sessions (its snapshot starts after the lock was granted,
   * so it sees every earlier create), the ends the cap calls for (rows locked by key, as a
   * sign-out does), and the insert.
   */
  async insert(session: StoredSession, cap?: StoreSessionCap): Promise<StoreInsertResult> {
    if (cap === undefined) {
      await this.#bounded(() => this.#pool.execute({ sql: INSERT }, insertValues(session)));
      return { inserted: true, ended: [] };
    }
    const scope = createHash('sha256')
      .update(JSON.stringify([session.userId, session.tenantId]))
      .digest('hex');
    return this.#bounded((lease) =>
      inTransaction(lease, async (connection) => {
        await connection.execute({ sql: LOCK_SCOPE_CREATE }, [scope]);
        await connection.execute(read(LOCK_SCOPE), [scope]);
        const active = rowsOf(
          await connection.execute(read(SELECT_SCOPE), [session.userId, session.tenantId]),
        ).map(decodeSession);
        const valid = active.filter((row) => findExpiry(row.session, cap) === null);
        const excess = valid.length - (cap.max - 1);
        const ending = [
          ...active.filter((row) => !valid.includes(row)),
          ...(excess > 0 && cap.action === 'evict-oldest'
            ? valid.slice(valid.length - excess)
            : []),
        ];
        const input = { now: cap.now, reason: 'session_limit' };
        const locked = await lockListed(
          connection,
          ending.map((row) => row.seq).sort((a, b) => a - b),
        );
        await endLocked(connection, locked, input);
        const inserted = !(excess > 0 && cap.action === 'refuse');
        if (inserted) await connection.execute({ sql: INSERT }, insertValues(session));
        return { inserted, ended: locked.map((row) => toEnded(row, input)) };
      }),
    );
  }

  async validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult> {
    if (!TOKEN_HASH.test(tokenHash)) return { status: 'missing' };
    return this.#checkAndChange(
      (on, locked) => readOne(on, locked ? LOCK_BY_HASH : SELECT_BY_HASH, tokenHash),
      // A session's owner never changes: one that is not the owner's is simply not found.
      (row, retry) =>
        planValidate(
          row !== null && matchesOwner(row.session, input.owner) ? row : null,
          input,
          retry,
        ),
    );
  }

  async rotate(
    oldHash: string,
    newHash: string,
    input: StoreRotateInput,
  ): Promise<StoredSession | null> {
    if (!TOKEN_HASH.test(oldHash)) return null;
    return this.#checkAndChange(
      (on, locked) => readOne(on, locked ? LOCK_BY_HASH : SELECT_BY_HASH, oldHash),
      (row) =>
        planRotate(
          row !== null && matchesOwner(row.session, input.owner) ? row : null,
          newHash,
          input.now,
          input.reauthentication,
        ),
    );
  }

  async findById(id: string): Promise<StoredSession | null> {
    if (!ASCII_ID.test(id)) return null;
    const row = await this.#bounded(() => readById(this.#pool, SELECT_BY_ID, id));
    return row?.session ?? null;
  }

  async endSession(
    target: { tokenHash: string; owner?: SessionOwner } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null> {
    if ('tokenHash' in target) {
      const hash = target.tokenHash;
      if (!TOKEN_HASH.test(hash)) return null;
      return this.#checkAndChange(
        (on, locked) => readOne(on, locked ? LOCK_BY_HASH : SELECT_BY_HASH, hash),
        (row) =>
          planEnd(row !== null && matchesOwner(row.session, target.owner) ? row : null, input),
      );
    }
    const { id, owner } = target;
    if (!ASCII_ID.test(id)) return null;
    return this.#checkAndChange(
      (on, locked) => readById(on, locked ? LOCK_BY_ID : SELECT_BY_ID, id),
      (row) => planEnd(row !== null && matchesOwner(row.session, owner) ? row : null, input),
    );
  }

  async endUserSessions(scope: UserScope, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const { tenantId } = scope;
    const scoped = tenantId !== undefined;
    const values = [
      scope.userId,
      ...(tenantId === undefined ? [] : [tenantId]),
      input.exceptId ?? '',
      String(input.limit),
    ];
    return this.#bounded(async (lease) => {
      // `done` comes from this plain read, never from a locking one. A locking read of the
      // user's index reads each row's latest version as it reaches it, so a session that a
      // touch moves behind the scan while the scan waits for a lock is never reached: with
      // LIMIT it comes back short while that session is still active. A snapshot read sees each
      // session once. When it finds fewer than `limit`, it found every session of the scope
      // still active when it ran, so every one active when this call began and not yet ended;
      // each is ended below, by this call or by a concurrent one whose lock it waited for (so
      // fewer ended than found says nothing about what is left).
      const found = rowsOf(await this.#pool.execute(read(USER_CANDIDATES[scoped ? 1 : 0]), values));
      const done = found.length < input.limit;
      if (found.length === 0) return { ended: [], done };
      const seqs = found.map((row) => Number(row[0])).sort((a, b) => a - b);
      const rows = await inTransaction(lease, async (connection) => {
        const locked = await lockListed(connection, seqs);
        await endLocked(connection, locked, input);
        return locked;
      });
      return { ended: rows.map((row) => toEnded(row, input)), done };
    });
  }

  async endSessions(filter: SessionFilter, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const everyone = filter.tenantId === undefined;
    const values = [
      ...(everyone ? [] : [filter.tenantId ?? null]),
      input.exceptId ?? '',
      String(input.limit),
    ];
    return this.#bounded(async (lease) => {
      // As endUserSessions: `done` from this plain read, the ends under locks taken by key.
      const found = rowsOf(
        await this.#pool.execute(read(TENANT_CANDIDATES[everyone ? 1 : 0]), values),
      );
      const done = found.length < input.limit;
      if (found.length === 0) return { ended: [], done };
      const seqs = found.map((row) => Number(row[0])).sort((a, b) => a - b);
      const rows = await inTransaction(lease, async (connection) => {
        const locked = await lockListed(connection, seqs);
        await endLocked(connection, locked, input);
        return locked;
      });
      return { ended: rows.map((row) => toEnded(row, input)), done };
    });
  }

  async listUserSessions(scope: UserScope, input: StoreListInput): Promise<StoredSession[]> {
    const { tenantId } = scope;
    const { now, after } = input;
    const values = [
      scope.userId,
      ...(tenantId === undefined ? [] : [tenantId]),
      ...(after === undefined
        ? []
        : [after.lastActivityAt, after.lastActivityAt, asciiIdBound(after.id)]),
      now,
      now,
      // LIMIT values travel as strings: older mysql2 sends JavaScript numbers as DOUBLE, which
      // MySQL 8.0.22 and later refuse for a LIMIT placeholder.
      String(input.limit),
    ];
    const sql = LIST_USER[tenantId === undefined ? 0 : 1][after === undefined ? 0 : 1];
    const result = await this.#bounded(() => this.#pool.execute(read(sql), values));
    return rowsOf(result).map((row) => decodeSession(row).session);
  }

  async sweep(input: StoreSweepInput): Promise<EndedSession[]> {
    const { now, limit } = input;
    return this.#bounded((lease) =>
      inTransaction(lease, async (connection) => {
        const absolute = await lockExpired(connection, limit, {
          candidates: SWEEP_ABSOLUTE_CANDIDATES,
          page: (after, size) => [now, ...after, size],
          lock: LOCK_ABSOLUTE,
          bounds: [now],
        });
        const room = limit - absolute.length;
        const idle =
          room > 0
            ? await lockExpired(connection, room, {
                candidates: SWEEP_IDLE_CANDIDATES,
                page: (after, size) => [now, ...after, now, size],
                lock: LOCK_IDLE,
                bounds: [now, now],
              })
            : [];
        // Absolute expiries first, then idle, each in creation order: MemoryStore's order.
        const rows = [...absolute.sort(bySeq), ...idle.sort(bySeq)];
        const rule = { now, reason: 'idle_timeout' };
        await endLocked(connection, rows, rule);
        return rows.map((row) => toEnded(row, rule));
      }),
    );
  }

  async purgeEnded(input: { endedBefore: number; limit: number }): Promise<number> {
    const result = await this.#bounded(() =>
      this.#pool.execute({ sql: PURGE }, [input.endedBefore, String(input.limit)]),
    );
    return affectedRows(result);
  }

  async countSessions(input: ExpiryRule & { endedSince: number }): Promise<SessionCounts> {
    const { now } = input;
    const [active, ended] = await this.#bounded(() =>
      Promise.all([
        this.#pool.execute(read(COUNT_ACTIVE), [now, now]),
        this.#pool.execute(read(COUNT_ENDED), [input.endedSince, now]),
      ]),
    );
    return {
      active: Number(rowsOf(active)[0]![0]),
      endedByReason: Object.fromEntries(
        rowsOf(ended).map(([reason, n]) => [reason as EndReason, Number(n)]),
      ),
    };
  }

  async ping(): Promise<void> {
    await this.#bounded(() => this.#pool.execute(read(PING)));
  }

  /** MySQL's `NOW(6)`, epoch milliseconds: for measuring clock skew. */
  async storeTime(): Promise<number> {
    const result = await this.#bounded(() => this.#pool.execute(read(STORE_TIME)));
    return Number(rowsOf(result)[0]![0]);
  }

  /**
   * Whether `error`, thrown by this store, means MySQL could not be reached or did not answer in
   * time (see the class's notes on errors), for the manager's `STORE_UNAVAILABLE`.
   *
   * @example
   * ```ts
   * if (store.isUnavailable(error)) response.setHeader('Retry-After', '5');
   * ```
   */
  isUnavailable(error: unknown): boolean {
    return isMysqlUnavailable(error);
  }

  #bounded<T>(work: (lease: Lease) => Promise<T>): Promise<T> {
    return runBounded(this.#pool, this.#timeout, work);
  }

  /**
   * One read and at most one conditional write, optimistically. A lost write means another
   * writer changed this row in between, typically a burst of requests on one session racing for
   * the same due touch: one more optimistic look usually settles it without a write (the winner
   * already recorded the activity). If that write is lost too, the decision is taken once more on
   * the row read under its lock, where nothing can change it.
   */
  #checkAndChange<T>(
    read: (on: MysqlQueryable, locked: boolean) => Promise<SessionRow | null>,
    plan: (row: SessionRow | null, retry: boolean) => Plan<T>,
  ): Promise<T> {
    return this.#bounded(async (lease) => {
      for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt += 1) {
        const planned = plan(await read(this.#pool, false), attempt > 0);
        if (planned.write === undefined || (await tryWrite(this.#pool, planned.write))) {
          return planned.result;
        }
      }
      return inTransaction(lease, async (connection) => {
        const planned = plan(await read(connection, true), true);
        if (planned.write !== undefined && !(await tryWrite(connection, planned.write))) {
          throw new Error('a session row changed while this transaction held its lock');
        }
        return planned.result;
      });
    });
  }
}

const USER_CANDIDATES = [userCandidates(false), userCandidates(true)] as const;
// A tenant's, then everyone's.
const TENANT_CANDIDATES = [tenantCandidates(false), tenantCandidates(true)] as const;
// By scope (every tenant, one tenant), then by page (the first, one after a position).
const LIST_USER = [
  [listUser(false, false), listUser(false, true)],
  [listUser(true, false), listUser(true, true)],
] as const;

/**
 * A bound that every session id compares below exactly when it compares below `id` in
 * JavaScript, in ASCII: the id column cannot be compared with a non-ASCII string (a collation
 * error, not a miss), and a forged cursor may carry one. Below the first non-ASCII character of
 * `id` is every id that shares the part before it, so DEL (0x7f), above every character a session
 * id has (ids are printable ASCII), stands in for that character and the rest.
 */
function asciiIdBound(id: string): string {
  const first = id.search(/[\u0080-\uffff]/);
  return first === -1 ? id : `${id.slice(0, first)}\x7f`;
}

async function readOne(on: MysqlQueryable, sql: string, key: string): Promise<SessionRow | null> {
  const row = rowsOf(await on.execute(read(sql), [key]))[0];
  return row === undefined ? null : decodeSession(row);
}

async function readById(on: MysqlQueryable, sql: string, id: string): Promise<SessionRow | null> {
  const row = await readOne(on, sql, id);
  // ascii_bin pads with spaces ('a' = 'a '): only the exact id is this session.
  return row !== null && row.session.id === id ? row : null;
}

/** Whether a conditional write matched its row; a deadlock counts as a lost race. */
async function tryWrite(
  on: MysqlQueryable,
  write: { sql: string; values: MysqlValue[] },
): Promise<boolean> {
  try {
    return affectedRows(await on.execute({ sql: write.sql }, write.values)) === 1;
  } catch (error) {
    if (isDeadlock(error)) return false;
    throw error;
  }
}

/** The compare-and-set values every single-row write ends with (statements.ts SAME_STATE). */
function sameState({ seq, session }: SessionRow): MysqlValue[] {
  return [seq, session.tokenHash, session.lastActivityAt];
}

function planValidate(
  row: SessionRow | null,
  input: StoreValidateInput,
  retry: boolean,
): Plan<StoreValidateResult> {
  if (row === null) return { result: { status: 'missing' } };
  const { session } = row;
  if (session.endedAt !== null) {
    // On a retry the first read saw it active: if it has since timed out, a concurrent
    // validation ended it, which the contract reports as expired, not as ended before.
    const timedOut =
      session.endReason === 'absolute_timeout' || session.endReason === 'idle_timeout';
    return {
      result:
        retry && timedOut
          ? { status: 'expired', session, endedNow: false }
          : { status: 'ended', session },
    };
  }
  const expiry = findExpiry(session, input);
  if (expiry !== null) {
    return {
      result: {
        status: 'expired',
        session: { ...session, endedAt: expiry.at, endReason: expiry.reason },
        endedNow: true,
      },
      write: { sql: END_ONE, values: [expiry.at, expiry.reason, ...sameState(row)] },
    };
  }
  const touched =
    input.touchInterval !== null && input.now - session.lastActivityAt >= input.touchInterval;
  // A due touch at the very millisecond already stored changes nothing, so it costs no write.
  if (!touched || input.now <= session.lastActivityAt) {
    return { result: { status: 'valid', session, touched } };
  }
  return {
    result: { status: 'valid', session: { ...session, lastActivityAt: input.now }, touched },
    write: {
      sql: TOUCH,
      values: [input.now, deadline(input.now, session.idleTimeout), ...sameState(row)],
    },
  };
}

function deadline(lastActivityAt: number, idleTimeout: number | null): number | null {
  return idleTimeout === null ? null : lastActivityAt + idleTimeout;
}

function planRotate(
  row: SessionRow | null,
  newHash: string,
  now: number,
  renewed: StoreReauthentication | undefined,
): Plan<StoredSession | null> {
  if (row === null || row.session.endedAt !== null || findExpiry(row.session, { now }) !== null) {
    return { result: null };
  }
  const lastActivityAt = Math.max(row.session.lastActivityAt, now);
  if (renewed === undefined) {
    const idleExpiresAt = deadline(lastActivityAt, row.session.idleTimeout);
    return {
      result: { ...row.session, tokenHash: newHash, lastActivityAt },
      write: { sql: ROTATE, values: [newHash, lastActivityAt, idleExpiresAt, ...sameState(row)] },
    };
  }
  const session: StoredSession = {
    ...row.session,
    tokenHash: newHash,
    lastActivityAt,
    idleTimeout: renewed.idleTimeout,
    absoluteExpiresAt: renewed.absoluteExpiresAt,
    aal: renewed.aal,
    methods: [...renewed.methods],
    authenticatedAt: now,
  };
  return {
    result: session,
    write: {
      sql: REAUTHENTICATE,
      values: [
        newHash,
        lastActivityAt,
        deadline(lastActivityAt, renewed.idleTimeout),
        renewed.idleTimeout,
        renewed.absoluteExpiresAt,
        renewed.aal,
        renewed.methods.join(' '),
        now,
        ...sameState(row),
      ],
    },
  };
}

function planEnd(row: SessionRow | null, input: StoreEndInput): Plan<EndedSession | null> {
  if (row === null || row.session.endedAt !== null) return { result: null };
  const ended = toEnded(row.session, input);
  return {
    result: ended,
    write: { sql: END_ONE, values: [ended.endedAt, ended.endReason, ...sameState(row)] },
  };
}

/** An active session as ended by a call with `input` at `input.now`: the ExpiryRule first. */
function toEnded(
  row: Pick<
    EndRow,
    'id' | 'userId' | 'tenantId' | 'lastActivityAt' | 'absoluteExpiresAt' | 'idleTimeout'
  >,
  input: StoreEndInput,
): EndedSession {
  const expiry = findExpiry(row, input);
  return {
    id: row.id,
    userId: row.userId,
    tenantId: row.tenantId,
    endReason: expiry?.reason ?? input.reason,
    endedAt: expiry?.at ?? input.now,
  };
}

/** Locks the listed rows that are still active ({@link LOCK_LISTED}), in key order. */
async function lockListed(
  connection: MysqlPoolConnection,
  seqs: readonly number[],
): Promise<EndRow[]> {
  const locked: EndRow[] = [];
  for (let start = 0; start < seqs.length; start += END_CHUNK) {
    const chunk = seqs.slice(start, start + END_CHUNK);
    locked.push(...rowsOf(await connection.query(read(LOCK_LISTED), [chunk])).map(decodeEndRow));
  }
  return locked;
}

/**
 * Locks up to `limit` expired rows for this transaction, skipping rows another holds: a page of
 * candidates by a plain read of the expiry index, then a locking read of those by primary key;
 * the next page only when other sweepers held too many of them.
 */
async function lockExpired(
  connection: MysqlPoolConnection,
  limit: number,
  half: {
    candidates: string;
    /** The candidate query's values, given the page's start (expiry, expiry, seq) and size. */
    page: (after: MysqlValue[], size: string) => MysqlValue[];
    lock: string;
    bounds: MysqlValue[];
  },
): Promise<EndRow[]> {
  const locked: EndRow[] = [];
  let after: MysqlValue[] = [Number.MIN_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 0];
  for (let page = 0; page < SWEEP_PAGES && locked.length < limit; page += 1) {
    const found = rowsOf(
      await connection.execute(read(half.candidates), half.page(after, String(limit))),
    );
    if (found.length === 0) break;
    const seqs = found.map((row) => Number(row[0]));
    const rows = await connection.query(read(half.lock), [
      seqs,
      ...half.bounds,
      limit - locked.length,
    ]);
    locked.push(...rowsOf(rows).map(decodeEndRow));
    const last = found[found.length - 1];
    if (found.length < limit || last === undefined) break;
    after = [Number(last[1]), Number(last[1]), Number(last[0])];
  }
  return locked;
}

/** Ends rows this transaction has locked, with the same rule {@link toEnded} applies. */
async function endLocked(
  connection: MysqlPoolConnection,
  rows: readonly EndRow[],
  input: StoreEndInput,
): Promise<void> {
  const rule = endWithRuleParams(input.now, input.reason);
  let ended = 0;
  for (let start = 0; start < rows.length; start += END_CHUNK) {
    const seqs = rows.slice(start, start + END_CHUNK).map((row) => row.seq);
    ended += affectedRows(await connection.query({ sql: END_LOCKED }, [...rule, seqs]));
  }
  if (ended !== rows.length) {
    throw new Error('session rows changed while this transaction held their locks');
  }
}

function bySeq(a: EndRow, b: EndRow): number {
  return a.seq - b.seq;
}
