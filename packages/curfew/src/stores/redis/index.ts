/**
 * curfew's Redis store, on an ioredis `Redis` or `Cluster` client that you create. curfew itself
 * never loads ioredis: add it to your own dependencies (v5).
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { SessionManager } from 'curfew';
 * import { RECOMMENDED_REDIS_OPTIONS, RedisStore } from 'curfew/redis';
 *
 * const client = new Redis(process.env.REDIS_URL!, { ...RECOMMENDED_REDIS_OPTIONS });
 * const store = new RedisStore(client);
 * const report = await store.checkEvictionPolicy();
 * if (report.message !== null) console.warn(report.message);
 * const sessions = new SessionManager({ store });
 * ```
 * @packageDocumentation
 */
export type { RedisClientLike, RedisNodeLike } from './client.js';
export {
  checkRedisEvictionPolicy,
  type RedisEvictionNodeReport,
  type RedisEvictionReport,
} from './eviction-policy.js';
export {
  checkRedisPersistence,
  type RedisPersistenceNodeReport,
  type RedisPersistenceReport,
} from './persistence.js';
export {
  RECOMMENDED_REDIS_OPTIONS,
  RedisStore,
  type RedisStoreOptions,
} from './redis-store.js';
