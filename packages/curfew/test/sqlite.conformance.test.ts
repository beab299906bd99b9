import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/stores/sqlite/index.js';
import { runStoreConformance } from '../src/testing/index.js';

// A file in WAL mode, not ':memory:', so that the second connection shares the data as another
// process would.
runStoreConformance({
  name: 'SqliteStore',
  createStore: () => {
    const dir = mkdtempSync(join(tmpdir(), 'curfew-conformance-'));
    const file = join(dir, 'sessions.db');
    const connections = [new Database(file)];
    const open = () => {
      const db = new Database(file);
      connections.push(db);
      return new SqliteStore(db);
    };
    return {
      store: new SqliteStore(connections[0]!),
      openSecond: open,
      close: () => {
        for (const db of connections) db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
