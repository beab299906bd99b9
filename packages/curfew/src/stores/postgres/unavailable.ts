import { hasNetworkCode } from '../../core/store-failure.js';

// SQLSTATE classes in which every condition means the server cannot serve now: 08 connection
// exception (the connection failed or was refused), 53 insufficient resources (too many
// connections, disk full, out of memory).
const UNAVAILABLE_CLASSES = new Set(['08', '53']);

const UNAVAILABLE_STATES = new Set([
  '57P01', // admin_shutdown: the server is stopping, or an operator ended the backend
  '57P02', // crash_shutdown: another backend crashed and the server is resetting
  '57P03', // cannot_connect_now: starting up, shutting down, or in recovery
  '57P05', // idle_session_timeout: the server closed a connection the pool kept idle
  '57014', // query_canceled: statement_timeout, or a cancel request
  '55P03', // lock_not_available: lock_timeout
  '58030', // io_error: the server could not read or write its files
  // read_only_sql_transaction: the pool reached a server that cannot write now, as a primary
  // demoted in a failover is until clients reach the new one (Redis's READONLY and MySQL's
  // read-only errors are classed the same). A pool pointed at a standby for good answers 503
  // until it is fixed, which is loud enough.
  '25006',
]);

// node-postgres and pg-pool raise these as plain Errors, without a code. They have read the same
// since pg 8.0; a reworded one falls back to STORE_ERROR, which is loud rather than silent.
const UNAVAILABLE_MESSAGES = new Set([
  // The server closed the socket, or the client was ended, while statements were waiting.
  'Connection terminated unexpectedly',
  'Connection terminated',
  // connectionTimeoutMillis, while connecting (the first is pg-pool's, the second pg's cause).
  'Connection terminated due to connection timeout',
  'timeout expired',
  // connectionTimeoutMillis, while waiting for a pooled connection.
  'timeout exceeded when trying to connect',
  // query_timeout: the client stopped waiting for an answer.
  'Query read timeout',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  // The application ended the pool (shutting down) with requests still arriving.
  'Cannot use a pool after calling end on the pool',
]);

/**
 * Whether an error from PostgresStore (or anything in its `cause` chain) means the server could
 * not be reached or did not answer in time. Everything else is not: constraint violations
 * (class 23), SQL errors (42), deadlocks (40P01) and serialization
 * failures (40001). curfew's statements take several rows' locks only in id order (or skip
 * locked rows) and run at READ COMMITTED, so those last two point at a bug or at a foreign
 * transaction or setting, which should be looked at rather than retried as an outage.
 * @internal
 */
export function isPostgresUnavailable(error: unknown, depth = 0): boolean {
  if (depth === 0 && hasNetworkCode(error)) return true;
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { code, message, cause } = error as { code?: unknown; message?: unknown; cause?: unknown };
  // A SQLSTATE is five digits or capitals; Node's codes (ECONNRESET, …) are left to the above.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    if (UNAVAILABLE_CLASSES.has(code.slice(0, 2)) || UNAVAILABLE_STATES.has(code)) return true;
  }
  if (typeof message === 'string' && UNAVAILABLE_MESSAGES.has(message)) return true;
  return isPostgresUnavailable(cause, depth + 1);
}
