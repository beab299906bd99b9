import type { SqliteDatabase, SqliteStatement } from './database.js';

/**
 * A second connection to the store's file that holds a WAL read lock for the rest of the current
 * event-loop turn, so that the store's own reads in that turn take it without a system call.
 *
 * In WAL mode every read transaction takes a shared lock on one of the `-shm` file's read slots
 * and drops it when it ends: two `fcntl` calls per read, which on a virtual machine cost more than
 * the indexed lookup itself. SQLite counts shared locks per process and asks the operating system
 * only for the first, so while this connection holds the slot that the store's next read picks,
 * that read takes and drops it in memory. Each read still opens its own transaction and sees every
 * commit, this process's or another's: the held lock carries no data, only the system calls go.
 *
 * A held read transaction stops checkpoints from copying frames past its snapshot and the WAL
 * from restarting, so it is let go before every write of the store (whose automatic checkpoint
 * then runs as it would without it) and at the end of the turn: another process's checkpoint
 * waits on it for one turn at most, and an idle process holds nothing.
 * @internal
 */
export class ReadLockHolder {
  readonly #begin: SqliteStatement;
  readonly #read: SqliteStatement;
  readonly #end: SqliteStatement;
  readonly #rollback: SqliteStatement;
  #held = false;
  readonly #letGoAtTurnEnd = (): void => {
    try {
      this.release();
    } catch {
      // Ending a read-only transaction fails only on a closed connection, which let go already.
    }
  };

  constructor(connection: SqliteDatabase) {
    // An explicit transaction rather than an open statement: better-sqlite3 will not close a
    // connection that has a statement in progress, and the caller closes this one when it likes.
    this.#begin = connection.prepare('BEGIN');
    this.#read = connection.prepare('SELECT count(*) FROM sqlite_schema');
    this.#end = connection.prepare('COMMIT');
    this.#rollback = connection.prepare('ROLLBACK');
  }

  /** Before a read: takes the lock for the rest of this turn, unless it is held already. */
  hold(): void {
    if (this.#held) return;
    this.#begin.run();
    try {
      // BEGIN defers the read transaction to the first statement that reads the file.
      this.#read.get();
    } catch (error) {
      this.#rollback.run();
      throw error;
    }
    this.#held = true;
    setImmediate(this.#letGoAtTurnEnd);
  }

  /** Before a write, and at the end of the turn. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#end.run();
  }
}
