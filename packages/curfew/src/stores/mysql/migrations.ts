import { CurfewError, invalidArgument } from '../../core/errors.js';
import { type MysqlPool, type MysqlPoolConnection, type MysqlValue, read, rowsOf } from './pool.js';

interface Migration {
  version: number;
  description: string;
  /** Statements run in order; each must be safe to run again after a crash half way. */
  statements(names: { textCollation: string }): string[];
  /**
   * A query answering non-zero when the migration's DDL is already in place, for DDL that has no
   * IF NOT EXISTS form in both dialects (MySQL has no ADD KEY IF NOT EXISTS): the statements are
   * then skipped, which makes the re-run after a crash before the version record harmless.
   */
  inPlace?: string;
}

// Append only: a released migration is never edited, since databases in the field have run it.
// Each migration's DDL is one statement (a CREATE TABLE with its indexes inline, an ALTER TABLE
// with all its changes) because DDL commits on its own in MySQL and MariaDB: one statement is
// applied whole or not at all, and IF NOT EXISTS or `inPlace` makes the re-run after a crash
// between it and its version record harmless.
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions table with hash, id, user, expiry and ended indexes',
    statements: ({ textCollation }) => [
      `CREATE TABLE IF NOT EXISTS curfew_sessions (
        -- A compact, ever-growing key: inserts append to the clustered index instead of splitting
        -- it at random (as a UUID key would), secondary indexes carry 8 bytes per entry, and the
        -- order of ended sessions in a result is the order they were created.
        seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
        id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        token_hash CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
        user_id VARCHAR(255) NOT NULL,
        tenant_id VARCHAR(255) NULL,
        app_type VARCHAR(64) NOT NULL,
        ip_address VARCHAR(64) NULL,
        -- Up to 8192 UTF-16 units, at most 3 bytes each in UTF-8: within TEXT's 65535 bytes.
        user_agent TEXT NULL,
        -- Epoch milliseconds: exact, time-zone free, and never the database's clock.
        created_at BIGINT NOT NULL,
        last_activity_at BIGINT NOT NULL,
        absolute_expires_at BIGINT NOT NULL,
        ended_at BIGINT NULL,
        end_reason VARCHAR(64) NULL,
        PRIMARY KEY (seq),
        UNIQUE KEY curfew_sessions_token_hash (token_hash),
        UNIQUE KEY curfew_sessions_id (id),
        -- Listing and "sign out everywhere", with or without a tenant.
        KEY curfew_sessions_user (user_id, tenant_id, ended_at),
        -- Sweeping: the active rows (ended_at IS NULL) in expiry order. Purging walks the
        -- ended_at prefix of the first.
        KEY curfew_sessions_absolute (ended_at, absolute_expires_at),
        KEY curfew_sessions_idle (ended_at, last_activity_at),
        -- Lowercase hex SHA-256 only: a raw token (43 base64url characters) cannot be stored.
        CONSTRAINT curfew_sessions_hash_hex CHECK (token_hash REGEXP '^[0-9a-f]{64}$'),
        CONSTRAINT curfew_sessions_end_pair CHECK ((ended_at IS NULL) = (end_reason IS NULL))
      ) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE ${textCollation}`,
      // IF NOT EXISTS would also accept someone else's table of that name: read every column
      // the store uses, so that such a table fails the migration instead of the first request.
      `SELECT seq, id, token_hash, user_id, tenant_id, app_type, ip_address, user_agent,
         created_at, last_activity_at, absolute_expires_at, ended_at, end_reason
       FROM curfew_sessions WHERE 1 = 0`,
    ],
  },
  {
    version: 2,
    description: 'user indexes in listing order, for paging and batched sign-out at any size',
    inPlace: `SELECT COUNT(*) FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'curfew_sessions'
        AND INDEX_NAME = 'curfew_sessions_user_activity'`,
    statements: () => [
      `ALTER TABLE curfew_sessions
        -- A user's active sessions in listing order (most recently active first, then id), for a
        -- tenant and for every tenant: a page, or a batch of "sign out everywhere", is a short
        -- walk from one end of the user's range, as cheap for 100,000 sessions as for 10. The
        -- price: an activity write (at most once a minute per session, as writes are coalesced)
        -- now also moves the session's entry in both, as it already did in the idle index.
        ADD KEY curfew_sessions_user_tenant_activity
          (user_id, tenant_id, ended_at, last_activity_at, id),
        ADD KEY curfew_sessions_user_activity (user_id, ended_at, last_activity_at, id),
        -- The old key's columns lead the first new one, which serves every lookup it served.
        DROP KEY curfew_sessions_user,
        -- Built online: sessions go on being validated and created while a big table is indexed
        -- (a server that cannot do that refuses the statement rather than blocking writes).
        ALGORITHM = INPLACE, LOCK = NONE`,
    ],
  },
  {
    version: 3,
    description: 'per-session assurance level, methods, authentication time and idle limit',
    inPlace: `SELECT COUNT(*) FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'curfew_sessions'
        AND COLUMN_NAME = 'idle_expires_at'`,
    statements: () => [
      `ALTER TABLE curfew_sessions
        -- A session carries how its user authenticated and its own limits (from the policy for
        -- its level, tenant and app type), so sessions of several levels can share the table.
        ADD COLUMN aal TINYINT UNSIGNED NOT NULL DEFAULT 1,
        -- RFC 8176 names, space-separated ('' for none): at most 8 of 32 characters.
        ADD COLUMN methods VARCHAR(300) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
        ADD COLUMN authenticated_at BIGINT NOT NULL DEFAULT 0,
        -- NULL: no idle limit. idle_expires_at is last_activity_at + idle_timeout, kept beside it
        -- so that the sweep walks an index of deadlines instead of computing one per row.
        ADD COLUMN idle_timeout BIGINT NULL,
        ADD COLUMN idle_expires_at BIGINT NULL,
        ADD KEY curfew_sessions_idle_deadline (ended_at, idle_expires_at),
        -- Ending every session of a tenant, a batch at a time.
        ADD KEY curfew_sessions_tenant_active (tenant_id, ended_at),
        DROP KEY curfew_sessions_idle`,
    ],
  },
  {
    version: 4,
    description: 'levels and limits for earlier sessions; the session cap lock rows',
    statements: () => [
      // Sessions from before: their sign-in is all that is known, so they claim the lowest level
      // and the strictest idle limit of any preset (15 minutes). An upgrade fails closed: it may
      // end a session early, never keep one alive without an idle limit. Only rows not yet
      // filled, so a re-run after a crash is harmless.
      `UPDATE curfew_sessions SET
        authenticated_at = created_at,
        idle_timeout = 900000,
        idle_expires_at = last_activity_at + 900000
      WHERE authenticated_at = 0`,
      // One row per (user, tenant) that has had a capped create: locked FOR UPDATE by each such
      // create, so creates of one scope on any connection take turns. The key is the SHA-256 of
      // the scope, so any user and tenant fit and compare exactly.
      `CREATE TABLE IF NOT EXISTS curfew_session_scopes (
        scope CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY
      ) ENGINE = InnoDB`,
    ],
  },
];

