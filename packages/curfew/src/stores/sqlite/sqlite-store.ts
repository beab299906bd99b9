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
  type StoreRotateInput,
  type StoreSessionCap,
  type StoreSweepInput,
  type StoreValidateInput,
  type StoreValidateResult,
  type UserScope,
} from '../../core/store.js';
import {
  prepareStatement,
  type SqliteDatabase,
  type SqliteStatement,
  type SqliteTransaction,
} from './database.js';
import { checkSchemaCurrent, configureConnection, runMigrations } from './migrations.js';
import { ReadLockHolder } from './read-lock-holder.js';
import { isSqliteUnavailable } from './unavailable.js';

/**
 * Options for {@link SqliteStore}.
 *
 * @example
 * ```ts
 * const options: SqliteStoreOptions = { migrate: false, busyTimeout: 10_000 };
 * ```
 */
export interface SqliteStoreOptions {
  /**
   * Run pending migrations on construction (default `true`). With `false`, the schema must
   * already be current (see `migrateSqlite`), else construction throws.
   */
  migrate?: boolean | undefined;
  /**
   * How long, in milliseconds, a statement waits for another connection's lock before failing.
   * Default: the connection's own setting, raised to at least 5000.
   */
  busyTimeout?: number | undefined;
  /**
   * A second connection to the same file, opened for nothing else, that the store keeps in a read
   * transaction while it reads and lets go before it writes and at the end of each event-loop turn.
   * With it, a read takes SQLite's WAL read lock without the two `fcntl` system calls it otherwise
   * costs (SQLite asks the operating system only for a process's first holder): on the virtual
   * machine of docs/benchmarks.md, 4 of the 27 µs of CPU a validation served over HTTP took. Reads
   * still see every commit, another process's included; checkpoints wait on it one turn at most.
   * Close it with the store's connection. Not for `:memory:` databases.
   *
   * @example
   * ```ts
   * const store = new SqliteStore(new Database('sessions.db'), {
   *   readLockHolder: new Database('sessions.db'),
   * });
   * ```
   */
  readLockHolder?: SqliteDatabase | undefined;
}

// A session's columns, in the order toStored reads them, as one JSON array per row. Building a
// row value by value costs better-sqlite3 a call into V8's generic element setter per column,
// about 1.5k instructions each; SQLite writing the array and JSON.parse reading it cost 30% less
// for the whole row (callgrind, 12 columns), and it is the read every validation makes.
// Integers come back as numbers whatever the connection's BigInt setting.
const SESSION = `json_array(
  id, token_hash, user_id, tenant_id, app_type, ip_address, user_agent, created_at,
  last_activity_at, absolute_expires_at, ended_at, end_reason, idle_timeout, aal, methods,
  authenticated_at)`;

// rowid comes back as `seq` to put the ended sessions in insertion order: RETURNING promises none.
const ENDED_COLUMNS = `
  rowid AS seq, id, user_id AS userId, tenant_id AS tenantId, end_reason AS endReason,
  ended_at AS endedAt`;

// findExpiry of core/store.ts, in SQL, over the row's values before the statement changes them:
// each row's own limits, the idle one as its kept deadline (last_activity_at + idle_timeout).
const ABSOLUTE_EXPIRED = 'absolute_expires_at <= @now';
const IDLE_EXPIRED = '(idle_expires_at IS NOT NULL AND idle_expires_at <= @now)';
const EXPIRED = `(${ABSOLUTE_EXPIRED} OR ${IDLE_EXPIRED})`;

// Only when the session belongs to the owner: @userId NULL for any user, @anyTenant 1 for any
// tenant, else tenant_id IS @tenantId (NULL matching only sessions without a tenant).
const OWNED = '(@userId IS NULL OR user_id = @userId) AND (@anyTenant OR tenant_id IS @tenantId)';

// Ends a row with its timeout reason and expiry moment if it has expired, else with @reason now.
const END_WITH_RULE = `
  ended_at = CASE
    WHEN ${ABSOLUTE_EXPIRED} THEN absolute_expires_at
    WHEN ${IDLE_EXPIRED} THEN idle_expires_at
    ELSE @now END,
  end_reason = CASE
    WHEN ${ABSOLUTE_EXPIRED} THEN 'absolute_timeout'
    WHEN ${IDLE_EXPIRED} THEN 'idle_timeout'
    ELSE @reason END`;

