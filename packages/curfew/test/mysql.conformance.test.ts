// The store-conformance suite on MysqlStore against the real MariaDB, every case included.
// One database for the whole file, emptied between cases: migrating once keeps the suite fast.
import { afterAll, describe, it } from 'vitest';
import { MysqlStore, migrateMysql } from '../src/stores/mysql/index.js';
import { runStoreConformance } from '../src/testing/index.js';
import { sharedMariadbAvailable, TestDatabase } from './support/mysql.js';

const available = await sharedMariadbAvailable();

if (!available) {
  describe.skip('store conformance: MysqlStore (MariaDB unreachable: see DEVELOPERS.md)', () => {
    it('needs MariaDB on 127.0.0.1:3306', () => {});
  });
} else {
  const database = await TestDatabase.create('curfew_conformance');
  const pool = database.pool();
  // The second handle is a separate pool: other connections, as another process would have.
  const secondPool = database.pool();
  const ready = migrateMysql(pool);

  afterAll(() => database.drop());

  runStoreConformance({
    name: 'MysqlStore (MariaDB)',
    createStore: async () => {
      await ready;
      await pool.query('TRUNCATE TABLE curfew_sessions');
      return { store: new MysqlStore(pool), openSecond: () => new MysqlStore(secondPool) };
    },
  });
}