/**
 * The schema version this build of curfew writes and expects in `curfew_migrations`.
 *
 * @example
 * ```ts
 * import { MYSQL_SCHEMA_VERSION } from 'curfew/mysql';
 *
 * console.log(`curfew MySQL schema v${MYSQL_SCHEMA_VERSION}`);
 * ```
 */
export const MYSQL_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * What {@link migrateMysql} did.
 *
 * @example
 * ```ts
 * const { from, to, applied }: MysqlMigrationResult = await migrateMysql(pool);
 * ```
 */
export interface MysqlMigrationResult {
  /** The schema version found (0 for a new database). */
  from: number;
  /** The schema version now: {@link MYSQL_SCHEMA_VERSION}. */
  to: number;
  /** The versions this call applied, in order; empty when the schema was already current. */
  applied: number[];
}

/**
 * Options for {@link migrateMysql}.
 *
 * @example
 * ```ts
 * await migrateMysql(pool, { lockTimeout: 120 });
 * ```
 */
export interface MysqlMigrateOptions {
  /** Seconds to wait for another process's migration to finish (default 60). */
  lockTimeout?: number | undefined;
}

/**
 * Brings curfew's tables in the pool's database up to {@link MYSQL_SCHEMA_VERSION}: what
 * `curfew migrate` and the service run at start, and what `MysqlStore.open` runs by default.
 *
 * Safe to run from several processes at once: each takes a named lock first
 * (`GET_LOCK`, named after the database and held by its connection, so a crashed process
 * releases it), then reads the applied versions from `curfew_migrations`; a second process waits
 * for the first and finds nothing left to do. Each applied version is recorded in
 * `curfew_migrations`. Needs the CREATE, ALTER and INDEX privileges while it migrates; the store
 * itself needs only SELECT, INSERT, UPDATE and DELETE on `curfew_sessions`.
 *
 * Text columns use a case-sensitive, binary NO PAD collation (`utf8mb4_0900_bin` on MySQL 8,
 * `utf8mb4_nopad_bin` on MariaDB) so that user `'alice'` is neither `'Alice'` nor `'alice '`.
 *
 * Throws a `CurfewError` (`STORE_UNAVAILABLE`) when the pool has no database selected, when the
 * lock is not obtained in time, when the server has neither collation (MySQL before 8.0.17,
 * MariaDB before 10.2), or when the database was migrated by a newer curfew; driver errors are
 * thrown as they are.
 *
 * @example
 * ```ts
 * import { createPool } from 'mysql2/promise';
 * import { migrateMysql } from 'curfew/mysql';
 *
 * const pool = createPool({ host: '127.0.0.1', user: 'curfew', database: 'app' });
 * const { from, to } = await migrateMysql(pool);
 * console.log(`curfew schema ${from} → ${to}`);
 * await pool.end();
 * ```
 */