type EndedRow = EndedSession & { seq: number };

/**
 * A {@link SessionStore} in SQLite, on a better-sqlite3 `Database` that you open (and close).
 * curfew does not depend on better-sqlite3: install it yourself (v12).
 *
 * On construction it sets a busy timeout, switches the file to WAL and runs pending migrations
 * (see `migrateSqlite`), then prepares every statement once. Several processes may share the
 * file: every check-and-change is a single conditional statement, which SQLite runs under its
 * write lock, so two processes validating the same expired session end it once and a revoke that
 * returned is never followed by a successful validation. A validation that needs no write is one
 * indexed `SELECT` by token hash; one that does adds a conditional `UPDATE` that repeats the
 * checks. Tokens are never stored: the table holds their SHA-256 only.
 *
 * A user's sessions are kept in indexes in listing order, so a page of them is one walk of an
 * index range and "sign out everywhere" ends one batch per statement (chosen and ended under the
 * same write lock), each costing the same however many sessions the user has. Sweeps end one
 * bounded batch per statement too. Errors are thrown as better-sqlite3 raises them;
 * {@link SqliteStore.isUnavailable} tells the manager which mean the file could not be used in
 * time (`STORE_UNAVAILABLE`) and which are bugs or broken data (`STORE_ERROR`).
 *
 * Times are stored as INTEGER epoch milliseconds, in table `curfew_sessions`.
 *
 * Durability is the connection's: better-sqlite3 runs WAL with `synchronous = NORMAL`, where a
 * committed revocation survives a crash of the process but not necessarily a power cut. Set
 * `db.pragma('synchronous = FULL')` if it must; every write then waits for the disk.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { SessionManager } from 'curfew';
 * import { SqliteStore } from 'curfew/sqlite';
 *
 * const db = new Database('sessions.db');
 * const sessions = new SessionManager({ store: new SqliteStore(db) });
 * const { token } = await sessions.create({ userId: '42' });
 * console.log((await sessions.validate(token)).valid); // true
 * ```
 */
export class SqliteStore implements SessionStore {
  readonly #insert: SqliteStatement;
  readonly #selectByHash: SqliteStatement;
  readonly #selectById: SqliteStatement;
  readonly #touchByHash: SqliteStatement;
  readonly #expireByHash: SqliteStatement;
  readonly #rotate: SqliteStatement;
  readonly #reauthenticate: SqliteStatement;
  readonly #selectScope: SqliteStatement;
  readonly #endTenant: SqliteStatement;
  readonly #endEveryone: SqliteStatement;
  readonly #insertCapped: SqliteTransaction<[StoredSession, StoreSessionCap], StoreInsertResult>;
  readonly #endByHash: SqliteStatement;
  readonly #endById: SqliteStatement;
  readonly #endUser: SqliteStatement;
  readonly #endUserInTenant: SqliteStatement;
  readonly #listUser: SqliteStatement;
  readonly #listUserInTenant: SqliteStatement;
  readonly #sweep: SqliteStatement;
  readonly #purge: SqliteStatement;
  readonly #countActive: SqliteStatement;
  readonly #countEnded: SqliteStatement;
  readonly #ping: SqliteStatement;
  readonly #validateLocked: SqliteTransaction<[string, StoreValidateInput], StoreValidateResult>;
  readonly #readLock: ReadLockHolder | null;

