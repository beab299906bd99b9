/**
 * curfew's MySQL and MariaDB store, on a mysql2 promise pool that you create. curfew itself never
 * loads mysql2: add it to your own dependencies (v3). Targets MySQL ≥ 8.0.17 and MariaDB ≥ 10.6.
 *
 * @example
 * ```ts
 * import { createPool } from 'mysql2/promise';
 * import { SessionManager } from 'curfew';
 * import { MysqlStore } from 'curfew/mysql';
 *
 * const pool = createPool({ host: '127.0.0.1', user: 'curfew', database: 'app' });
 * const sessions = new SessionManager({ store: await MysqlStore.open(pool) });
 * ```
 * @packageDocumentation
 */
export {
  MYSQL_SCHEMA_VERSION,
  type MysqlMigrateOptions,
  type MysqlMigrationResult,
  migrateMysql,
} from './migrations.js';
export { MysqlStore, type MysqlStoreOpenOptions, type MysqlStoreOptions } from './mysql-store.js';
export type {
  MysqlPool,
  MysqlPoolConnection,
  MysqlQueryable,
  MysqlResult,
  MysqlStatement,
  MysqlValue,
} from './pool.js';
