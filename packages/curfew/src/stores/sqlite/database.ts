/**
 * The part of a better-sqlite3 `Database` that curfew uses, typed by shape so that the library
 * never loads better-sqlite3 itself: you install it, open the file, and hand over the `Database`.
 * A better-sqlite3 v12 `Database` satisfies it as is.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import type { SqliteDatabase } from 'curfew/sqlite';
 *
 * const db: SqliteDatabase = new Database('sessions.db');
 * ```
 */
export interface SqliteDatabase {
  /** Compiles one SQL statement. */
  prepare(source: string): SqliteStatement;
  /** Runs one or more SQL statements that return nothing. */
  exec(source: string): unknown;
  /** Reads or sets a pragma; with `simple`, returns the first column of the first row. */
  pragma(source: string, options?: { simple?: boolean }): unknown;
  /** Wraps a function so that it runs in one transaction (`immediate()`: `BEGIN IMMEDIATE`). */
  transaction<A extends unknown[], R>(fn: (...args: A) => R): SqliteTransaction<A, R>;
}

/**
 * A compiled statement, as better-sqlite3's `Statement`.
 *
 * @example
 * ```ts
 * const one: SqliteStatement = db.prepare('SELECT 1 AS one');
 * one.get(); // { one: 1 }
 * ```
 */
export interface SqliteStatement {
  /** Runs the statement; `changes` is how many rows it inserted, updated or deleted. */
  run(...params: unknown[]): { changes: number };
  /** The first row, or `undefined`. */
  get(...params: unknown[]): unknown;
  /** Every row. */
  all(...params: unknown[]): unknown[];
  /** `false`: return integers as numbers even when the connection defaults to `BigInt`. */
  safeIntegers(toggle?: boolean): unknown;
  /** `true`: `get` and `all` return each row's first value instead of the row. */
  pluck(toggle?: boolean): unknown;
}

/**
 * A function wrapped by {@link SqliteDatabase.transaction}.
 *
 * @example
 * ```ts
 * const addTwo: SqliteTransaction<[], void> = db.transaction(() => {
 *   db.exec("INSERT INTO t VALUES (1)");
 *   db.exec("INSERT INTO t VALUES (2)");
 * });
 * addTwo.immediate(); // BEGIN IMMEDIATE … COMMIT, or ROLLBACK if it throws
 * ```
 */
export interface SqliteTransaction<A extends unknown[], R> {
  (...args: A): R;
  /** Runs it under `BEGIN IMMEDIATE`: the write lock is taken first, so no other writer interleaves. */
  immediate(...args: A): R;
}

/**
 * Prepares a statement that returns integers as numbers whatever the connection's default.
 * @internal
 */
export function prepareStatement(db: SqliteDatabase, source: string): SqliteStatement {
  const statement = db.prepare(source);
  // Epoch milliseconds fit a double exactly; a caller's `defaultSafeIntegers(true)` must not
  // turn the times in StoredSession into BigInts.
  statement.safeIntegers(false);
  return statement;
}