export async function migrateMysql(
  pool: MysqlPool,
  options: MysqlMigrateOptions = {},
): Promise<MysqlMigrationResult> {
  const lockTimeout = options.lockTimeout ?? 60;
  if (!Number.isInteger(lockTimeout) || lockTimeout < 0) {
    throw invalidArgument('lockTimeout', 'expected whole seconds');
  }
  const connection = await pool.getConnection();
  let clean = false;
  try {
    const result = await migrateLocked(connection, lockTimeout);
    clean = true;
    return result;
  } finally {
    // A connection that failed half way may still hold the lock: closing it releases the lock.
    if (clean) connection.release();
    else connection.destroy();
  }
}

async function migrateLocked(
  connection: MysqlPoolConnection,
  lockTimeout: number,
): Promise<MysqlMigrationResult> {
  const database = await single(connection, 'SELECT DATABASE()');
  if (database === null) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      'the MySQL pool has no database selected: set `database` when creating the pool',
    );
  }
  // Per database, so that two databases on one server migrate independently.
  // Lock names stop at 64 characters; a database name alone may have 64. SHA2, not MD5: MySQL in
  // FIPS mode answers MD5 with NULL.
  const lockName = "CONCAT('curfew_migrate:', LEFT(SHA2(DATABASE(), 256), 48))";
  const locked = await single(connection, `SELECT GET_LOCK(${lockName}, ?)`, [lockTimeout]);
  if (Number(locked) !== 1) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      `another process held curfew's migration lock for more than ${lockTimeout} s`,
    );
  }
  const releaseLock = () => connection.query({ sql: `SELECT RELEASE_LOCK(${lockName})` });
  let result: MysqlMigrationResult;
  try {
    result = await applyPending(connection);
  } catch (error) {
    // If this fails too the connection is broken; migrateMysql closes it, which frees the lock.
    await releaseLock().catch(() => undefined);
    throw error;
  }
  await releaseLock();
  return result;
}

