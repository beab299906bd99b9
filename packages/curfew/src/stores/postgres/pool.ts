/**
 * One statement for {@link PostgresPool.query}, in node-postgres's `QueryConfig` form. With a
 * `name`, node-postgres prepares it once per connection and reuses the plan afterwards.
 *
 * @example
 * ```ts
 * const lookup: PostgresQueryConfig = {
 *   name: 'find_user',
 *   text: 'SELECT id FROM users WHERE email = $1',
 *   values: ['ada@example.com'],
 * };
 * ```
 */
export interface PostgresQueryConfig {
  text: string;
  values?: unknown[];
  name?: string;
}

/**
 * What a statement returned: its rows as objects keyed by column name, and how many rows it
 * changed (or returned).
 *
 * @example
 * ```ts
 * const { rows, rowCount }: PostgresQueryResult = await pool.query({ text: 'SELECT 1 AS one' });
 * ```
 */
export interface PostgresQueryResult {
  rows: unknown[];
  rowCount: number | null;
}

/**
 * A connection taken from a {@link PostgresPool}, held for a transaction. `release(error)` with
 * an error discards the connection instead of returning it to the pool.
 *
 * @example
 * ```ts
 * const client: PostgresPoolClient = await pool.connect();
 * try {
 *   await client.query({ text: 'SELECT 1' });
 * } finally {
 *   client.release();
 * }
 * ```
 */
export interface PostgresPoolClient {
  query(config: PostgresQueryConfig): Promise<PostgresQueryResult>;
  release(error?: Error | boolean): void;
}

/**
 * The part of a node-postgres (`pg` v8) `Pool` that curfew uses, typed by shape so that the
 * library never loads `pg` itself: you install it, configure the pool, and hand it over. A
 * `pg.Pool` satisfies it as is. Every session operation is one `query` on the pool; only
 * migrations take a connection with `connect`, to hold a transaction and an advisory lock.
 *
 * Configure the pool so that nothing waits without bound, and listen for its `error` event:
 * node-postgres emits one when an idle connection dies (the server restarted, a network cut),
 * and an `error` event without a listener crashes the process.
 *
 * | `pg.Pool` option | suggested | why |
 * | --- | --- | --- |
 * | `connectionTimeoutMillis` | `5000` | a pool that cannot connect fails instead of queueing forever |
 * | `query_timeout` | `6000` | the client gives up on a server that stopped answering |
 * | `statement_timeout` | `5000` | the server cancels a statement stuck on a lock |
 * | `max` | `10`–`20` | each curfew call holds a connection for one statement only |
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import type { PostgresPool } from 'curfew/postgres';
 *
 * const pool = new pg.Pool({
 *   connectionString: process.env.DATABASE_URL,
 *   connectionTimeoutMillis: 5_000,
 *   query_timeout: 6_000,
 *   statement_timeout: 5_000,
 * });
 * pool.on('error', (error) => logger.warn({ err: error }, 'idle PostgreSQL connection failed'));
 * const forCurfew: PostgresPool = pool;
 * ```
 */
export interface PostgresPool {
  query(config: PostgresQueryConfig): Promise<PostgresQueryResult>;
  connect(): Promise<PostgresPoolClient>;
}
