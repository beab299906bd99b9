import { CurfewError } from '../../core/errors.js';
import { prepareStatement, type SqliteDatabase } from './database.js';

interface Migration {
  version: number;
  description: string;
  sql: string;
}

// Append only: a released migration is never edited, since databases in the field have run it.
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions table with hash, user and expiry indexes',
    sql: `
      CREATE TABLE curfew_sessions (
        id TEXT PRIMARY KEY NOT NULL,
        -- Lowercase hex SHA-256 only: a raw token (43 base64url characters) cannot fit here.
        token_hash TEXT NOT NULL
          CHECK (length(token_hash) = 64 AND token_hash NOT GLOB '*[^0-9a-f]*'),
        user_id TEXT NOT NULL,
        tenant_id TEXT,
        app_type TEXT NOT NULL,
        ip_address TEXT,
        user_agent TEXT,
        created_at INTEGER NOT NULL,
        last_activity_at INTEGER NOT NULL,
        absolute_expires_at INTEGER NOT NULL,
        ended_at INTEGER,
        end_reason TEXT,
        CHECK ((ended_at IS NULL) = (end_reason IS NULL))
      ) STRICT;

      CREATE UNIQUE INDEX curfew_sessions_token_hash ON curfew_sessions (token_hash);

      -- Listing and "sign out everywhere". No last_activity_at here: every activity write would
      -- have to move the entry, and one user's active sessions are few enough to sort.
      CREATE INDEX curfew_sessions_user_active ON curfew_sessions (user_id, tenant_id)
        WHERE ended_at IS NULL;

      -- Sweeping: ended rows (the audit trail, most of the table in time) stay out of these.
      CREATE INDEX curfew_sessions_absolute_active ON curfew_sessions (absolute_expires_at)
        WHERE ended_at IS NULL;
      CREATE INDEX curfew_sessions_idle_active ON curfew_sessions (last_activity_at)
        WHERE ended_at IS NULL;

      -- Purging old audit rows in bounded batches.
      CREATE INDEX curfew_sessions_ended ON curfew_sessions (ended_at)
        WHERE ended_at IS NOT NULL;
    `,
  },
  {
    version: 2,
    description: 'user indexes in listing order, for paging and batched sign-out',
    sql: `
      -- A user's active sessions in listing order (most recently active first, then id), per
      -- tenant and across tenants: a page of them, or a batch of "sign out everywhere", is a walk
      -- of one index range that stops at the page's end, so it costs the same for a user with
      -- 100,000 sessions as for one with ten, where sorting every one of the user's rows did not.
      -- The every-tenant scope needs its own: in the first, each tenant's sessions are in order
      -- only among themselves. The cost: an activity write (at most once a minute per session,
      -- see activityWriteInterval) now also moves the session's entry in both.
      CREATE INDEX curfew_sessions_user_tenant_activity
        ON curfew_sessions (user_id, tenant_id, last_activity_at, id) WHERE ended_at IS NULL;
      CREATE INDEX curfew_sessions_user_activity
        ON curfew_sessions (user_id, last_activity_at, id) WHERE ended_at IS NULL;

      -- Its columns lead curfew_sessions_user_tenant_activity, which serves anything it did.
      DROP INDEX curfew_sessions_user_active;
    `,
  },
  {
    version: 3,
    description: 'per-session assurance level, methods, authentication time and idle limit',
    sql: `
      -- A session carries how its user authenticated and its own limits (from the policy for
      -- its level, tenant and app type), so sessions of several levels can share the table.
      ALTER TABLE curfew_sessions ADD COLUMN aal INTEGER NOT NULL DEFAULT 1
        CHECK (aal BETWEEN 1 AND 3);
      -- RFC 8176 method names, space-separated ('' for none): they never contain a space.
      ALTER TABLE curfew_sessions ADD COLUMN methods TEXT NOT NULL DEFAULT '';
      ALTER TABLE curfew_sessions ADD COLUMN authenticated_at INTEGER NOT NULL DEFAULT 0;
      -- NULL: no idle limit. idle_expires_at is last_activity_at + idle_timeout, kept beside it
      -- so that the sweep walks an index of deadlines instead of computing one per row.
      ALTER TABLE curfew_sessions ADD COLUMN idle_timeout INTEGER;
      ALTER TABLE curfew_sessions ADD COLUMN idle_expires_at INTEGER;

      -- Sessions from before: their sign-in is all that is known, so they claim the lowest level
      -- and the strictest idle limit of any preset (15 minutes). An upgrade fails closed: it may
      -- end a session early, never keep one alive without an idle limit.
      UPDATE curfew_sessions SET
        authenticated_at = created_at,
        idle_timeout = 900000,
        idle_expires_at = last_activity_at + 900000;

      DROP INDEX curfew_sessions_idle_active;
      CREATE INDEX curfew_sessions_idle_deadline ON curfew_sessions (idle_expires_at)
        WHERE ended_at IS NULL AND idle_expires_at IS NOT NULL;
      -- Ending every session of a tenant, a batch at a time.
      CREATE INDEX curfew_sessions_tenant_active ON curfew_sessions (tenant_id)
        WHERE ended_at IS NULL;
    `,
  },
];

/**
 * The schema version this build of curfew writes and expects in `curfew_migrations`.
 *
 * @example
 * ```ts
 * import { SQLITE_SCHEMA_VERSION } from 'curfew/sqlite';
 *
 * console.log(`curfew SQLite schema v${SQLITE_SCHEMA_VERSION}`);
 * ```
 */