  constructor(db: SqliteDatabase, options: SqliteStoreOptions = {}) {
    if (!isConnection(db)) {
      throw invalidArgument('db', 'expected an open better-sqlite3 Database');
    }
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'expected an object');
    }
    const { migrate = true, busyTimeout, readLockHolder } = options;
    if (typeof migrate !== 'boolean') throw invalidArgument('migrate', 'expected true or false');
    if (
      busyTimeout !== undefined &&
      (typeof busyTimeout !== 'number' || !Number.isInteger(busyTimeout) || busyTimeout < 0)
    ) {
      throw invalidArgument('busyTimeout', 'expected a whole number of milliseconds');
    }
    configureConnection(db, busyTimeout);
    if (migrate) runMigrations(db);
    else checkSchemaCurrent(db);
    this.#readLock =
      readLockHolder === undefined
        ? null
        : new ReadLockHolder(checkHolder(db, readLockHolder, busyTimeout));

    const prepare = (source: string) => prepareStatement(db, source);
    // Statements that return sessions return one value per row: its SESSION text.
    const prepareSessions = (source: string) => {
      const statement = prepareStatement(db, source);
      statement.pluck(true);
      return statement;
    };
    this.#insert = prepare(`
      INSERT INTO curfew_sessions (
        id, token_hash, user_id, tenant_id, app_type, ip_address, user_agent,
        created_at, last_activity_at, absolute_expires_at, ended_at, end_reason,
        idle_timeout, idle_expires_at, aal, methods, authenticated_at
      ) VALUES (
        @id, @tokenHash, @userId, @tenantId, @appType, @ipAddress, @userAgent,
        @createdAt, @lastActivityAt, @absoluteExpiresAt, @endedAt, @endReason,
        @idleTimeout, @lastActivityAt + @idleTimeout, @aal, @methods, @authenticatedAt
      )`);
    // The hot path: positional, so binding is as cheap as a bare SELECT's.
    this.#selectByHash = prepareSessions(
      `SELECT ${SESSION} FROM curfew_sessions WHERE token_hash = ?`,
    );
    this.#selectById = prepareSessions(`SELECT ${SESSION} FROM curfew_sessions WHERE id = ?`);
    // Each write repeats, in its WHERE, every condition validate() decided on from its SELECT, so
    // a change by another process in between makes it match nothing instead of acting on stale
    // facts. Matching by hash (not id) also keeps a concurrently rotated-out token from writing.
    this.#touchByHash = prepare(`
      UPDATE curfew_sessions SET last_activity_at = @now, idle_expires_at = @now + idle_timeout
      WHERE token_hash = @hash AND ended_at IS NULL AND NOT ${EXPIRED}
        AND last_activity_at < @now AND @now - last_activity_at >= @interval`);
    this.#expireByHash = prepareSessions(`
      UPDATE curfew_sessions SET ${END_WITH_RULE}
      WHERE token_hash = @hash AND ended_at IS NULL AND ${EXPIRED}
      RETURNING ${SESSION}`);
    // SET expressions read the row as it was, so both writes of activity use the old value.
    this.#rotate = prepareSessions(`
      UPDATE curfew_sessions
      SET token_hash = @newHash, last_activity_at = max(last_activity_at, @now),
        idle_expires_at = max(last_activity_at, @now) + idle_timeout
      WHERE token_hash = @oldHash AND ended_at IS NULL AND NOT ${EXPIRED} AND ${OWNED}
      RETURNING ${SESSION}`);
    this.#reauthenticate = prepareSessions(`
      UPDATE curfew_sessions
      SET token_hash = @newHash, last_activity_at = max(last_activity_at, @now),
        idle_timeout = @idleTimeout, idle_expires_at = max(last_activity_at, @now) + @idleTimeout,
        absolute_expires_at = @absoluteExpiresAt, aal = @aal, methods = @methods,
        authenticated_at = @now
      WHERE token_hash = @oldHash AND ended_at IS NULL AND NOT ${EXPIRED} AND ${OWNED}
      RETURNING ${SESSION}`);
    this.#endByHash = prepare(`
      UPDATE curfew_sessions SET ${END_WITH_RULE}
      WHERE token_hash = @hash AND ended_at IS NULL AND ${OWNED}
      RETURNING ${ENDED_COLUMNS}`);
    this.#endById = prepare(`
      UPDATE curfew_sessions SET ${END_WITH_RULE}
      WHERE id = @id AND ended_at IS NULL AND ${OWNED}
      RETURNING ${ENDED_COLUMNS}`);
    // The cap's view of a scope: its active sessions in listing order, from the tenant index.
    this.#selectScope = prepareSessions(`
      SELECT ${SESSION} FROM curfew_sessions
      WHERE user_id = @userId AND tenant_id IS @tenantId AND ended_at IS NULL
      ORDER BY last_activity_at DESC, id DESC`);
    // A tenant's, or everyone's, a batch per statement under the write lock, as endUser below.
    // Named indexes hold only active rows: with a plain scan, each batch would read again past
    // every row the batches before it ended (and the planner picks one for a big tenant).
    const endMany = (index: string, where: string) => `
      UPDATE curfew_sessions SET ${END_WITH_RULE}
      WHERE rowid IN (
        SELECT rowid FROM curfew_sessions INDEXED BY ${index}
        WHERE ended_at IS NULL ${where} AND (@exceptId IS NULL OR id <> @exceptId)
        LIMIT @limit)
      RETURNING ${ENDED_COLUMNS}`;
    this.#endTenant = prepare(
      endMany('curfew_sessions_tenant_active', 'AND tenant_id IS @tenantId'),
    );
    this.#endEveryone = prepare(endMany('curfew_sessions_absolute_active', ''));
    // Each user-scoped statement comes in two forms, one per index of migration 2, both in
    // listing order: (user_id, tenant_id, last_activity_at, id) with the tenant fixed (`IS`
    // serves an index as `=` does), (user_id, last_activity_at, id) across tenants. Neither
    // sorts anything.
    //
    // A batch of "sign out everywhere" is chosen and ended in one statement under the write
    // lock, so fewer than @limit ended means none were left. It takes the least recently active
    // first: ended sessions leave the index, so each batch's walk starts at the first still active.
    const endUser = (tenant: string) => `
      UPDATE curfew_sessions SET ${END_WITH_RULE}
      WHERE rowid IN (
        SELECT rowid FROM curfew_sessions
        WHERE user_id = @userId ${tenant} AND ended_at IS NULL
          AND (@exceptId IS NULL OR id <> @exceptId)
        ORDER BY last_activity_at, id
        LIMIT @limit)
      RETURNING ${ENDED_COLUMNS}`;
    this.#endUser = prepare(endUser(''));
    this.#endUserInTenant = prepare(endUser('AND tenant_id IS @tenantId'));
    // One page, walked backwards from @before. Each session has its own limits, so expired ones
    // (not yet swept) are passed over one by one: the sweep keeps them few.
    const listUser = (tenant: string) => `
      SELECT ${SESSION} FROM curfew_sessions
      WHERE user_id = @userId ${tenant} AND ended_at IS NULL
        AND (last_activity_at, id) < (@beforeAt, @beforeId)
        AND NOT ${EXPIRED}
      ORDER BY last_activity_at DESC, id DESC
      LIMIT @limit`;
    this.#listUser = prepareSessions(listUser(''));
    this.#listUserInTenant = prepareSessions(listUser('AND tenant_id IS @tenantId'));
    // One bounded statement per call: absolute expiries fill the batch first, idle ones take the
    // rest. Each half walks its partial index from the oldest expiry, so a sweep never scans live
    // rows, and the halves are disjoint so neither wastes the other's room in the batch.
    this.#sweep = prepare(`
      UPDATE curfew_sessions SET ${END_WITH_RULE}
      WHERE rowid IN (
        SELECT rowid FROM (
          SELECT rowid FROM curfew_sessions
          WHERE ended_at IS NULL AND absolute_expires_at <= @now
          ORDER BY absolute_expires_at LIMIT @limit)
        UNION ALL
        SELECT rowid FROM (
          SELECT rowid FROM curfew_sessions
          WHERE ended_at IS NULL AND idle_expires_at IS NOT NULL AND idle_expires_at <= @now
            AND absolute_expires_at > @now
          ORDER BY idle_expires_at LIMIT @limit)
        LIMIT @limit)
      RETURNING ${ENDED_COLUMNS}`);
    this.#purge = prepare(`
      DELETE FROM curfew_sessions
      WHERE rowid IN (
        SELECT rowid FROM curfew_sessions
        WHERE ended_at IS NOT NULL AND ended_at < @endedBefore
        ORDER BY ended_at LIMIT @limit)`);
    // Reports only: both walk a partial index (active rows by absolute expiry, ended by end time).
    this.#countActive = prepare(`
      SELECT count(*) AS n FROM curfew_sessions
      WHERE ended_at IS NULL AND absolute_expires_at > @now
        AND (idle_expires_at IS NULL OR idle_expires_at > @now)`);
    this.#countEnded = prepare(`
      SELECT end_reason AS reason, count(*) AS n FROM curfew_sessions
      WHERE ended_at IS NOT NULL AND ended_at >= @since AND ended_at <= @now
      GROUP BY end_reason`);
    this.#ping = prepare('SELECT 1');
    // Only for a validation whose write lost a race: under the write lock nothing can change
    // between the read and the write, so the second try always settles.
    this.#validateLocked = db.transaction((hash: string, input: StoreValidateInput) => {
      const result = this.#tryValidate(hash, input, true);
      if (result === null) throw new Error('session row changed under the write lock');
      return result;
    });
    // The cap: counting, evicting and inserting under one write lock (BEGIN IMMEDIATE), which
    // every other connection and process waits for, so no moment sees more than the cap.
    this.#insertCapped = db.transaction((session: StoredSession, cap: StoreSessionCap) => {
      const rows = (
        this.#selectScope.all({ userId: session.userId, tenantId: session.tenantId }) as string[]
      ).map(toStored);
      const valid = rows.filter((row) => findExpiry(row, cap) === null);
      const excess = valid.length - (cap.max - 1);
      const ending =
        excess > 0 && cap.action === 'evict-oldest' ? valid.slice(valid.length - excess) : [];
      // Expired ones end with their timeout reason, the evicted with session_limit: END_WITH_RULE.
      const ended = [...rows.filter((row) => !valid.includes(row)), ...ending].map((row) => {
        const done = this.#endById.get({
          ...endParams({ now: cap.now, reason: 'session_limit' }),
          ...ownerParams(undefined),
          id: row.id,
        });
        return toEnded(done as EndedRow);
      });
      if (excess > 0 && cap.action === 'refuse') return { inserted: false, ended };
      this.#insert.run(insertParams(session));
      return { inserted: true, ended };
    });
  }

  async insert(session: StoredSession, cap?: StoreSessionCap): Promise<StoreInsertResult> {
    this.#readLock?.release();
    if (cap !== undefined) return this.#insertCapped.immediate(session, cap);
    this.#insert.run(insertParams(session));
    return { inserted: true, ended: [] };
  }

  async validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult> {
    this.#readLock?.hold();
    // A session's owner never changes, so checking it on the read decides for the write too.
    // A null comes from a write that matched nothing, and every write lets go of the read lock
    // first: the locked retry runs without it.
    return (
      this.#tryValidate(tokenHash, input, false) ?? this.#validateLocked.immediate(tokenHash, input)
    );
  }

  async rotate(
    oldHash: string,
    newHash: string,
    input: StoreRotateInput,
  ): Promise<StoredSession | null> {
    this.#readLock?.release();
    const params = { oldHash, newHash, now: input.now, ...ownerParams(input.owner) };
    const renewed = input.reauthentication;
    const row =
      renewed === undefined
        ? this.#rotate.get(params)
        : this.#reauthenticate.get({
            ...params,
            idleTimeout: renewed.idleTimeout,
            absoluteExpiresAt: renewed.absoluteExpiresAt,
            aal: renewed.aal,
            methods: renewed.methods.join(' '),
          });
    return row === undefined ? null : toStored(row as string);
  }

  async findById(id: string): Promise<StoredSession | null> {
    this.#readLock?.hold();
    const row = this.#selectById.get(id);
    return row === undefined ? null : toStored(row as string);
  }

  async endSession(
    target: { tokenHash: string; owner?: SessionOwner } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null> {
    this.#readLock?.release();
    const params = { ...endParams(input), ...ownerParams(target.owner) };
    const row =
      'tokenHash' in target
        ? this.#endByHash.get({ ...params, hash: target.tokenHash })
        : this.#endById.get({ ...params, id: target.id });
    return row === undefined ? null : toEnded(row as EndedRow);
  }

  async endSessions(filter: SessionFilter, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    this.#readLock?.release();
    const params = { ...endParams(input), exceptId: input.exceptId ?? null, limit: input.limit };
    const rows = (
      filter.tenantId === undefined
        ? this.#endEveryone.all(params)
        : this.#endTenant.all({ ...params, tenantId: filter.tenantId })
    ) as EndedRow[];
    return {
      ended: rows.sort((a, b) => a.seq - b.seq).map(toEnded),
      done: rows.length < input.limit,
    };
  }

  async endUserSessions(scope: UserScope, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    this.#readLock?.release();
    const params = {
      ...endParams(input),
      userId: scope.userId,
      exceptId: input.exceptId ?? null,
      limit: input.limit,
    };
    const rows = (
      scope.tenantId === undefined
        ? this.#endUser.all(params)
        : this.#endUserInTenant.all({ ...params, tenantId: scope.tenantId })
    ) as EndedRow[];
    return {
      ended: rows.sort((a, b) => a.seq - b.seq).map(toEnded),
      done: rows.length < input.limit,
    };
  }

  async listUserSessions(scope: UserScope, input: StoreListInput): Promise<StoredSession[]> {
    this.#readLock?.hold();
    const params = { ...listParams(input), userId: scope.userId };
    const rows =
      scope.tenantId === undefined
        ? this.#listUser.all(params)
        : this.#listUserInTenant.all({ ...params, tenantId: scope.tenantId });
    return (rows as string[]).map(toStored);
  }

  async sweep(input: StoreSweepInput): Promise<EndedSession[]> {
    this.#readLock?.release();
    const rows = this.#sweep.all({
      ...endParams({ now: input.now, reason: 'idle_timeout' }),
      limit: input.limit,
    }) as EndedRow[];
    // Absolute expiries first, then idle, each in insertion order: MemoryStore's order.
    const rank = (row: EndedRow) => (row.endReason === 'absolute_timeout' ? 0 : 1);
    return rows.sort((a, b) => rank(a) - rank(b) || a.seq - b.seq).map(toEnded);
  }

  async purgeEnded(input: { endedBefore: number; limit: number }): Promise<number> {
    this.#readLock?.release();
    return this.#purge.run({ endedBefore: input.endedBefore, limit: input.limit }).changes;
  }

  async countSessions(input: ExpiryRule & { endedSince: number }): Promise<SessionCounts> {
    this.#readLock?.hold();
    const params = { now: input.now, since: input.endedSince };
    const { n } = this.#countActive.get(params) as { n: number };
    const ended = this.#countEnded.all(params) as { reason: EndReason; n: number }[];
    return {
      active: n,
      endedByReason: Object.fromEntries(ended.map((row) => [row.reason, row.n])),
    };
  }

  async ping(): Promise<void> {
    this.#ping.get();
  }

  /**
   * Whether an error from this store means the database could not be used in time, rather than
   * a bug or broken data: a lock another connection held past the busy timeout
   * (`SQLITE_BUSY`, `SQLITE_LOCKED`), a full disk or full memory (`SQLITE_FULL`, `SQLITE_NOMEM`),
   * a failed read or write of the file (`SQLITE_IOERR_*`, `SQLITE_CANTOPEN`), a lost race for
   * the WAL's locks (`SQLITE_PROTOCOL`), or a connection closed under it. A constraint violation,
   * an SQL error, a corrupt file or anything else is not.
   *
   * @example
   * ```ts
   * try {
   *   await store.ping();
   * } catch (error) {
   *   console.warn(store.isUnavailable(error) ? 'busy or out of disk: retry' : 'a bug', error);
   * }
   * ```
   */
  isUnavailable(error: unknown): boolean {
    return isSqliteUnavailable(error);
  }

  /**
   * One read, and a write only when one is due. Returns `null` when the write matched nothing:
   * another connection changed the row after the read, so the caller must look again.
   */
  #tryValidate(
    hash: string,
    input: StoreValidateInput,
    retry: boolean,
  ): StoreValidateResult | null {
    const found = this.#selectByHash.get(hash);
    if (found === undefined) return { status: 'missing' };
    const row = toStored(found as string);
    if (input.owner !== undefined && !matchesOwner(row, input.owner)) return { status: 'missing' };
    if (row.endedAt !== null) {
      // On a retry the first read saw it active: if it has since timed out, a concurrent
      // validation ended it, which the contract reports as expired, not as ended before.
      const timedOut = row.endReason === 'absolute_timeout' || row.endReason === 'idle_timeout';
      return retry && timedOut
        ? { status: 'expired', session: row, endedNow: false }
        : { status: 'ended', session: row };
    }
    if (findExpiry(row, input) !== null) {
      this.#readLock?.release();
      const ended = this.#expireByHash.get({
        ...endParams({ now: input.now, reason: 'idle_timeout' }),
        hash,
      });
      return ended === undefined
        ? null
        : { status: 'expired', session: toStored(ended as string), endedNow: true };
    }
    const touched =
      input.touchInterval !== null && input.now - row.lastActivityAt >= input.touchInterval;
    // A due touch at the very millisecond already stored changes nothing, so it costs no write.
    if (!touched || input.now <= row.lastActivityAt)
      return { status: 'valid', session: row, touched };
    this.#readLock?.release();
    const { changes } = this.#touchByHash.run({
      now: input.now,
      hash,
      interval: input.touchInterval,
    });
    if (changes === 0) return null;
    // The WHERE re-checked everything that could have changed; the rest of the row is immutable.
    row.lastActivityAt = input.now;
    return { status: 'valid', session: row, touched: true };
  }
}

/** A row's {@link SESSION} array. */
type SessionRow = [
  id: string,
  tokenHash: string,
  userId: string,
  tenantId: string | null,
  appType: string,
  ipAddress: string | null,
  userAgent: string | null,
  createdAt: number,
  lastActivityAt: number,
  absoluteExpiresAt: number,
  endedAt: number | null,
  endReason: EndReason | null,
  idleTimeout: number | null,
  aal: 1 | 2 | 3,
  methods: string,
  authenticatedAt: number,
];

function toStored(text: string): StoredSession {
  const row = JSON.parse(text) as SessionRow;
  return {
    id: row[0],
    tokenHash: row[1],
    userId: row[2],
    tenantId: row[3],
    appType: row[4],
    ipAddress: row[5],
    userAgent: row[6],
    createdAt: row[7],
    lastActivityAt: row[8],
    absoluteExpiresAt: row[9],
    endedAt: row[10],
    endReason: row[11],
    idleTimeout: row[12],
    aal: row[13],
    methods: row[14] === '' ? [] : row[14].split(' '),
    authenticatedAt: row[15],
  };
}

function insertParams(session: StoredSession) {
  return {
    id: session.id,
    tokenHash: session.tokenHash,
    userId: session.userId,
    tenantId: session.tenantId,
    appType: session.appType,
    ipAddress: session.ipAddress,
    userAgent: session.userAgent,
    createdAt: session.createdAt,
    lastActivityAt: session.lastActivityAt,
    absoluteExpiresAt: session.absoluteExpiresAt,
    endedAt: session.endedAt,
    endReason: session.endReason,
    idleTimeout: session.idleTimeout,
    aal: session.aal,
    methods: session.methods.join(' '),
    authenticatedAt: session.authenticatedAt,
  };
}

function ownerParams(owner: SessionOwner | undefined) {
  return {
    userId: owner?.userId ?? null,
    anyTenant: owner?.tenantId === undefined ? 1 : 0,
    tenantId: owner?.tenantId ?? null,
  };
}

function isConnection(value: unknown): value is SqliteDatabase {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { prepare?: unknown }).prepare === 'function'
  );
}

/**
 * The holder must be another connection to this very file: on another file it would help no read
 * and hold that file's checkpoints back; on the same connection it would wrap the store's writes.
 */
function checkHolder(
  db: SqliteDatabase,
  holder: SqliteDatabase,
  busyTimeout: number | undefined,
): SqliteDatabase {
  if (!isConnection(holder) || holder === db) {
    throw invalidArgument('readLockHolder', 'expected a second better-sqlite3 Database');
  }
  const mainFile = (connection: SqliteDatabase) =>
    (connection.pragma('database_list') as { name: string; file: string }[]).find(
      (entry) => entry.name === 'main',
    )?.file;
  const file = mainFile(db);
  if (!file || mainFile(holder) !== file) {
    throw invalidArgument(
      'readLockHolder',
      "expected a connection to the store's own database file (not :memory:)",
    );
  }
  // Outside WAL a held read lock would block every writer, this store's included.
  if (String(db.pragma('journal_mode', { simple: true })).toLowerCase() !== 'wal') {
    throw invalidArgument('readLockHolder', 'expected a database in WAL mode');
  }
  // Set up as the store's own connection is, so that taking the read lock waits out another
  // process's WAL recovery as the store's reads would.
  configureConnection(holder, busyTimeout);
  return holder;
}

// A bound that excludes no session: every time a Date can hold (±8.64e15 ms) lies below it. It
// keeps one statement per scope, with the walk's bound always bound.
const FROM_THE_START = { lastActivityAt: Number.MAX_SAFE_INTEGER, id: '' };

function listParams(input: StoreListInput) {
  const before = input.after ?? FROM_THE_START;
  return {
    now: input.now,
    beforeAt: before.lastActivityAt,
    beforeId: before.id,
    limit: input.limit,
  };
}

function endParams(input: StoreEndInput): { now: number; reason: EndReason } {
  return { now: input.now, reason: input.reason };
}

function toEnded(row: EndedRow): EndedSession {
  return {
    id: row.id,
    userId: row.userId,
    tenantId: row.tenantId,
    endReason: row.endReason,
    endedAt: row.endedAt,
  };
}
