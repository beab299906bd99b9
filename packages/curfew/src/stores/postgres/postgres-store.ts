import { createHash } from 'node:crypto';
import type { EndReason } from '../../core/end-reason.js';
import { invalidArgument } from '../../core/errors.js';
import {
  type EndedSession,
  type ExpiryRule,
  findExpiry,
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
import { checkPool, checkSchemaCurrent, migratePostgres } from './migrations.js';
import type { PostgresPool, PostgresQueryConfig, PostgresQueryResult } from './pool.js';
import { buildStatements, type PostgresStatements, type TenantVariants } from './statements.js';
import { type PostgresTables, resolveTables } from './tables.js';
import { isPostgresUnavailable } from './unavailable.js';

/**
 * Options for {@link PostgresStore}.
 *
 * @example
 * ```ts
 * const options: PostgresStoreOptions = { schema: 'auth', migrate: false };
 * ```
 */
export interface PostgresStoreOptions {
  /**
   * The schema that holds curfew's tables. Default: the connection's `search_path` (usually
   * `public`). Letters, digits and underscores; case is kept.
   */
  schema?: string | undefined;
  /**
   * For {@link PostgresStore.open}: run pending migrations first (default `true`). With `false`
   * the schema must already be current (see `migratePostgres`), else `open` throws.
   */
  migrate?: boolean | undefined;
  /**
   * Use named prepared statements (default `true`): each connection parses and plans a statement
   * once instead of on every call. Set `false` behind PgBouncer in transaction mode older than
   * 1.21, which cannot keep prepared statements.
   */
  preparedStatements?: boolean | undefined;
}

/** A StoredSession as node-postgres returns it: bigint columns arrive as strings by default. */
interface SessionRow {
  id: string;
  token_hash: string;
  user_id: string;
  tenant_id: string | null;
  app_type: string;
  ip_address: string | null;
  user_agent: string | null;
  created_at: string | number;
  last_activity_at: string | number;
  absolute_expires_at: string | number;
  ended_at: string | number | null;
  end_reason: string | null;
  idle_timeout: string | number | null;
  aal: number;
  methods: string;
  authenticated_at: string | number;
}

interface ValidateRow extends SessionRow {
  source: 'written' | 'latest' | 'snapshot';
}

interface EndedRow {
  id: string;
  user_id: string;
  tenant_id: string | null;
  end_reason: string;
  ended_at: string | number;
}

/** A row of endUser: a session it ended, or all NULLs but the count when it ended none. */
type EndUserRow = { candidates: number } & (EndedRow | { [K in keyof EndedRow]: null });

type Statement = Pick<PostgresQueryConfig, 'text' | 'name'>;

/**
 * A {@link SessionStore} in PostgreSQL (11 or later), on a node-postgres `pg` Pool that you
 * create, configure and end. curfew does not depend on `pg`: install it yourself (v8).
 *
 * Every operation is one statement on the pool, so it is atomic on its own and holds a
 * connection only for that statement. Validation with its activity write is a single statement
 * too: a plain index lookup when no write is due, and otherwise an `UPDATE … RETURNING` whose row
 * lock makes two processes validating the same expired session end it once and keeps
 * `lastActivityAt` from ever moving back. A revoke that returned is never followed by a
 * successful validation. Sweeps take bounded batches with `FOR UPDATE SKIP LOCKED`, so several
 * instances can sweep at once without waiting for each other or for validations, and without
 * ending (or counting) a session twice.
 *
 * A user's sessions are kept in indexes in listing order, so a page of them is one walk of an
 * index range, as cheap for a user with 100,000 sessions as for one with ten. "Sign out
 * everywhere" is one statement per batch: it reads a batch of candidates from its snapshot (which
 * decides whether another batch is needed), locks them in id order, waiting for any a validation
 * is writing, and ends those still active. Each session is ended once, and two concurrent
 * revokes of one user neither deadlock nor stop while a session that existed is still active.
 *
 * Sessions live in table `curfew_sessions` (times as `bigint` epoch milliseconds, tokens as
 * their SHA-256 only), created by `migratePostgres`. Open the store with
 * {@link PostgresStore.open}, which migrates first; or migrate in a deploy step (`curfew
 * migrate`) and open with `{ migrate: false }`, which checks the schema version instead.
 *
 * Driver errors are thrown as they come. {@link PostgresStore.isUnavailable} tells
 * `SessionManager` which mean the server could not be reached or did not answer in time (it
 * reports them as `STORE_UNAVAILABLE`) and which are unexpected answers, such as a constraint
 * violation, an SQL error or a deadlock (`STORE_ERROR`). Bound every wait in the pool's own
 * options (`connectionTimeoutMillis`, `query_timeout`, `statement_timeout`) and attach
 * `pool.on('error', …)`, or a server restart crashes the process, and a server that stops
 * answering holds requests forever instead of failing them as unavailable: see
 * {@link PostgresPool}.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { SessionManager } from 'curfew';
 * import { PostgresStore } from 'curfew/postgres';
 *
 * const pool = new pg.Pool({
 *   connectionString: process.env.DATABASE_URL,
 *   connectionTimeoutMillis: 5_000,
 *   query_timeout: 6_000,
 *   statement_timeout: 5_000,
 * });
 * pool.on('error', (error) => console.warn('idle PostgreSQL connection failed', error.message));
 *
 * const sessions = new SessionManager({ store: await PostgresStore.open(pool) });
 * const { token } = await sessions.create({ userId: '42' });
 * console.log((await sessions.validate(token)).valid); // true
 * ```
 */
export class PostgresStore implements SessionStore {
  readonly #pool: PostgresPool;
  readonly #tables: PostgresTables;
  readonly #statements: Record<
    Exclude<keyof PostgresStatements, 'endUser' | 'listUser' | 'endMany' | 'selectScope'>,
    Statement
  >;
  readonly #endUser: Record<keyof TenantVariants, Statement>;
  readonly #listUser: Record<keyof TenantVariants, Statement>;
  readonly #endMany: Record<keyof TenantVariants, Statement>;
  readonly #selectScope: Record<keyof TenantVariants, Statement>;

  /**
   * Migrates (unless `migrate: false`, which checks the schema version instead) and returns a
   * store. The usual way to get one.
   *
   * @example
   * ```ts
   * const store = await PostgresStore.open(pool, { schema: 'auth' });
   * ```
   */
  static async open(
    pool: PostgresPool,
    options: PostgresStoreOptions = {},
  ): Promise<PostgresStore> {
    const store = new PostgresStore(pool, options);
    const migrate = options.migrate ?? true;
    if (typeof migrate !== 'boolean') throw invalidArgument('migrate', 'expected true or false');
    if (migrate) await migratePostgres(pool, { schema: options.schema });
    else await checkSchemaCurrent(pool, store.#tables);
    return store;
  }

  /**
   * Makes a store without touching the database: for when the schema is known to be current
   * (migrated in a deploy step) and construction must be synchronous. Prefer
   * {@link PostgresStore.open}, which checks. `migrate` is ignored here.
   *
   * @example
   * ```ts
   * await migratePostgres(pool); // once, at deploy time
   * const store = new PostgresStore(pool);
   * ```
   */
  constructor(pool: PostgresPool, options: PostgresStoreOptions = {}) {
    checkPool(pool);
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'expected an object');
    }
    const prepared = options.preparedStatements ?? true;
    if (typeof prepared !== 'boolean') {
      throw invalidArgument('preparedStatements', 'expected true or false');
    }
    this.#pool = pool;
    this.#tables = resolveTables(options.schema);
    const sql = buildStatements(this.#tables);
    const statement = (text: string): Statement =>
      prepared ? { text, name: statementName(text) } : { text };
    const variants = (v: TenantVariants) => ({
      any: statement(v.any),
      none: statement(v.none),
      one: statement(v.one),
    });
    this.#statements = {
      insert: statement(sql.insert),
      validate: statement(sql.validate),
      rotate: statement(sql.rotate),
      reauthenticate: statement(sql.reauthenticate),
      lockScope: statement(sql.lockScope),
      findById: statement(sql.findById),
      endByHash: statement(sql.endByHash),
      endById: statement(sql.endById),
      sweep: statement(sql.sweep),
      purge: statement(sql.purge),
      countActive: statement(sql.countActive),
      countEnded: statement(sql.countEnded),
      ping: statement(sql.ping),
      storeTime: statement(sql.storeTime),
    };
    this.#endUser = variants(sql.endUser);
    this.#listUser = variants(sql.listUser);
    this.#endMany = variants(sql.endMany);
    this.#selectScope = variants(sql.selectScope);
  }

  /**
   * Without a cap, one INSERT. With one, a transaction on one client: a transaction-scoped
   * advisory lock on the (user, tenant) scope, then (each statement seeing everything committed
   * before the lock was granted) the scope's active sessions, the ends the cap calls for, and the
   * insert. Every create of the scope, on any connection or process, queues on the same lock.
   */
  async insert(session: StoredSession, cap?: StoreSessionCap): Promise<StoreInsertResult> {
    const values = insertValues(session);
    if (cap === undefined) {
      await this.#run(this.#statements.insert, values);
      return { inserted: true, ended: [] };
    }
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query({ text: 'BEGIN' });
      try {
        await client.query({
          ...this.#statements.lockScope,
          values: [JSON.stringify([session.userId, session.tenantId])],
        });
        const scope = session.tenantId === null ? this.#selectScope.none : this.#selectScope.one;
        const { rows } = await client.query({
          ...scope,
          values: session.tenantId === null ? [session.userId] : [session.userId, session.tenantId],
        });
        const active = (rows as SessionRow[]).map(toStored);
        const valid = active.filter((row) => findExpiry(row, cap) === null);
        const excess = valid.length - (cap.max - 1);
        const ending = [
          ...active.filter((row) => !valid.includes(row)),
          ...(excess > 0 && cap.action === 'evict-oldest'
            ? valid.slice(valid.length - excess)
            : []),
        ];
        const ended: EndedSession[] = [];
        for (const row of ending) {
          const result = await client.query({
            ...this.#statements.endById,
            values: [row.id, cap.now, 'session_limit', null, true, null],
          });
          const done = result.rows[0] as EndedRow | undefined;
          if (done !== undefined) ended.push(toEnded(done));
        }
        const inserted = !(excess > 0 && cap.action === 'refuse');
        if (inserted) await client.query({ ...this.#statements.insert, values });
        await client.query({ text: 'COMMIT' });
        return { inserted, ended };
      } catch (error) {
        await client.query({ text: 'ROLLBACK' }).catch((rollback: Error) => {
          broken = rollback;
        });
        throw error;
      }
    } finally {
      // A client whose ROLLBACK failed is in an unknown state: the pool must not hand it out.
      client.release(broken);
    }
  }

  async validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult> {
    const { rows } = await this.#run(this.#statements.validate, [
      tokenHash,
      input.now,
      input.touchInterval,
      ...ownerValues(input.owner),
    ]);
    const row = rows[0] as ValidateRow | undefined;
    // `latest` found nothing: the hash was rotated away or the row purged after the snapshot.
    if (row === undefined) return { status: 'missing' };
    const session = toStored(row);
    if (row.source === 'written') {
      return session.endedAt === null
        ? { status: 'valid', session, touched: true }
        : { status: 'expired', session, endedNow: true };
    }
    if (session.endedAt !== null) {
      // Only `latest` can see a session that was active in this statement's snapshot: if it has
      // timed out since, a concurrent call ended it, which is `expired`, not ended before.
      const timedOut =
        session.endReason === 'absolute_timeout' || session.endReason === 'idle_timeout';
      return row.source === 'latest' && timedOut
        ? { status: 'expired', session, endedNow: false }
        : { status: 'ended', session };
    }
    // Active and unwritten. `latest` cannot be expired here: expiry is only ever reached by time
    // (lastActivityAt never moves back), and `written` re-checked the newest version for it.
    const touched =
      input.touchInterval !== null && input.now - session.lastActivityAt >= input.touchInterval;
    return { status: 'valid', session, touched };
  }

  async rotate(
    oldHash: string,
    newHash: string,
    input: StoreRotateInput,
  ): Promise<StoredSession | null> {
    const values = [oldHash, newHash, input.now, ...ownerValues(input.owner)];
    const renewed = input.reauthentication;
    const { rows } =
      renewed === undefined
        ? await this.#run(this.#statements.rotate, values)
        : await this.#run(this.#statements.reauthenticate, [
            ...values,
            renewed.idleTimeout,
            renewed.absoluteExpiresAt,
            renewed.aal,
            renewed.methods.join(' '),
          ]);
    const row = rows[0] as SessionRow | undefined;
    return row === undefined ? null : toStored(row);
  }

  async findById(id: string): Promise<StoredSession | null> {
    const { rows } = await this.#run(this.#statements.findById, [id]);
    const row = rows[0] as SessionRow | undefined;
    return row === undefined ? null : toStored(row);
  }

  async endSession(
    target: { tokenHash: string; owner?: SessionOwner } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null> {
    const rest = [input.now, input.reason, ...ownerValues(target.owner)];
    const { rows } =
      'tokenHash' in target
        ? await this.#run(this.#statements.endByHash, [target.tokenHash, ...rest])
        : await this.#run(this.#statements.endById, [target.id, ...rest]);
    const row = rows[0] as EndedRow | undefined;
    return row === undefined ? null : toEnded(row);
  }

  async endUserSessions(scope: UserScope, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const values = [scope.userId, input.now, input.reason, input.exceptId ?? null, input.limit];
    return endBatch(await this.#run(...withTenant(this.#endUser, scope, values)), input.limit);
  }

  async endSessions(filter: SessionFilter, input: StoreEndUserInput): Promise<StoreEndUserResult> {
    const values = [null, input.now, input.reason, input.exceptId ?? null, input.limit];
    return endBatch(await this.#run(...withTenant(this.#endMany, filter, values)), input.limit);
  }

  async listUserSessions(scope: UserScope, input: StoreListInput): Promise<StoredSession[]> {
    const before = input.after ?? FROM_THE_START;
    const values = [scope.userId, input.now, before.lastActivityAt, before.id, input.limit];
    const { rows } = await this.#run(...withTenant(this.#listUser, scope, values));
    return (rows as SessionRow[]).map(toStored);
  }

  async sweep(input: StoreSweepInput): Promise<EndedSession[]> {
    const { rows } = await this.#run(this.#statements.sweep, [input.now, input.limit]);
    return (rows as EndedRow[]).map(toEnded);
  }

  async purgeEnded(input: { endedBefore: number; limit: number }): Promise<number> {
    const { rowCount } = await this.#run(this.#statements.purge, [input.endedBefore, input.limit]);
    return rowCount ?? 0;
  }

  async countSessions(input: ExpiryRule & { endedSince: number }): Promise<SessionCounts> {
    const [active, ended] = await Promise.all([
      this.#run(this.#statements.countActive, [input.now]),
      this.#run(this.#statements.countEnded, [input.endedSince, input.now]),
    ]);
    // count(*) is a bigint, which node-postgres returns as a string.
    const rows = ended.rows as { reason: EndReason; n: string }[];
    return {
      active: Number((active.rows[0] as { n: string }).n),
      endedByReason: Object.fromEntries(rows.map((row) => [row.reason, Number(row.n)])),
    };
  }

  async ping(): Promise<void> {
    await this.#run(this.#statements.ping, []);
  }

  /** PostgreSQL's `clock_timestamp()`, epoch milliseconds: for measuring clock skew. */
  async storeTime(): Promise<number> {
    const { rows } = await this.#run(this.#statements.storeTime, []);
    return Number((rows[0] as { now: number | string }).now);
  }

  /**
   * Whether an error from this store means the server could not be reached or did not answer in
   * time, rather than an unexpected answer: a refused, dropped or timed-out connection (Node's
   * network codes, node-postgres's own timeouts, "Connection terminated"), the pool's wait for a
   * connection timing out or the pool ended, SQLSTATE class 08 (connection exception) or 53 (out
   * of connections, disk or memory), a server shutting down, crashed or starting up (57P01,
   * 57P02, 57P03), an idle session closed by the server (57P05), a statement cancelled by
   * `statement_timeout` (57014) or a lock wait by `lock_timeout` (55P03), an I/O error
   * (58030), and a server that is read-only (25006), as a demoted primary is during a failover.
   * Not unavailable: constraint violations, SQL errors, and deadlocks (40P01) and serialization failures (40001), which curfew's statements are written
   * never to cause, so one points at a bug or a foreign transaction to look at, not an outage.
   *
   * @example
   * ```ts
   * try {
   *   await store.ping();
   * } catch (error) {
   *   console.warn(store.isUnavailable(error) ? 'PostgreSQL unreachable: retry' : 'a bug', error);
   * }
   * ```
   */
  isUnavailable(error: unknown): boolean {
    return isPostgresUnavailable(error);
  }

  #run(statement: Statement, values: unknown[]): Promise<PostgresQueryResult> {
    return this.#pool.query({ ...statement, values });
  }
}

// A bound that excludes no session: every time a Date can hold (±8.64e15 ms) lies below it. It
// keeps one statement per scope, with the walk's bound always bound.
const FROM_THE_START = { lastActivityAt: Number.MAX_SAFE_INTEGER, id: '' };

// The same text always gets the same name, and different texts (another schema) different
// names: node-postgres refuses one name prepared with two texts on a connection.
function statementName(text: string): string {
  return `curfew_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;
}

function withTenant(
  variants: Record<keyof TenantVariants, Statement>,
  scope: { tenantId?: string | null | undefined },
  values: unknown[],
): [Statement, unknown[]] {
  if (scope.tenantId === undefined) return [variants.any, values];
  if (scope.tenantId === null) return [variants.none, values];
  return [variants.one, [...values, scope.tenantId]];
}

// Number() accepts what node-postgres may hand back for a bigint: a string (its default), a
// number or a BigInt (if the application changed the type parsers). Epoch milliseconds are
// far below 2^53, so the conversion is exact.
function toStored(row: SessionRow): StoredSession {
  return {
    id: row.id,
    tokenHash: row.token_hash,
    userId: row.user_id,
    tenantId: row.tenant_id,
    appType: row.app_type,
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
    createdAt: Number(row.created_at),
    lastActivityAt: Number(row.last_activity_at),
    absoluteExpiresAt: Number(row.absolute_expires_at),
    endedAt: row.ended_at === null ? null : Number(row.ended_at),
    endReason: row.end_reason as EndReason | null,
    idleTimeout: row.idle_timeout === null ? null : Number(row.idle_timeout),
    aal: Number(row.aal) as 1 | 2 | 3,
    methods: row.methods === '' ? [] : row.methods.split(' '),
    authenticatedAt: Number(row.authenticated_at),
  };
}

function insertValues(session: StoredSession): unknown[] {
  return [
    session.id,
    session.tokenHash,
    session.userId,
    session.tenantId,
    session.appType,
    session.ipAddress,
    session.userAgent,
    session.createdAt,
    session.lastActivityAt,
    session.absoluteExpiresAt,
    session.endedAt,
    session.endReason,
    session.idleTimeout,
    session.aal,
    session.methods.join(' '),
    session.authenticatedAt,
    session.idleTimeout === null ? null : session.lastActivityAt + session.idleTimeout,
  ];
}

// The owner's three parameters, as owned() in statements.ts reads them.
function ownerValues(owner: SessionOwner | undefined): unknown[] {
  return [owner?.userId ?? null, owner?.tenantId === undefined, owner?.tenantId ?? null];
}

function endBatch(result: PostgresQueryResult, limit: number): StoreEndUserResult {
  const ended: EndedSession[] = [];
  for (const row of result.rows as EndUserRow[]) {
    if (row.id !== null) ended.push(toEnded(row as EndedRow));
  }
  // From the snapshot's candidates, not from how many were ended: see the statement.
  const candidates = (result.rows[0] as EndUserRow | undefined)?.candidates ?? 0;
  return { ended, done: candidates < limit };
}

function toEnded(row: EndedRow): EndedSession {
  return {
    id: row.id,
    userId: row.user_id,
    tenantId: row.tenant_id,
    endReason: row.end_reason,
    endedAt: Number(row.ended_at),
  };
}
