// The store-conformance suite on RedisStore against the shared Redis (127.0.0.1:6379), every case
// included. Each case gets a key prefix of its own, deleted afterwards, so files can share the
// server; the second handle is a second client, another connection as another process would have.
import { afterAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../src/core/manager.js';
import { hashSessionToken } from '../src/core/token.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { keyName } from '../src/stores/redis/key-layout.js';
import { runStoreConformance } from '../src/testing/index.js';
import { ManualClock } from '../src/testing/manual-clock.js';
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

  describe('records written before sessions carried a level', () => {
    it('read in the scripts as AAL1 with a 15-minute idle limit, and are rewritten by a write', async () => {
      const prefix = uniquePrefix('legacy');
      const clock = new ManualClock();
      const sessions = new SessionManager({
        store: new RedisStore(client, { prefix }),
        clock: clock.now,
      });
      try {
        const { token, session } = await sessions.create({
          userId: 'ada',
          aal: 3,
          methods: ['hwk'],
        });
        // Cut the record back to its old form: the fields up to the user id, then the user agent.
        const key = keyName({ prefix, buckets: 1 }, 'record', {
          b: '0',
          id: Buffer.concat([Buffer.from('u'), Buffer.from(session.id.replaceAll('-', ''), 'hex')]),
        });
        const record = (await client.getBuffer(key))!;
        const fields = record.subarray(32).toString('utf8').split('\u0000');
        const legacy = Buffer.concat([
          record.subarray(0, 32),
          Buffer.from([...fields.slice(0, 9), 'Mozilla/5.0'].join('\u0000')),
        ]);
        await client.set(key, legacy, 'KEEPTTL');
        clock.advance(15 * 60_000 - 1);
        // A validation (Lua) reads it with the old defaults: 15 minutes idle, not AAL3's.
        const valid = await sessions.validate(token, { touch: false });
        expect(valid).toMatchObject({
          valid: true,
          idleSecondsRemaining: 0,
          session: { aal: 1, methods: [], userAgent: 'Mozilla/5.0' },
        });
        expect(hashSessionToken(token)).toBe(record.subarray(0, 32).toString('hex'));
        await sessions.touch(token); // a write: the record is rewritten in the current form
        const rewritten = (await client.getBuffer(key))!;
        expect(rewritten.subarray(32).toString('utf8').split('\u0000')).toHaveLength(14);
        clock.advance(15 * 60_000);
        expect(await sessions.validate(token)).toMatchObject({ valid: false, reason: 'idle' });
      } finally {
        await deleteKeys(client, prefix);
      }
    });
  });
}
