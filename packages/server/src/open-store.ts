import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { MemoryStore, type SessionStore } from 'curfew';
import type { KeyStore } from './key-store.js';
import { RedisKeyStore } from './key-stores/redis-key-store.js';
import {
  createKeyTable,
  mysqlQueries,
  postgresQueries,
  SqlKeyStore,
} from './key-stores/sql-key-store.js';
import { DEFAULT_STORE_CONNECTION, type StoreConnection } from './store-connection.js';
import { redactStoreUrl, type StoreLocation } from './store-url.js';

export { DEFAULT_STORE_CONNECTION, type StoreConnection } from './store-connection.js';
export {
  type ClusterNode,
  DEFAULT_STORE_URL,
  dataDirectory,
  parseStoreUrl,
  redactStoreUrl,
  type StoreLocation,
} from './store-url.js';

/**
 * An open store and what the server needs around it.
 *
 * @example
 * ```ts
 * const opened = await openStore(parseStoreUrl('sqlite:./data/curfew.db'));
 * const sessions = new SessionManager({ store: opened.store });
 * // …
 * await opened.close();
 * ```
 */
export interface OpenedStore {
  store: SessionStore;
  /** What to say about the store at start-up, e.g. a Redis eviction policy that loses sessions. */
  warnings: string[];
  /**
   * The store's own place for API keys, shared by every instance on it: a table on PostgreSQL
   * and MySQL, a hash on Redis. Absent for SQLite and `memory:`, whose keys stay in a file.
   */
  keys?: KeyStore | undefined;
  /** Releases the store: closes the database file, ends the pool, quits the client. Idempotent. */
  close(): Promise<void>;
}

/**
 * What {@link migrateStore} did: schema versions before and after, and those applied.
 *
 * @example
 * ```ts
 * const { from, to, applied }: MigrationOutcome = (await migrateStore(location))!;
 * ```
 */
export interface MigrationOutcome {
  from: number;
  to: number;
  applied: number[];
}

/**
 * Options for {@link openStore}.
 *
 * @example
 * ```ts
 * const options: OpenStoreOptions = { migrate: false, connection: { poolSize: 20, timeout: 1_000 } };
 * ```
 */
export interface OpenStoreOptions {
  /** Run pending migrations first (default `true`); SQL stores only. */
  migrate?: boolean | undefined;
  connection?: StoreConnection | undefined;
  /** Called when the driver reports trouble outside any call (a dropped idle connection). */
  onDriverError?: ((error: Error) => void) | undefined;
  /**
   * Milliseconds ended sessions are kept (default 30 days). Redis also lets a session's keys
   * expire this long after its end, so that nothing outlives the retention there either.
   */
  retention?: number | undefined;
}

/**
 * Opens the store at a location, runs pending migrations (SQL stores, unless `migrate: false`)
 * and, for the network stores, waits until the server answers, so that a wrong URL stops
 * start-up instead of turning every request into a 503.
 *
 * Drivers load only for the store that is used. Each is set up to fail fast rather than queue:
 * a call that cannot finish within `connection.timeout` fails, and the service answers it with
 * a 503; the pool or client reconnects by itself when the server is back.
 *
 * @example
 * ```ts
 * const opened = await openStore({ kind: 'postgres', url: 'postgres://curfew@db/app' });
 * ```
 */
export async function openStore(
  location: StoreLocation,
  options: OpenStoreOptions = {},
): Promise<OpenedStore> {
  try {
    return await openAt(location, options);
  } catch (error) {
    throw cannotOpen(location, error);
  }
}

