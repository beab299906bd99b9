// The store-conformance suite on RedisStore against a real Redis Cluster of three masters, which
// this file starts from redis-server on loopback ports and stops afterwards. Every script must
// stay within one hash slot here, or Redis answers CROSSSLOT and the case fails.
import type { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../src/stores/redis/index.js';
import { runStoreConformance } from '../src/testing/index.js';
import { deleteKeys, inspectKeys, uniquePrefix } from './support/redis.js';
import { type RedisClusterHarness, startRedisCluster } from './support/redis-cluster.js';
import { runRedisInvariants } from './support/redis-invariants.js';
import { serviceAvailable } from './support/services.js';

let harness: RedisClusterHarness | undefined;
const available = await serviceAvailable(
  'Redis Cluster (three redis-server processes on loopback ports)',
  async () => {
    harness = await startRedisCluster(3);
  },
  45_000,
);

if (!available || harness === undefined) {
  describe.skip('store conformance: RedisStore on Redis Cluster (redis-server unavailable)', () => {
    it('needs redis-server and redis-cli on PATH', () => {});
  });
} else {
  const cluster: RedisClusterHarness = harness;
  const client: Cluster = await cluster.connect();
  const second: Cluster = await cluster.connect();

  afterAll(async () => {
    client.disconnect();
    second.disconnect();
    await cluster.stop();
  });

  describe('the test cluster', () => {
    it('has three masters and spreads the buckets over all of them', async () => {
      const masters = client.nodes('master');
      expect(masters).toHaveLength(3);
      const prefix = uniquePrefix('spread');
      const store = new RedisStore(client, { prefix });
      for (let i = 0; i < 60; i += 1) {
        await store.insert({
          id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          tokenHash: i.toString(16).padStart(64, '0'),
          userId: `user-${i}`,
          tenantId: null,
          appType: 'control_panel',
          ipAddress: null,
          userAgent: null,
          createdAt: 1_000,
          lastActivityAt: 1_000,
          absoluteExpiresAt: 1_000 + 3_600_000,
          idleTimeout: 1_800_000,
          aal: 2,
          methods: [],
          authenticatedAt: 1_000,
          endedAt: null,
          endReason: null,
        });
      }
      const perMaster = await Promise.all(masters.map((node) => node.dbsize()));
      expect(perMaster.every((n) => n > 0)).toBe(true);
      await deleteKeys(client, prefix);
    });
  });

  runStoreConformance({
    name: 'RedisStore on a 3-master Redis Cluster',
    createStore: () => {
      const prefix = uniquePrefix('cluster');
      return {
        store: new RedisStore(client, { prefix }),
        openSecond: () => new RedisStore(second, { prefix }),
        close: async () => {
          await inspectKeys(client, prefix);
          await deleteKeys(client, prefix);
        },
      };
    },
  });

  runRedisInvariants({
    name: 'a 3-master Redis Cluster',
    client: () => client,
    second: () => second,
  });
}
