/**
 * curfew's SQLite store, on a better-sqlite3 `Database` that you open. curfew itself never loads
 * better-sqlite3: add it to your own dependencies (v12).
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { SessionManager } from 'curfew';
 * import { SqliteStore } from 'curfew/sqlite';
 *
 * const db = new Database('sessions.db');
 * const sessions = new SessionManager({ store: new SqliteStore(db) });
 * ```
 * @packageDocumentation
 */
export type { SqliteDatabase, SqliteStatement, SqliteTransaction } from './database.js';
export {
  migrateSqlite,
  SQLITE_SCHEMA_VERSION,
  type SqliteMigrationResult,
} from './migrations.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite-store.js';