async function applyPending(connection: MysqlPoolConnection): Promise<MysqlMigrationResult> {
  await connection.query({
    sql: `CREATE TABLE IF NOT EXISTS curfew_migrations (
      version INT NOT NULL PRIMARY KEY,
      description VARCHAR(255) NOT NULL,
      applied_at BIGINT NOT NULL
    ) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4`,
  });
  const from = await readVersion(connection);
  checkNotNewer(from);
  const applied: number[] = [];
  const pending = MIGRATIONS.filter((migration) => migration.version > from);
  if (pending.length > 0) {
    const names = { textCollation: await pickTextCollation(connection) };
    for (const migration of pending) {
      const inPlace =
        migration.inPlace !== undefined && Number(await single(connection, migration.inPlace)) > 0;
      if (!inPlace) {
        for (const sql of migration.statements(names)) await connection.query({ sql });
      }
      // The database's own clock: this is bookkeeping for operators, not session time.
      await connection.query(
        {
          sql: `INSERT INTO curfew_migrations (version, description, applied_at)
                VALUES (?, ?, ROUND(UNIX_TIMESTAMP(CURRENT_TIMESTAMP(3)) * 1000))`,
        },
        [migration.version, migration.description],
      );
      applied.push(migration.version);
    }
  }
  return { from, to: MYSQL_SCHEMA_VERSION, applied };
}

/**
 * Throws unless the schema is exactly at {@link MYSQL_SCHEMA_VERSION}: for stores opened with
 * `migrate: false`, where a missing migration must fail at start, not on the first request.
 * @internal
 */
export async function checkSchemaCurrent(pool: MysqlPool): Promise<void> {
  let version: number;
  try {
    version = await readVersion(pool);
  } catch (error) {
    // ER_NO_SUCH_TABLE: never migrated.
    if ((error as { errno?: unknown }).errno !== 1146) throw error;
    version = 0;
  }
  checkNotNewer(version);
  if (version < MYSQL_SCHEMA_VERSION) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      `curfew MySQL schema is at version ${version}, this curfew needs ${MYSQL_SCHEMA_VERSION}: ` +
        'run migrateMysql(pool) (or `curfew migrate`), or open the store with migrate: true',
    );
  }
}

async function pickTextCollation(connection: MysqlPoolConnection): Promise<string> {
  // NO PAD matters: with a PAD SPACE collation such as utf8mb4_bin, 'alice' = 'alice ' is true,
  // so revoking one user's sessions would end another's.
  const result = await connection.query(
    read(`SELECT COLLATION_NAME FROM information_schema.COLLATIONS
          WHERE COLLATION_NAME IN ('utf8mb4_0900_bin', 'utf8mb4_nopad_bin')`),
  );
  const names = rowsOf(result).map((row) => String(row[0]));
  const name = ['utf8mb4_0900_bin', 'utf8mb4_nopad_bin'].find((n) => names.includes(n));
  if (name === undefined) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      'this server has no binary NO PAD utf8mb4 collation: curfew needs MySQL ≥ 8.0.17 or MariaDB ≥ 10.6',
    );
  }
  return name;
}

async function readVersion(on: MysqlPool | MysqlPoolConnection): Promise<number> {
  return Number(await single(on, 'SELECT COALESCE(MAX(version), 0) FROM curfew_migrations'));
}

async function single(
  on: MysqlPool | MysqlPoolConnection,
  sql: string,
  values?: MysqlValue[],
): Promise<unknown> {
  const rows = rowsOf(await on.query(read(sql), values));
  return rows[0]?.[0] ?? null;
}

function checkNotNewer(version: number): void {
  if (version > MYSQL_SCHEMA_VERSION) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      `curfew MySQL schema is at version ${version}, newer than this curfew knows ` +
        `(${MYSQL_SCHEMA_VERSION}): upgrade curfew`,
    );
  }
}
