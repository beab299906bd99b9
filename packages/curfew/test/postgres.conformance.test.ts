// The store-conformance suite on PostgresStore against the real server, every case included.
// One schema for the whole file, emptied between cases: migrating once keeps the suite fast.
import { afterAll, describe, it } from 'vitest';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { runStoreConformance } from '../src/testing/index.js';
import { dropSchema, openPool, sharedPostgresAvailable, uniqueSchema } from './support/postgres.js';

const available = await sharedPostgresAvailable();

if (!available) {
  describe.skip('store conformance: PostgresStore (PostgreSQL unreachable: see DEVELOPERS.md)', () => {
    it('needs PostgreSQL on 127.0.0.1:5432', () => {});
  });
} else {
  const schema = uniqueSchema('curfew_conformance');
  const pool = openPool();
  // The second handle is a separate pool: other connections, as another process would have.
  const secondPool = openPool();
  const ready = PostgresStore.open(pool, { schema });

  afterAll(async () => {
    await dropSchema(pool, schema);
    await Promise.all([pool.end(), secondPool.end()]);
  });

  runStoreConformance({
    name: 'PostgresStore',
    createStore: async () => {
      const store = await ready;
      await pool.query(`TRUNCATE "${schema}".curfew_sessions`);
      return {
        store,
        openSecond: () => PostgresStore.open(secondPool, { schema, migrate: false }),
      };
    },
  });
}
