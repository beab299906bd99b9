import { CurfewError, invalidArgument } from '../../core/errors.js';
import type { PostgresPool, PostgresPoolClient } from './pool.js';
import { type PostgresTables, resolveTables } from './tables.js';

interface Migration {
  version: number;
  description: string;
  sql: (tables: PostgresTables) => string;
}

// Append only: a released migration is never edited, since databases in the field have run it.
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'sessions table with hash, user, expiry and purge indexes',
    sql: ({ sessions }) => `
      CREATE TABLE ${sessions} (
        -- "C" collation: byte-wise comparison, faster in the indexes, and the same order as
        -- JavaScript's string comparison for the ids that break ties in listings.
        id text COLLATE "C" NOT NULL,
        token_hash text COLLATE "C" NOT NULL,
        user_id text COLLATE "C" NOT NULL,
        tenant_id text COLLATE "C",
        app_type text NOT NULL,
        ip_address text,
        user_agent text,
        -- Epoch milliseconds, exactly as curfew passes them: the database's clock and time zone
        -- never enter into expiry.
        created_at bigint NOT NULL,
        last_activity_at bigint NOT NULL,
        absolute_expires_at bigint NOT NULL,
        ended_at bigint,
        end_reason text,
        CONSTRAINT curfew_sessions_pkey PRIMARY KEY (id),
        CONSTRAINT curfew_sessions_token_hash_key UNIQUE (token_hash),
        -- Lowercase hex SHA-256 only: a raw token (43 base64url characters) cannot be stored.
        CONSTRAINT curfew_sessions_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
        CONSTRAINT curfew_sessions_ended_check CHECK ((ended_at IS NULL) = (end_reason IS NULL))
      );

      -- Listing and "sign out everywhere". No last_activity_at here: every activity write would
      -- move the entry, and one user's active sessions are few enough to sort.
      CREATE INDEX curfew_sessions_user_active ON ${sessions} (user_id, tenant_id)
        WHERE ended_at IS NULL;

      -- Sweeping: ended rows (the audit trail, most of the table in time) stay out of these.
      CREATE INDEX curfew_sessions_absolute_active ON ${sessions} (absolute_expires_at)
        WHERE ended_at IS NULL;
      CREATE INDEX curfew_sessions_idle_active ON ${sessions} (last_activity_at)
        WHERE ended_at IS NULL;

      -- Purging old audit rows in bounded batches.
      CREATE INDEX curfew_sessions_ended ON ${sessions} (ended_at)
        WHERE ended_at IS NOT NULL;
    `,
  },
  {
    version: 2,
    description: 'user indexes in listing order, for paging and batched sign-out',
    sql: ({ sessions, schema }) => `
      -- A user's active sessions in listing order (most recently active first, then id), per
      -- tenant and across tenants: a page of them, or a batch of "sign out everywhere", is a walk
      -- of one index range that stops at the page's end, so it costs the same for a user with
      -- 100,000 sessions as for one with ten, where sorting every one of the user's rows did not.
      -- The every-tenant scope needs its own: in the first, each tenant's sessions are in order
      -- only among themselves. The cost: an activity write (at most once a minute per session,
      -- see activityWriteInterval) now also moves the session's entries in these. It was never a
      -- HOT update (last_activity_at is in curfew_sessions_idle_active), so it already added an
      -- entry to every index; what is new is one index more than before.
      CREATE INDEX curfew_sessions_user_tenant_activity
        ON ${sessions} (user_id, tenant_id, last_activity_at, id) WHERE ended_at IS NULL;
      CREATE INDEX curfew_sessions_user_activity
        ON ${sessions} (user_id, last_activity_at, id) WHERE ended_at IS NULL;

      -- Its columns lead curfew_sessions_user_tenant_activity, which serves anything it did.
      DROP INDEX ${schema === null ? '' : `"${schema}".`}curfew_sessions_user_active;
    `,
  },
  {
    version: 3,
    description: 'per-session assurance level, methods, authentication time and idle limit',
    sql: ({ sessions, schema }) => `
      -- A session carries how its user authenticated and its own limits (from the policy for its
      -- level, tenant and app type), so sessions of several levels can share the table. methods
      -- holds RFC 8176 names, space-separated ('' for none): they never contain a space.
      -- idle_expires_at is last_activity_at + idle_timeout (NULL: no idle limit), kept beside it
      -- so that the sweep walks an index of deadlines instead of computing one per row.
      ALTER TABLE ${sessions}
        ADD COLUMN aal smallint NOT NULL DEFAULT 1 CHECK (aal BETWEEN 1 AND 3),
        ADD COLUMN methods text NOT NULL DEFAULT '',
        ADD COLUMN authenticated_at bigint,
        ADD COLUMN idle_timeout bigint,
        ADD COLUMN idle_expires_at bigint;

      -- Sessions from before: their sign-in is all that is known, so they claim the lowest level
      -- and the strictest idle limit of any preset (15 minutes). An upgrade fails closed: it may
      -- end a session early, never keep one alive without an idle limit.
      UPDATE ${sessions} SET
        authenticated_at = created_at,
        idle_timeout = 900000,
        idle_expires_at = last_activity_at + 900000;
      ALTER TABLE ${sessions} ALTER COLUMN authenticated_at SET NOT NULL;

      DROP INDEX ${schema === null ? '' : `"${schema}".`}curfew_sessions_idle_active;
      CREATE INDEX curfew_sessions_idle_deadline ON ${sessions} (idle_expires_at)
        WHERE ended_at IS NULL AND idle_expires_at IS NOT NULL;
      -- Ending every session of a tenant, a batch at a time.
      CREATE INDEX curfew_sessions_tenant_active ON ${sessions} (tenant_id, id)
        WHERE ended_at IS NULL;
    `,
  },
];

