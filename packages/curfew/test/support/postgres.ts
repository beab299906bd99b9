// The shared PostgreSQL the store suites use (DEVELOPERS.md), and helpers to give each test file
// a schema of its own so files can run in parallel against one database.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serviceAvailable } from './services.js';

/** 127.0.0.1:5432, trust auth, database `test`, user `postgres`. */
export const SHARED_POSTGRES: pg.PoolConfig = {
  host: '127.0.0.1',
  port: 5432,
  user: 'postgres',
  database: 'test',
  // Bounded everywhere, as the store's documentation asks of callers.
  connectionTimeoutMillis: 5_000,
  query_timeout: 15_000,
  statement_timeout: 10_000,
};

/** Whether the shared server answers; loud skip locally, failure in CI. */
export function sharedPostgresAvailable(): Promise<boolean> {
  return serviceAvailable('PostgreSQL', async () => {
    const client = new pg.Client({ ...SHARED_POSTGRES, connectionTimeoutMillis: 3_000 });
    await client.connect();
    try {
      await client.query('SELECT 1');
    } finally {
      await client.end();
    }
  });
}

/** A pool on the shared server whose idle-connection errors are recorded, never fatal. */
export function openPool(config: pg.PoolConfig = {}): pg.Pool & { errors: Error[] } {
  const pool = Object.assign(new pg.Pool({ ...SHARED_POSTGRES, ...config }), {
    errors: [] as Error[],
  });
  pool.on('error', (error) => pool.errors.push(error));
  return pool;
}

/** A schema name no other test file or run uses. */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Drops a test schema and everything in it. */
export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
