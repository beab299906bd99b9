// curfew/redis as published: through the package name, from the built dist/, with the ioredis
// client the caller brings (the library itself never imports it).
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { RedisClientLike } from '../src/stores/redis/index.js';
import { deleteKeys, openRedis, sharedRedisAvailable, uniquePrefix } from './support/redis.js';

const available = await sharedRedisAvailable();

describe('curfew/redis, as published', () => {
  it('exports the store, the eviction and persistence checks and the client options', async () => {
    const published = await import('curfew/redis');
    expect(Object.keys(published).sort()).toEqual([
      'RECOMMENDED_REDIS_OPTIONS',
      'RedisStore',
      'checkRedisEvictionPolicy',
      'checkRedisPersistence',
    ]);
    expect(Object.isFrozen(published.RECOMMENDED_REDIS_OPTIONS)).toBe(true);
  });

  it('takes an ioredis Redis or Cluster as they are: typed by shape, not by import', () => {
    expectTypeOf<Redis>().toExtend<RedisClientLike>();
    expectTypeOf<Cluster>().toExtend<RedisClientLike>();
  });

  it('refuses a client that is not one, and a prefix that would break the hash tags', async () => {
    const { RedisStore } = await import('curfew/redis');
    const { CurfewError } = await import('curfew');
    expect(() => new RedisStore({} as never)).toThrow(CurfewError);
    const client = { callBuffer: async () => null, ping: async () => 'PONG' };
    expect(() => new RedisStore(client, { prefix: 'app:{x}:' })).toThrow(/prefix/);
    expect(() => new RedisStore(client, { buckets: 0 })).toThrow(/buckets/);
    expect(() => new RedisStore(client, { auditRetention: 'forever' })).toThrow(/auditRetention/);
  });

  it.skipIf(!available)('serves sessions from dist', async () => {
    const { RedisStore } = await import('curfew/redis');
    const { SessionManager } = await import('curfew');
    const client = await openRedis();
    const prefix = uniquePrefix('dist');
    try {
      const sessions = new SessionManager({ store: new RedisStore(client, { prefix }) });
      const { token } = await sessions.create({ userId: 'dist' });
      expect(await sessions.validate(token)).toMatchObject({ valid: true });
      expect(await sessions.revoke(token)).toBe(true);
      expect((await sessions.validate(token)).valid).toBe(false);
    } finally {
      await deleteKeys(client, prefix);
      client.disconnect();
    }
  });
});
