import { hasNetworkCode } from '../../core/store-failure.js';

// better-sqlite3's `code` is SQLite's extended result code by name (SQLITE_BUSY_SNAPSHOT,
// SQLITE_IOERR_WRITE, …): these are matched with every extension. Each means the file could not
// be used now, and the same call can work later.
const UNAVAILABLE_CODES = [
  // A lock another connection held past the busy timeout.
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  // The disk or the file system failed, or the file could not be opened (a directory gone, no
  // file handles left).
  'SQLITE_IOERR',
  'SQLITE_CANTOPEN',
  // Out of room: the disk (or max_page_count), or memory.
  'SQLITE_FULL',
  'SQLITE_NOMEM',
  // Another connection kept winning the race for the WAL's locks.
  'SQLITE_PROTOCOL',
];

// What better-sqlite3 throws (a TypeError, no code) for a statement on a closed connection: the
// application is shutting down, or closed it under the store.
const CLOSED = 'The database connection is not open';

/**
 * Whether an error from SqliteStore means the database could not be used in time rather than a
 * bug or broken data. Not unavailable: SQLITE_CONSTRAINT_* (a duplicate, a failed CHECK),
 * SQLITE_ERROR (bad SQL, a missing table), SQLITE_CORRUPT and SQLITE_NOTADB (a broken file that
 * no retry mends), SQLITE_READONLY_* (a file or mount the process may not write), and the rest.
 * @internal
 */
export function isSqliteUnavailable(error: unknown): boolean {
  if (hasNetworkCode(error)) return true;
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    return UNAVAILABLE_CODES.some((base) => code === base || code.startsWith(`${base}_`));
  }
  return error instanceof TypeError && message === CLOSED;
}
