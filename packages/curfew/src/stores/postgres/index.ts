/**
 * curfew's PostgreSQL store, on a node-postgres `pg` Pool that you create. curfew itself never
 * loads `pg`: add it to your own dependencies (v8).
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { SessionManager } from 'curfew';
 * import { PostgresStore } from 'curfew/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, query_timeout: 6_000 });
 * pool.on('error', (error) => console.warn('idle PostgreSQL connection failed', error.message));
 * const sessions = new SessionManager({ store: await PostgresStore.open(pool) });
 * ```
 * @packageDocumentation
 */
export {
  migratePostgres,
  POSTGRES_SCHEMA_VERSION,
  type PostgresMigrateOptions,
  type PostgresMigrationResult,
} from './migrations.js';
export type {
  PostgresPool,
  PostgresPoolClient,
  PostgresQueryConfig,
  PostgresQueryResult,
} from './pool.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres-store.js';