/**
 * The schema version this build of curfew writes and expects in `curfew_migrations`.
 *
 * @example
 * ```ts
 * import { POSTGRES_SCHEMA_VERSION } from 'curfew/postgres';
 *
 * console.log(`curfew PostgreSQL schema v${POSTGRES_SCHEMA_VERSION}`);
 * ```
 */
export const POSTGRES_SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/**
 * Options for {@link migratePostgres}.
 *
 * @example
 * ```ts
 * const options: PostgresMigrateOptions = { schema: 'auth' };
 * ```
 */
export interface PostgresMigrateOptions {
  /**
   * The schema that holds curfew's tables, created if missing. Default: the first schema of the
   * connection's `search_path` (usually `public`). Letters, digits and underscores; case is kept.
   */
  schema?: string | undefined;
}

/**
 * What {@link migratePostgres} did.
 *
 * @example
 * ```ts
 * const { from, to, applied }: PostgresMigrationResult = await migratePostgres(pool);
 * ```
 */
export interface PostgresMigrationResult {
  /** The schema version found (0 for a new database). */
  from: number;
  /** The schema version now: {@link POSTGRES_SCHEMA_VERSION}. */
  to: number;
  /** The versions this call applied, in order; empty when the schema was already current. */
  applied: number[];
}

/**
 * Brings curfew's tables up to {@link POSTGRES_SCHEMA_VERSION}: what `curfew migrate` runs, and
 * what `PostgresStore.open` runs unless told not to.
 *
 * Safe to run from several processes at once: all pending migrations are applied in one
 * transaction that first takes a transaction-level advisory lock (`pg_advisory_xact_lock`, keyed
 * by the schema), so a second process waits for the first, then finds nothing to do. Each
 * applied version is recorded in `curfew_migrations` with the time it was applied. DDL in
 * PostgreSQL is transactional: a migration that fails leaves nothing behind.
 *
 * Throws the driver's error when the database cannot be reached, and a `CurfewError`
 * (`STORE_UNAVAILABLE`) when the database was migrated by a newer curfew.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { migratePostgres } from 'curfew/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const { from, to } = await migratePostgres(pool);
 * console.log(`curfew schema ${from} → ${to}`);
 * await pool.end();
 * ```
 */