export const SQLITE_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * What {@link migrateSqlite} did.
 *
 * @example
 * ```ts
 * const { from, to, applied }: SqliteMigrationResult = migrateSqlite(db);
 * ```
 */
export interface SqliteMigrationResult {
  /** The schema version found (0 for a new database). */
  from: number;
  /** The schema version now: {@link SQLITE_SCHEMA_VERSION}. */
  to: number;
  /** The versions this call applied, in order; empty when the schema was already current. */
  applied: number[];
}

/** Below this, two processes opening the same file would fail on each other's locks at once. */
const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Brings curfew's tables in a better-sqlite3 database up to {@link SQLITE_SCHEMA_VERSION}.
 * `new SqliteStore(db)` calls it for you; call it alone to migrate in a deploy step and then
 * construct stores with `{ migrate: false }`.
 *
 * Safe to run from several processes at once: the pending migrations are applied inside one
 * `BEGIN IMMEDIATE` transaction, so a second process waits for the first and then finds nothing
 * to do. Each applied version is recorded in `curfew_migrations`. It also puts the file in WAL
 * mode (a lasting property of the file) and makes the connection wait for locks (at least 5 s)
 * rather than fail at once.
 *
 * Throws a `CurfewError` (`STORE_UNAVAILABLE`) when the database was migrated by a newer curfew.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { migrateSqlite } from 'curfew/sqlite';
 *
 * const db = new Database('sessions.db');
 * const { from, to } = migrateSqlite(db);
 * console.log(`curfew schema ${from} → ${to}`);
 * db.close();
 * ```
 */
export function migrateSqlite(db: SqliteDatabase): SqliteMigrationResult {
  configureConnection(db);
  return runMigrations(db);
}

/**
 * Applies pending migrations on a connection already configured (see {@link configureConnection}).
 * @internal
 */
export function runMigrations(db: SqliteDatabase): SqliteMigrationResult {
  const migrate = db.transaction((): SqliteMigrationResult => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS curfew_migrations (
        version INTEGER PRIMARY KEY NOT NULL,
        description TEXT NOT NULL,
        applied_at INTEGER NOT NULL
      ) STRICT
    `);
    const from = readVersion(db);
    checkNotNewer(from);
    const record = prepareStatement(
      db,
      // The database's own clock: this is bookkeeping for operators, not session time.
      `INSERT INTO curfew_migrations (version, description, applied_at)
       VALUES (?, ?, CAST(unixepoch('subsec') * 1000 AS INTEGER))`,
    );
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= from) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.description);
      applied.push(migration.version);
    }
    return { from, to: SQLITE_SCHEMA_VERSION, applied };
  });
  return migrate.immediate();
}

/**
 * Sets up a connection for sharing a file with other processes: a busy timeout so that they
 * wait for each other's locks, and WAL so that readers never wait for the writer.
 * @internal
 */
export function configureConnection(db: SqliteDatabase, busyTimeout?: number): void {
  const current = Number(db.pragma('busy_timeout', { simple: true }));
  const wanted = busyTimeout ?? Math.max(current, DEFAULT_BUSY_TIMEOUT_MS);
  if (wanted !== current) db.pragma(`busy_timeout = ${wanted}`);
  const mode = String(db.pragma('journal_mode', { simple: true })).toLowerCase();
  // An in-memory database cannot use WAL and needs no sharing; anything else is switched.
  if (mode !== 'wal' && mode !== 'memory') switchToWal(db, wanted);
}

const WAL_RETRY_MS = 10;

/**
 * Switching to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at once, without its
 * busy handler, when another process holds the file: so wait and retry here, for as long as the
 * busy timeout allows, so that several processes opening a new file together all start.
 */
function switchToWal(db: SqliteDatabase, busyTimeout: number): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; ; waited += WAL_RETRY_MS) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code !== 'SQLITE_BUSY' || waited >= busyTimeout) throw error;
      // A synchronous pause: the constructor is synchronous, and this counts waits, not time.
      Atomics.wait(pause, 0, 0, WAL_RETRY_MS);
    }
  }
}

/**
 * Throws unless the schema is exactly at {@link SQLITE_SCHEMA_VERSION}: for stores constructed
 * with `migrate: false`, where a missing migration must fail at start, not on the first request.
 * @internal
 */
export function checkSchemaCurrent(db: SqliteDatabase): void {
  const hasTable = prepareStatement(
    db,
    `SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'curfew_migrations'`,
  ).get();
  const version = hasTable === undefined ? 0 : readVersion(db);
  checkNotNewer(version);
  if (version < SQLITE_SCHEMA_VERSION) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      `curfew SQLite schema is at version ${version}, this curfew needs ${SQLITE_SCHEMA_VERSION}: ` +
        'run migrateSqlite(db) or construct the store with migrate: true',
    );
  }
}

function readVersion(db: SqliteDatabase): number {
  const row = prepareStatement(
    db,
    'SELECT coalesce(max(version), 0) AS version FROM curfew_migrations',
  ).get() as { version: number };
  return row.version;
}

function checkNotNewer(version: number): void {
  if (version > SQLITE_SCHEMA_VERSION) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      `curfew SQLite schema is at version ${version}, newer than this curfew knows ` +
        `(${SQLITE_SCHEMA_VERSION}): upgrade curfew`,
    );
  }
}
