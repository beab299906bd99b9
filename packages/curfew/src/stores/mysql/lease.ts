import { STORE_TIMEOUT_CODE } from './failures.js';
import type { MysqlPool, MysqlPoolConnection } from './pool.js';

/**
 * Connections checked out for one store operation, and the operation's time bound.
 *
 * mysql2 bounds neither the wait for a free pool connection nor a statement unless asked, and its
 * per-query `timeout` starts only once a connection is found. So each operation runs against its
 * own timer: when it fires, the caller gets an error at once, and any connection the operation
 * holds is destroyed, which makes the server roll back its transaction instead of committing
 * it later behind the caller's back.
 * @internal
 */
export class Lease {
  readonly #pool: MysqlPool;
  readonly #held = new Set<MysqlPoolConnection>();
  #expired = false;

  constructor(pool: MysqlPool) {
    this.#pool = pool;
  }

  /** A connection of its own, for a transaction or a session-scoped lock. */
  async connect(): Promise<MysqlPoolConnection> {
    const connection = await this.#pool.getConnection();
    if (this.#expired) {
      connection.destroy();
      throw timedOut('MySQL store operation already timed out');
    }
    this.#held.add(connection);
    return connection;
  }

  /** Hands a connection back: to the pool when it is known to be clean, else closes it. */
  finish(connection: MysqlPoolConnection, clean: boolean): void {
    if (!this.#held.delete(connection)) return; // already destroyed by expire()
    if (clean) connection.release();
    else connection.destroy();
  }

  /** The time bound passed: close whatever the operation still holds. */
  expire(): void {
    this.#expired = true;
    for (const connection of this.#held) connection.destroy();
    this.#held.clear();
  }
}

/**
 * Runs `work` with a {@link Lease}, rejecting after `timeoutMs` (0: no bound).
 * @internal
 */
export async function runBounded<T>(
  pool: MysqlPool,
  timeoutMs: number,
  work: (lease: Lease) => Promise<T>,
): Promise<T> {
  const lease = new Lease(pool);
  if (timeoutMs === 0) return work(lease);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      lease.expire();
      reject(timedOut(`MySQL store did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    // A late rejection of `work` after the deadline won is still handled: race subscribed to it.
    return await Promise.race([work(lease), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function timedOut(message: string): Error {
  return Object.assign(new Error(message), { code: STORE_TIMEOUT_CODE });
}

/** InnoDB's deadlock error: it has already rolled the transaction back, so running it again is safe. */
export function isDeadlock(error: unknown): boolean {
  return (error as { errno?: unknown } | null)?.errno === 1213;
}

const TRANSACTION_ATTEMPTS = 3;

/**
 * Runs `work` inside a transaction on a connection of its own: committed when `work` resolves,
 * rolled back when it throws, and run again (up to 3 times in all) when InnoDB picks it as a
 * deadlock victim. A connection whose rollback fails is closed, never pooled.
 * @internal
 */
export async function inTransaction<T>(
  lease: Lease,
  work: (connection: MysqlPoolConnection) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await transactionOnce(lease, work);
    } catch (error) {
      if (attempt >= TRANSACTION_ATTEMPTS || !isDeadlock(error)) throw error;
    }
  }
}

async function transactionOnce<T>(
  lease: Lease,
  work: (connection: MysqlPoolConnection) => Promise<T>,
): Promise<T> {
  const connection = await lease.connect();
  let clean = false;
  try {
    // For this one transaction (the connection's own level is left alone for the pool's other
    // users). Under REPEATABLE READ, InnoDB's locking reads also take next-key locks on index
    // records they pass over or stop at, and MariaDB then makes concurrent `SKIP LOCKED` scans
    // skip rows nobody is ending: concurrent sweeps came back empty with work left. READ COMMITTED
    // locks only the rows that match, which is all these transactions rely on.
    await connection.query({ sql: 'SET TRANSACTION ISOLATION LEVEL READ COMMITTED' });
    await connection.query({ sql: 'START TRANSACTION' });
    const result = await work(connection);
    await connection.query({ sql: 'COMMIT' });
    clean = true;
    return result;
  } catch (error) {
    try {
      await connection.query({ sql: 'ROLLBACK' });
      clean = true;
    } catch {
      // The connection is unusable (closed by the server or by the time bound): destroyed below.
    }
    throw error;
  } finally {
    lease.finish(connection, clean);
  }
}
