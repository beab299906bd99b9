import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryStore, type SessionStore } from 'curfew';
import { migrateSqlite, type SqliteMigrationResult, SqliteStore } from 'curfew/sqlite';

/** The default store: a SQLite file under `./data`. */
export const DEFAULT_STORE_URL = 'sqlite:./data/curfew.db';

/**
 * Where sessions live, from a `CURFEW_STORE` URL: `sqlite:PATH` (a file, created with its folder;
 * `sqlite::memory:` for a private in-memory database) or `memory:`.
 */
export type StoreLocation = { kind: 'sqlite'; path: string } | { kind: 'memory' };

/** Counts for `curfew stats`. */
export interface StoreStats {
  /** Sessions valid now (active and within both timeouts). */
  activeNow: number;
  /** Sessions that ended since `since`, by end reason. */
  endedByReason: Record<string, number>;
}

/**
 * An open store and what the server needs around it.
 *
 * @example
 * ```ts
 * const opened = openStore(parseStoreUrl('sqlite:./data/curfew.db'));
 * const sessions = new SessionManager({ store: opened.store });
 * // …
 * opened.close();
 * ```
 */
export interface OpenedStore {
  store: SessionStore;
  /** A human description for the start-up banner. */
  description: string;
  /** Counts for `curfew stats`, as of `now`. */
  stats(rule: { now: number; idleTimeout: number | null; since: number }): StoreStats;
  /** Releases the store (closes the database file). Idempotent. */
  close(): void;
}

/**
 * Reads a store URL, or throws an `Error` whose message says what is accepted.
 *
 * @example
 * ```ts
 * parseStoreUrl('sqlite:./data/curfew.db'); // { kind: 'sqlite', path: './data/curfew.db' }
 * parseStoreUrl('memory:'); // { kind: 'memory' }
 * ```
 */
export function parseStoreUrl(url: string): StoreLocation {
  if (url === 'memory:') return { kind: 'memory' };
  if (url.startsWith('sqlite:')) {
    // Accept sqlite:PATH and sqlite://PATH (the form some tools write).
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=[^/])/, '');
    if (path.length === 0) throw new Error('expected sqlite:PATH with a file path, or memory:');
    return { kind: 'sqlite', path };
  }
  if (/^(postgres|postgresql|mysql|mariadb|redis):/.test(url)) {
    throw new Error(
      `${url.split(':')[0]} stores are not available in this version; expected sqlite:PATH or memory:`,
    );
  }
  throw new Error('expected sqlite:PATH (for example sqlite:./data/curfew.db) or memory:');
}

/**
 * The folder that keeps the service's own files (the first-start admin key's hash): the SQLite
 * file's folder, else `./data`.
 *
 * @example
 * ```ts
 * dataDirectory({ kind: 'sqlite', path: '/var/lib/curfew/sessions.db' }); // "/var/lib/curfew"
 * ```
 */
export function dataDirectory(location: StoreLocation): string {
  if (location.kind === 'sqlite' && location.path !== ':memory:') {
    return dirname(resolve(location.path));
  }
  return resolve('data');
}

/**
 * Opens the store at a location. For SQLite it creates the folder, opens the file (WAL mode) and
 * runs pending migrations unless `migrate: false`.
 *
 * @example
 * ```ts
 * const opened = openStore({ kind: 'memory' });
 * ```
 */
export function openStore(
  location: StoreLocation,
  options: { migrate?: boolean } = {},
): OpenedStore {
  if (location.kind === 'memory') {
    return {
      store: new MemoryStore(),
      description: 'memory: (sessions are lost when the process ends)',
      // A MemoryStore cannot be enumerated from outside, and a new process has none anyway.
      stats: () => ({ activeNow: 0, endedByReason: {} }),
      close() {},
    };
  }
  const db = openDatabase(location.path);
  try {
    const store = new SqliteStore(db, { migrate: options.migrate ?? true });
    return {
      store,
      description: `sqlite:${location.path}`,
      stats: (rule) => sqliteStats(db, rule),
      close() {
        if (db.open) db.close();
      },
    };
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Brings a store's schema up to date; for `memory:` there is nothing to do.
 *
 * @example
 * ```ts
 * const result = migrateStore({ kind: 'sqlite', path: './data/curfew.db' });
 * ```
 */
export function migrateStore(location: StoreLocation): SqliteMigrationResult | null {
  if (location.kind === 'memory') return null;
  const db = openDatabase(location.path);
  try {
    return migrateSqlite(db);
  } finally {
    db.close();
  }
}

function openDatabase(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  return new Database(path);
}

// Reads the table the SQLite store documents (`curfew_sessions`); the store contract has no
// counting method, and a read-only report does not justify one in every engine yet.
function sqliteStats(
  db: Database.Database,
  rule: { now: number; idleTimeout: number | null; since: number },
): StoreStats {
  const active = db
    .prepare(
      `SELECT count(*) AS n FROM curfew_sessions
       WHERE ended_at IS NULL AND absolute_expires_at > @now
         AND (@idle IS NULL OR last_activity_at + @idle > @now)`,
    )
    .get({ now: rule.now, idle: rule.idleTimeout }) as { n: number };
  const ended = db
    .prepare(
      `SELECT end_reason AS reason, count(*) AS n FROM curfew_sessions
       WHERE ended_at IS NOT NULL AND ended_at >= @since AND ended_at <= @now
       GROUP BY end_reason ORDER BY n DESC, end_reason`,
    )
    .all({ since: rule.since, now: rule.now }) as { reason: string; n: number }[];
  return {
    activeNow: active.n,
    endedByReason: Object.fromEntries(ended.map((row) => [row.reason, row.n])),
  };
}
