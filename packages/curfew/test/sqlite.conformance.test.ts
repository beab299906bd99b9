import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/stores/sqlite/index.js';
import { runStoreConformance } from '../src/testing/index.js';

// A file in WAL mode, not ':memory:', so that the second connection shares the data as another
// process would. The suite runs twice: as the library's default, and as `curfew serve` opens it,
// with a second connection holding the WAL read lock (which must change no answer).
function sqliteStores(withReadLockHolder: boolean) {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'curfew-conformance-'));
    const file = join(dir, 'sessions.db');
    const connections: Database.Database[] = [];
    const connect = () => {
      const db = new Database(file);
      connections.push(db);
      return db;
    };
    const open = () =>
      new SqliteStore(connect(), { readLockHolder: withReadLockHolder ? connect() : undefined });
    return {
      store: open(),
      openSecond: open,
      close: () => {
        for (const db of connections) db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  };
}

runStoreConformance({ name: 'SqliteStore', createStore: sqliteStores(false) });
runStoreConformance({
  name: 'SqliteStore with a read-lock holder',
  createStore: sqliteStores(true),
});
