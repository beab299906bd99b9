import { hasNetworkCode } from '../../core/store-failure.js';

/** The code of the error a store call throws when it runs past the store's time bound. @internal */
export const STORE_TIMEOUT_CODE = 'CURFEW_STORE_TIMEOUT';

// The store's own time bound, and mysql2's codes for a connection that broke or a reply that
// never came.
const CLIENT_CODES = new Set([
  STORE_TIMEOUT_CODE,
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
]);

// mysql2 errors that carry no code: a pool the application has ended (it is shutting down), a
// pool whose queue is full, a command sent on a connection that has already died.
const CLIENT_MESSAGES = [
  /^Pool is closed\.?$/,
  /^Queue limit reached\.?$/,
  /^Can't add new command when connection is in closed state$/,
  /^Can't write in closed state$/,
];

// Server errors that say "not now" rather than "not this": the server is going away or is full,
// or the statement waited or ran too long. Retrying later can succeed; nothing is wrong with it.
// By number: mysql2 names none of MariaDB's own (1900 and up). Past 1900 the two servers' numbers
// part ways, so each kept here means the same on both or is unused on the other; MySQL's 4031
// (disconnected for inactivity) is left out, as it is MariaDB's "referenced trigger does not
// exist", and the lost connection that follows it is caught anyway.
const SERVER_ERRNOS = new Set([
  1021, // ER_DISK_FULL
  1037, // ER_OUTOFMEMORY
  1040, // ER_CON_COUNT_ERROR: too many connections
  1041, // ER_OUT_OF_RESOURCES
  1053, // ER_SERVER_SHUTDOWN: shutdown in progress
  1114, // ER_RECORD_FILE_FULL: the table is full
  1152, // ER_ABORTING_CONNECTION
  1158, // ER_NET_READ_ERROR
  1159, // ER_NET_READ_INTERRUPTED
  1160, // ER_NET_ERROR_ON_WRITE
  1161, // ER_NET_WRITE_INTERRUPTED
  1184, // ER_NEW_ABORTING_CONNECTION
  1203, // ER_TOO_MANY_USER_CONNECTIONS
  1205, // ER_LOCK_WAIT_TIMEOUT: another transaction held a row too long
  1206, // ER_LOCK_TABLE_FULL
  // ER_LOCK_DEADLOCK. The store runs a deadlocked transaction again (InnoDB has rolled it back
  // whole) and counts a deadlocked single-row write as a lost race, so one that still escapes is
  // contention that outlasted those retries, most likely with another application's
  // transactions on the table: nothing was applied, and a later retry is safe and can succeed.
  1213,
  1226, // ER_USER_LIMIT_REACHED: a per-account resource limit
  // ER_OPTION_PREVENTS_STATEMENT: for the store's statements, a server running read-only, as a
  // primary demoted in a failover does until clients reach the new one (Redis's READONLY too).
  1290,
  1317, // ER_QUERY_INTERRUPTED: KILL QUERY, or a shutdown
  1836, // ER_READ_ONLY_MODE: likewise
  1927, // ER_CONNECTION_KILLED (MariaDB)
  1969, // ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
  3024, // ER_QUERY_TIMEOUT (MySQL max_execution_time; unused by MariaDB)
  3032, // ER_SERVER_OFFLINE_MODE (MySQL)
]);

/**
 * Whether a MySQL/MariaDB error (mysql2's, or this store's own) means the server could not be
 * reached or did not answer in time: Node's network codes, mysql2's lost connections, closed pool
 * and full queue, the store's own time bound, server errors of class 08 (connection exception)
 * or in the list above. Everything else (a duplicate key, a failed CHECK, an SQL error, a missing
 * table, access denied) is an answer, and so a `STORE_ERROR`. Looks through the `cause` chain.
 * @internal
 */
export function isMysqlUnavailable(error: unknown): boolean {
  return hasNetworkCode(error) || saysUnavailable(error, 0);
}

function saysUnavailable(error: unknown, depth: number): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { code, errno, sqlState, message, cause } = error as {
    code?: unknown;
    errno?: unknown;
    sqlState?: unknown;
    message?: unknown;
    cause?: unknown;
  };
  if (typeof code === 'string' && CLIENT_CODES.has(code)) return true;
  if (typeof errno === 'number' && SERVER_ERRNOS.has(errno)) return true;
  if (typeof sqlState === 'string' && sqlState.startsWith('08')) return true;
  if (code === undefined && typeof message === 'string') {
    if (CLIENT_MESSAGES.some((pattern) => pattern.test(message))) return true;
  }
  return saysUnavailable(cause, depth + 1);
}
