import { type ApiKey, formatApiKeyLine, parseApiKeyRecord } from '../api-keys.js';
import type { KeyStore, StoredApiKey } from '../key-store.js';

/** The two SQL dialects a key table is kept in, with what differs between them. */
type Dialect = 'postgres' | 'mysql';

/**
 * What the key store needs of a driver: run one statement with positional values, and tell the
 * rows it returned and how many it changed. Built over a pg `Pool` or a mysql2 pool by
 * {@link postgresQueries} and {@link mysqlQueries}.
 */
export interface SqlQueries {
  readonly dialect: Dialect;
  run(
    sql: string,
    values: readonly unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; changed: number }>;
}

const TABLE = 'curfew_api_keys';

// The key name is the table's business key; `id` keeps the order keys were added in. MySQL
// compares names byte for byte (ascii_bin): "Ops" and "ops" are two keys, as in a key file.
const CREATE: Record<Dialect, string> = {
  postgres: `CREATE TABLE IF NOT EXISTS ${TABLE} (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    record text NOT NULL,
    last_used_at bigint
  )`,
  mysql: `CREATE TABLE IF NOT EXISTS ${TABLE} (
    id bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL UNIQUE,
    record text NOT NULL,
    last_used_at bigint NULL
  ) ENGINE=InnoDB`,
};

/**
 * Creates the key table if it is missing (`curfew migrate` and a migrating start run this).
 *
 * @example
 * ```ts
 * await createKeyTable(postgresQueries(pool));
 * ```
 */
export async function createKeyTable(queries: SqlQueries): Promise<void> {
  await queries.run(CREATE[queries.dialect], []);
}

/**
 * API keys in a table of the service's PostgreSQL or MySQL database (`curfew_api_keys`): one
 * row per key, holding the same JSON record a key file line holds, and its last-used time.
 * Every instance on the database shares them.
 *
 * @example
 * ```ts
 * const keys = new SqlKeyStore(postgresQueries(pool));
 * await keys.list();
 * ```
 */
export class SqlKeyStore implements KeyStore {
  readonly location: string;
  readonly #queries: SqlQueries;
  readonly #p: (index: number) => string;

  constructor(queries: SqlQueries) {
    this.#queries = queries;
    this.location = `the ${queries.dialect === 'postgres' ? 'PostgreSQL' : 'MySQL'} store (table ${TABLE})`;
    this.#p = queries.dialect === 'postgres' ? (index) => `$${index}` : () => '?';
  }

  async list(): Promise<StoredApiKey[]> {
    const { rows } = await this.#queries.run(
      `SELECT record, last_used_at FROM ${TABLE} ORDER BY id`,
      [],
    );
    return rows.map((row) => ({
      ...parseApiKeyRecord(String(row.record), this.location),
      lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
    }));
  }

  async add(key: ApiKey): Promise<boolean> {
    const p = this.#p;
    const conflict = this.#queries.dialect === 'postgres' ? ' ON CONFLICT (name) DO NOTHING' : '';
    try {
      const { changed } = await this.#queries.run(
        `INSERT INTO ${TABLE} (name, record) VALUES (${p(1)}, ${p(2)})${conflict}`,
        [key.name, formatApiKeyLine(key)],
      );
      return changed === 1;
    } catch (error) {
      // MySQL has no ON CONFLICT DO NOTHING that ignores only this: the unique index refuses it.
      if ((error as { code?: unknown }).code === 'ER_DUP_ENTRY') return false;
      throw error;
    }
  }

  async replace(before: ApiKey, after: ApiKey): Promise<boolean> {
    const p = this.#p;
    const { changed } = await this.#queries.run(
      `UPDATE ${TABLE} SET record = ${p(1)} WHERE name = ${p(2)} AND record = ${p(3)}`,
      [formatApiKeyLine(after), before.name, formatApiKeyLine(before)],
    );
    return changed === 1;
  }

  async recordUse(uses: ReadonlyMap<string, number>): Promise<void> {
    const p = this.#p;
    // One statement per key used since the last flush: a handful, once a minute.
    for (const [name, time] of uses) {
      await this.#queries.run(
        `UPDATE ${TABLE} SET last_used_at = ${p(1)}
         WHERE name = ${p(2)} AND (last_used_at IS NULL OR last_used_at < ${p(3)})`,
        [time, name, time],
      );
    }
  }
}

/**
 * {@link SqlQueries} over a pg `Pool` (or `Client`).
 *
 * @example
 * ```ts
 * const keys = new SqlKeyStore(postgresQueries(new pg.Pool()));
 * ```
 */
export function postgresQueries(pool: {
  query(
    sql: string,
    values: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}): SqlQueries {
  return {
    dialect: 'postgres',
    async run(sql, values) {
      const result = await pool.query(sql, [...values]);
      return { rows: result.rows, changed: result.rowCount ?? 0 };
    },
  };
}

/**
 * {@link SqlQueries} over a mysql2 promise pool. Changed rows are counted as matched rows
 * (mysql2 asks for FOUND_ROWS), so a compare-and-set that writes the same record still counts.
 *
 * @example
 * ```ts
 * const keys = new SqlKeyStore(mysqlQueries(createPool(url)));
 * ```
 */
export function mysqlQueries(pool: {
  query(sql: string, values: unknown[]): Promise<[unknown, unknown]>;
}): SqlQueries {
  return {
    dialect: 'mysql',
    async run(sql, values) {
      const [result] = await pool.query(sql, [...values]);
      if (Array.isArray(result)) return { rows: result as Record<string, unknown>[], changed: 0 };
      return { rows: [], changed: (result as { affectedRows: number }).affectedRows };
    },
  };
}
