// The store-conformance suite on RedisStore against the shared Redis (127.0.0.1:6379), every case
// included. Each case gets a key prefix of its own, deleted afterwards, so files can share the
// server; the second handle is a second client, another connection as another process would have.
import { afterAll, describe, it } from 'vitest';
import { RedisStore } from '../src/stores/redis/index.js';
import { runStoreConformance } from '../src/testing/index.js';
import {
  deleteKeys,
  inspectKeys,
  openRedis,
  sharedRedisAvailable,
  uniquePrefix,
} from './support/redis.js';
import { runRedisInvariants } from './support/redis-invariants.js';

const available = await sharedRedisAvailable();

if (!available) {
  describe.skip('store conformance: RedisStore (Redis unreachable: see DEVELOPERS.md)', () => {
    it('needs Redis on 127.0.0.1:6379', () => {});
  });
} else {
  const client = await openRedis();
  const second = await openRedis();

  afterAll(async () => {
    client.disconnect();
    second.disconnect();
  });

  runStoreConformance({
    name: 'RedisStore',
    createStore: () => {
      const prefix = uniquePrefix('conformance');
      return {
        store: new RedisStore(client, { prefix }),
        openSecond: () => new RedisStore(second, { prefix }),
        close: async () => {
          // Whatever a case did, the indexes must still match the records exactly.
          await inspectKeys(client, prefix);
          await deleteKeys(client, prefix);
        },
      };
    },
  });

  // A single Redis defaults to one bucket; with more (as a layout moved from a cluster has), id
  // pointers exist and the scripts follow them: the same suite again on that path.
  runStoreConformance({
    name: 'RedisStore with 8 buckets',
    createStore: () => {
      const prefix = uniquePrefix('buckets');
      return {
        store: new RedisStore(client, { prefix, buckets: 8 }),
        openSecond: () => new RedisStore(second, { prefix, buckets: 8 }),
        close: async () => {
          await inspectKeys(client, prefix);
          await deleteKeys(client, prefix);
        },
      };
    },
    skip: {
      'big-user-revoke': 'one user lives in one bucket: the one-bucket run above covers it',
      'big-user-sweep': 'one user lives in one bucket: the one-bucket run above covers it',
    },
  });

  runRedisInvariants({ name: 'a single Redis', client: () => client, second: () => second });
}