async function openAt(location: StoreLocation, options: OpenStoreOptions): Promise<OpenedStore> {
  const connection = options.connection ?? DEFAULT_STORE_CONNECTION;
  const onDriverError = options.onDriverError ?? (() => {});
  const migrate = options.migrate ?? true;
  switch (location.kind) {
    case 'memory':
      return { store: new MemoryStore(), warnings: [], close: async () => {} };
    case 'sqlite': {
      // Loaded here, not at the top: `curfew --help` and the network stores never load a driver
      // they do not use.
      const [{ default: Sqlite }, { SqliteStore }] = await Promise.all([
        import('better-sqlite3'),
        import('curfew/sqlite'),
      ]);
      const db = await openDatabase(location.path);
      // A second connection that holds the WAL read lock while the store reads (see
      // SqliteStoreOptions.readLockHolder): two system calls fewer per validation.
      const holder = location.path === ':memory:' ? undefined : new Sqlite(location.path);
      const closeAll = () => {
        // The holder first, so that the store's connection is the last and checkpoints the WAL.
        if (holder?.open) holder.close();
        if (db.open) db.close();
      };
      try {
        return {
          store: new SqliteStore(db, { migrate, readLockHolder: holder }),
          warnings: [],
          close: async () => closeAll(),
        };
      } catch (error) {
        closeAll();
        throw error;
      }
    }
    case 'postgres': {
      if (migrate) await migratePostgresAt(location.url, connection);
      const { PostgresStore } = await import('curfew/postgres');
      const pool = await postgresPool(location.url, connection, onDriverError);
      return pooled(
        pool,
        () => PostgresStore.open(pool, { migrate: false }),
        new SqlKeyStore(postgresQueries(pool)),
      );
    }
    case 'mysql': {
      if (migrate) await migrateMysqlAt(location.url, connection);
      const { MysqlStore } = await import('curfew/mysql');
      const pool = await mysqlPool(location.url, connection, onDriverError);
      return pooled(
        pool,
        () => MysqlStore.open(pool, { migrate: false, timeout: connection.timeout }),
        new SqlKeyStore(mysqlQueries(pool)),
      );
    }
    case 'redis':
    case 'redis-cluster':
      return openRedis(location, connection, onDriverError, options.retention);
  }
}

/**
 * Brings a store's schema up to date; `null` for stores without one (`memory:`, Redis).
 * Migrations run without the per-call timeout: an index build on a large table may take long,
 * and a second process waits for the first one's lock.
 *
 * @example
 * ```ts
 * const result = await migrateStore({ kind: 'sqlite', path: './data/curfew.db' });
 * ```
 */
export async function migrateStore(
  location: StoreLocation,
  connection: StoreConnection = DEFAULT_STORE_CONNECTION,
): Promise<MigrationOutcome | null> {
  switch (location.kind) {
    case 'sqlite': {
      const { migrateSqlite } = await import('curfew/sqlite');
      const db = await openDatabase(location.path);
      try {
        return migrateSqlite(db);
      } finally {
        db.close();
      }
    }
    case 'postgres':
    case 'mysql':
      try {
        const migrate = location.kind === 'postgres' ? migratePostgresAt : migrateMysqlAt;
        return await migrate(location.url, connection);
      } catch (error) {
        throw cannotOpen(location, error);
      }
    default:
      return null;
  }
}

// One line that says which store (password hidden) and why, for the CLI's one-line failures.
function cannotOpen(location: StoreLocation, error: unknown): Error {
  const where =
    location.kind === 'redis-cluster'
      ? `the Redis Cluster at ${location.nodes.map((node) => `${node.host}:${node.port}`).join(',')}`
      : location.kind === 'sqlite'
        ? `sqlite:${location.path}`
        : location.kind === 'memory'
          ? 'memory:'
          : redactStoreUrl(location.url);
  const why = error instanceof Error ? error.message : String(error);
  return new Error(`cannot open the store ${where}: ${why}`, { cause: error });
}

// A store on a pool that is ended if the store cannot be opened, and when it is closed.
async function pooled(
  pool: { end(): Promise<void> },
  open: () => Promise<SessionStore>,
  keys: KeyStore,
): Promise<OpenedStore> {
  try {
    const store = await open();
    let closing: Promise<void> | undefined;
    return { store, warnings: [], keys, close: () => (closing ??= pool.end()) };
  } catch (error) {
    await pool.end().catch(() => {});
    throw error;
  }
}

async function postgresPool(
  url: string,
  connection: StoreConnection,
  onDriverError: (error: Error) => void,
  bounded = true,
) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString: url,
    max: connection.poolSize,
    // Waiting for a pooled connection, or for a new one, counts against the bound.
    connectionTimeoutMillis: connection.timeout,
    // The client gives up on a query after the bound even if the server never answers (a
    // half-open connection); the server cancels the statement itself a little earlier.
    ...(bounded
      ? {
          query_timeout: connection.timeout,
          statement_timeout: Math.max(1, connection.timeout - 250),
        }
      : {}),
    idleTimeoutMillis: 30_000,
    application_name: 'curfew',
  });
  // A pooled connection that the server drops while idle is reported here; without a listener
  // node-postgres would crash the process.
  pool.on('error', onDriverError);
  return pool;
}

