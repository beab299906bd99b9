/**
 * A statement as curfew hands it to the driver: the SQL with `?` placeholders, and, on every
 * read, `rowsAsArray: true` with `nestTables: false`, so that rows come back as arrays in column
 * order whatever the pool's own settings (in mysql2, a pool's `nestTables` would otherwise win
 * over `rowsAsArray`).
 *
 * @example
 * ```ts
 * const statement: MysqlStatement = { sql: 'SELECT 1', rowsAsArray: true, nestTables: false };
 * ```
 */
export interface MysqlStatement {
  sql: string;
  rowsAsArray?: boolean;
  nestTables?: boolean;
}

/**
 * A value bound to a `?` placeholder: what curfew sends is strings, numbers and NULL, and arrays of
 * numbers for `IN (?)` lists, which mysql2 expands in text-protocol statements.
 *
 * @example
 * ```ts
 * const values: MysqlValue[] = ['user-1', 1_767_225_600_000, null, [1, 2, 3]];
 * ```
 */
export type MysqlValue = string | number | null | MysqlValue[];

/**
 * What a statement answers: the rows (arrays, as asked with `rowsAsArray`) for a read, or a
 * header with `affectedRows` for a write; then the field metadata, which curfew ignores.
 *
 * @example
 * ```ts
 * const [rows]: MysqlResult = await pool.execute({ sql: 'SELECT 1', rowsAsArray: true });
 * ```
 */
export type MysqlResult = [unknown, unknown];

/**
 * The part of a mysql2 promise connection that curfew uses.
 *
 * @example
 * ```ts
 * const connection: MysqlQueryable = await pool.getConnection();
 * await connection.query({ sql: 'SELECT 1' });
 * ```
 */
export interface MysqlQueryable {
  /** A prepared statement (binary protocol), prepared once per connection and cached by mysql2. */
  execute(statement: MysqlStatement, values?: MysqlValue[]): Promise<MysqlResult>;
  /** A text-protocol statement; mysql2 escapes the values into it (arrays become lists). */
  query(statement: MysqlStatement, values?: MysqlValue[]): Promise<MysqlResult>;
}

/**
 * A connection checked out of a {@link MysqlPool}, for transactions and locks that must stay on
 * one connection.
 *
 * @example
 * ```ts
 * const connection: MysqlPoolConnection = await pool.getConnection();
 * try {
 *   await connection.query({ sql: 'SELECT 1' });
 * } finally {
 *   connection.release();
 * }
 * ```
 */
export interface MysqlPoolConnection extends MysqlQueryable {
  /** Returns it to the pool. */
  release(): void;
  /** Closes it and drops it from the pool: the server rolls back whatever it had open. */
  destroy(): void;
}

/**
 * The part of a mysql2 promise pool (`createPool` from `mysql2/promise`, mysql2 v3) that curfew
 * uses, typed by shape so that the library never loads mysql2: you install it, create the pool
 * and hand it over. A mysql2 v3 promise `Pool` satisfies it as is.
 *
 * @example
 * ```ts
 * import { createPool } from 'mysql2/promise';
 * import type { MysqlPool } from 'curfew/mysql';
 *
 * const pool: MysqlPool = createPool({ host: '127.0.0.1', user: 'curfew', database: 'app' });
 * ```
 */
export interface MysqlPool extends MysqlQueryable {
  getConnection(): Promise<MysqlPoolConnection>;
}

/** The header mysql2 returns for INSERT, UPDATE and DELETE. @internal */
export interface MysqlWriteResult {
  affectedRows: number;
}

/** A read statement: rows as arrays in column order, whatever the pool's settings. @internal */
export function read(sql: string): MysqlStatement {
  return { sql, rowsAsArray: true, nestTables: false };
}

/** Rows of a statement made with {@link read}. @internal */
export function rowsOf(result: MysqlResult): unknown[][] {
  return result[0] as unknown[][];
}

/**
 * How many rows a write matched. mysql2 connects with CLIENT_FOUND_ROWS, so this counts matched
 * rows; every conditional write in this store also changes each row it matches, so the count is
 * the same without that flag.
 * @internal
 */
export function affectedRows(result: MysqlResult): number {
  return (result[0] as MysqlWriteResult).affectedRows;
}
