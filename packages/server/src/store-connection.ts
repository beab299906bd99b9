// How the service reaches a network store, kept apart from open-store.ts so that reading the
// configuration (and `curfew --help`) loads no database driver.

/**
 * Pool size and time bounds for the network stores; `curfew serve` takes them from
 * `CURFEW_STORE_POOL_SIZE` and `CURFEW_STORE_TIMEOUT`.
 *
 * @example
 * ```ts
 * const connection: StoreConnection = { poolSize: 10, timeout: 2_000 };
 * ```
 */
export interface StoreConnection {
  /** Connections per process to PostgreSQL or MySQL (Redis multiplexes one). */
  poolSize: number;
  /**
   * Milliseconds one store call may take, connecting or waiting for a pooled connection
   * included; past it the call fails with `STORE_UNAVAILABLE` (a 503) instead of hanging.
   */
  timeout: number;
}

/** The defaults the README names: 10 connections, 2 s. */
export const DEFAULT_STORE_CONNECTION: StoreConnection = Object.freeze({
  poolSize: 10,
  timeout: 2_000,
});