async function migratePostgresAt(
  url: string,
  connection: StoreConnection,
): Promise<MigrationOutcome> {
  const { migratePostgres } = await import('curfew/postgres');
  const pool = await postgresPool(url, { ...connection, poolSize: 1 }, () => {}, false);
  try {
    const outcome = await migratePostgres(pool);
    await createKeyTable(postgresQueries(pool));
    return outcome;
  } finally {
    await pool.end();
  }
}

async function mysqlPool(
  url: string,
  connection: StoreConnection,
  onDriverError: (error: Error) => void,
) {
  const { createPool } = await import('mysql2/promise');
  const pool = createPool({
    uri: url,
    connectionLimit: connection.poolSize,
    connectTimeout: connection.timeout,
    // Calls wait for a free connection; MysqlStore bounds the wait by its own timeout.
    waitForConnections: true,
    enableKeepAlive: true,
  });
  (pool as unknown as NodeJS.EventEmitter).on?.('error', onDriverError);
  return pool;
}

async function migrateMysqlAt(url: string, connection: StoreConnection): Promise<MigrationOutcome> {
  const { migrateMysql } = await import('curfew/mysql');
  const pool = await mysqlPool(url, { ...connection, poolSize: 1 }, () => {});
  try {
    const outcome = await migrateMysql(pool);
    await createKeyTable(mysqlQueries(pool));
    return outcome;
  } finally {
    await pool.end();
  }
}

async function openRedis(
  location: Extract<StoreLocation, { kind: 'redis' | 'redis-cluster' }>,
  connection: StoreConnection,
  onDriverError: (error: Error) => void,
  retention: number | undefined,
): Promise<OpenedStore> {
  const [{ Redis, Cluster }, { RECOMMENDED_REDIS_OPTIONS, RedisStore }] = await Promise.all([
    import('ioredis'),
    import('curfew/redis'),
  ]);
  // Reconnect attempts at most a second apart, forever: the service must recover by itself.
  const retry = (attempt: number) => Math.min(attempt * 100, 1_000);
  const clientOptions = {
    ...RECOMMENDED_REDIS_OPTIONS,
    commandTimeout: connection.timeout,
    connectTimeout: connection.timeout,
    retryStrategy: retry,
    lazyConnect: true,
  };
  const client =
    location.kind === 'redis'
      ? new Redis(location.url, clientOptions)
      : new Cluster(location.nodes, {
          enableOfflineQueue: false,
          lazyConnect: true,
          clusterRetryStrategy: retry,
          redisOptions: {
            ...clientOptions,
            ...(location.username === undefined ? {} : { username: location.username }),
            ...(location.password === undefined ? {} : { password: location.password }),
            ...(location.tls ? { tls: {} } : {}),
          },
        });
  // ioredis reports every failed reconnect here; unheard, it prints them itself. The last one
  // says why a failed start failed better than connect()'s own "Connection is closed".
  let lastError: Error | undefined;
  client.on('error', (error: Error) => {
    lastError = error;
    onDriverError(error);
  });
  const close = async () => {
    client.disconnect();
  };
  try {
    await withTimeout(client.connect(), connection.timeout * 2, 'Redis did not answer');
    const store = new RedisStore(
      client,
      retention === undefined ? {} : { auditRetention: retention },
    );
    await store.ping();
    // What an operator must hear at start: keys that could be evicted, or sessions that a
    // restart of Redis would lose.
    const reports = await Promise.all([store.checkEvictionPolicy(), store.checkPersistence()]);
    return {
      store,
      warnings: reports.flatMap((report) => (report.message === null ? [] : [report.message])),
      keys: new RedisKeyStore(client),
      close,
    };
  } catch (error) {
    await close();
    throw lastError ?? error;
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function openDatabase(path: string): Promise<Database.Database> {
  const { default: Sqlite } = await import('better-sqlite3');
  if (path !== ':memory:') mkdirSync(dirname(resolve(path)), { recursive: true });
  return new Sqlite(path);
}