export async function migratePostgres(
  pool: PostgresPool,
  options: PostgresMigrateOptions = {},
): Promise<PostgresMigrationResult> {
  checkPool(pool);
  const tables = resolveTables(options?.schema);
  const client = await pool.connect();
  try {
    const result = await runMigrations(client, tables);
    client.release();
    return result;
  } catch (error) {
    // Handing the error to release() discards the connection: after a failed COMMIT or a cut
    // connection, nobody can tell what state it is in.
    client.release(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
}

async function runMigrations(
  client: PostgresPoolClient,
  tables: PostgresTables,
): Promise<PostgresMigrationResult> {
  await client.query({ text: 'BEGIN' });
  try {
    // Keyed by schema so that separate schemas (one per test file, one per tenant) migrate
    // independently; released by COMMIT or ROLLBACK, so a crashed migrator cannot leave it held.
    await client.query({
      text: `SELECT pg_advisory_xact_lock(
        hashtextextended('curfew migrations ' || coalesce($1::text, current_schema()), 0))`,
      values: [tables.schema],
    });
    if (tables.schema !== null) {
      // CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even when the
      // schema exists, so an application role that owns only its schema asks first.
      const { rows } = await client.query({
        text: 'SELECT FROM pg_namespace WHERE nspname = $1::text',
        values: [tables.schema],
      });
      if (rows.length === 0) await client.query({ text: `CREATE SCHEMA "${tables.schema}"` });
    }
    await client.query({
      text: `
        CREATE TABLE IF NOT EXISTS ${tables.migrations} (
          version integer PRIMARY KEY,
          description text NOT NULL,
          applied_at timestamptz NOT NULL DEFAULT now()
        )`,
    });
    const from = await readVersion(client, tables);
    checkNotNewer(from);
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (migration.version <= from) continue;
      await client.query({ text: migration.sql(tables) });
      await client.query({
        // The database's own clock: this is bookkeeping for operators, not session time.
        text: `INSERT INTO ${tables.migrations} (version, description) VALUES ($1, $2)`,
        values: [migration.version, migration.description],
      });
      applied.push(migration.version);
    }
    await client.query({ text: 'COMMIT' });
    return { from, to: POSTGRES_SCHEMA_VERSION, applied };
  } catch (error) {
    await client.query({ text: 'ROLLBACK' }).catch(() => {
      // The connection is discarded by the caller anyway; the first error is the one to report.
    });
    throw error;
  }
}

/**
 * Throws unless the schema is exactly at {@link POSTGRES_SCHEMA_VERSION}: for stores opened with
 * `migrate: false`, where a missing migration must fail at start, not on the first request.
 * @internal
 */
export async function checkSchemaCurrent(pool: PostgresPool, tables: PostgresTables) {
  const { rows } = await pool.query({
    text: 'SELECT to_regclass($1::text) IS NOT NULL AS present',
    values: [tables.migrations],
  });
  const present = (rows[0] as { present: boolean } | undefined)?.present === true;
  const version = present ? await readVersion(pool, tables) : 0;
  checkNotNewer(version);
  if (version < POSTGRES_SCHEMA_VERSION) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      `curfew PostgreSQL schema is at version ${version}, this curfew needs ` +
        `${POSTGRES_SCHEMA_VERSION}: run migratePostgres(pool) (or \`curfew migrate\`), ` +
        'or open the store with migrate: true',
    );
  }
}

/** @internal */
export function checkPool(pool: unknown): asserts pool is PostgresPool {
  const candidate = pool as Partial<PostgresPool> | null;
  if (
    typeof candidate !== 'object' ||
    candidate === null ||
    typeof candidate.query !== 'function' ||
    typeof candidate.connect !== 'function'
  ) {
    throw invalidArgument('pool', 'expected a node-postgres (pg) Pool');
  }
}

async function readVersion(
  db: Pick<PostgresPool, 'query'>,
  tables: PostgresTables,
): Promise<number> {
  const { rows } = await db.query({
    text: `SELECT coalesce(max(version), 0)::integer AS version FROM ${tables.migrations}`,
  });
  return Number((rows[0] as { version: number | string } | undefined)?.version ?? 0);
}

function checkNotNewer(version: number): void {
  if (version > POSTGRES_SCHEMA_VERSION) {
    throw new CurfewError(
      'STORE_UNAVAILABLE',
      `curfew PostgreSQL schema is at version ${version}, newer than this curfew knows ` +
        `(${POSTGRES_SCHEMA_VERSION}): upgrade curfew`,
    );
  }
}
