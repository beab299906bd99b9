// The shared MariaDB the store suites use (DEVELOPERS.md), and a database of its own for each test
// file, so files run in parallel without seeing each other's rows and leave nothing behind.
import { randomBytes } from 'node:crypto';
import { createConnection, createPool, type Pool, type PoolOptions } from 'mysql2/promise';
import { serviceAvailable } from './services.js';

/** 127.0.0.1:3306, root with an empty password. */
export const SHARED_MARIADB: PoolOptions = {
  host: '127.0.0.1',
  port: 3306,
  user: 'root',
  password: '',
  // Bounded, as the store's documentation asks of callers.
  connectTimeout: 5_000,
};

/** Whether the shared server answers; loud skip locally, failure in CI. */
export function sharedMariadbAvailable(): Promise<boolean> {
  return serviceAvailable('MariaDB', async () => {
    const connection = await createConnection({ ...SHARED_MARIADB, connectTimeout: 3_000 });
    try {
      await connection.query('SELECT 1');
    } finally {
      await connection.end();
    }
  });
}

/**
 * A database no other test file or run uses, created on the shared server, with pools on it
 * that {@link TestDatabase.drop} ends.
 */
export class TestDatabase {
  readonly name: string;
  readonly #pools: Pool[] = [];

  private constructor(name: string) {
    this.name = name;
  }

  static async create(prefix: string): Promise<TestDatabase> {
    const database = new TestDatabase(`${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`);
    await database.#admin(`CREATE DATABASE \`${database.name}\``);
    return database;
  }

  /** A new pool on this database; ended by {@link drop}. */
  pool(options: PoolOptions = {}): Pool {
    const pool = createPool({ ...SHARED_MARIADB, database: this.name, ...options });
    this.#pools.push(pool);
    return pool;
  }

  /** Ends every pool and drops the database. */
  async drop(): Promise<void> {
    await Promise.all(this.#pools.splice(0).map((pool) => pool.end()));
    await this.#admin(`DROP DATABASE IF EXISTS \`${this.name}\``);
  }

  async #admin(sql: string): Promise<void> {
    const connection = await createConnection(SHARED_MARIADB);
    try {
      await connection.query(sql);
    } finally {
      await connection.end();
    }
  }
}
