// The store-conformance suite on RedisStore against the shared Redis (127.0.0.1:6379), every case
// included. Each case gets a key prefix of its own, deleted afterwards, so files can share the
// server; the second handle is a second client, another connection as another process would have.
import { afterAll, describe, expect, it } from 'vitest';
import { type IssuedSession, SessionManager } from '../src/core/manager.js';
import type { StoredSession } from '../src/core/store.js';
import { hashSessionToken } from '../src/core/token.js';
import { decodeRecord, encodeRecord } from '../src/stores/redis/codec.js';
import { RedisStore } from '../src/stores/redis/index.js';
import { encodeId, keyName } from '../src/stores/redis/key-layout.js';
import { LUA_LIBRARY } from '../src/stores/redis/scripts.js';
import { runStoreConformance } from '../src/testing/index.js';
import { ManualClock } from '../src/testing/manual-clock.js';
import {
  deleteKeys,
  inspectKeys,
  openRedis,
  scanKeys,
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

  /**
   * Turns a single Redis's sessions (one bucket) back into what the writers before per-session
   * levels left: records cut to the fields up to the user id (then the user agent), every active
   * session in `act` scored by its last activity, and no tenant scope sets.
   */
  async function toLegacyLayout(prefix: string, ids: string[]): Promise<void> {
    const layout = { prefix, buckets: 1 };
    for (const id of ids) {
      const stored = encodeId(id);
      const key = keyName(layout, 'record', { b: '0', id: stored });
      const record = (await client.getBuffer(key))!;
      const fields = record.subarray(32).toString('utf8').split('\u0000');
      const legacy = Buffer.concat([
        record.subarray(0, 32),
        Buffer.from([...fields.slice(0, 9), ...fields.slice(13)].join('\u0000')),
      ]);
      await client.set(key, legacy, 'KEEPTTL');
      const lastActivity = Number(fields[0]);
      if (fields[3] === '')
        await client.zadd(keyName(layout, 'activity', { b: '0' }), lastActivity, stored);
    }
    for (const key of await scanKeys(client, `${prefix}{0}:ts:`)) await client.unlink(key);
  }

  describe('records written before sessions carried a level', () => {
    it('are read by the Lua as by the TypeScript codec, and written back in the current form', async () => {
      const session: StoredSession = {
        id: '0343ffb9-07ec-46e2-bb45-856c82710e9a',
        tokenHash: 'ab'.repeat(32),
        userId: 'ada',
        tenantId: 'acme',
        appType: 'tenant_app',
        ipAddress: '203.0.113.7',
        userAgent: 'Mozilla/5.0 ü',
        createdAt: 1_000,
        lastActivityAt: 2_000,
        absoluteExpiresAt: 43_201_000,
        idleTimeout: 900_000,
        aal: 3,
        methods: ['hwk', 'pin'],
        authenticatedAt: 1_500,
        endedAt: null,
        endReason: null,
      };
      // parse then pack, in the scripts' own Lua (LUA_LIBRARY reads ARGV[1] to ARGV[3]).
      const roundTrip = async (record: Buffer) =>
        (await client.callBuffer('EVAL', [
          `${LUA_LIBRARY}\nlocal r = parse(ARGV[6])\nreturn {pack(r), r.legacy and 1 or 0}`,
          0,
          'p:',
          '0',
          'p',
          '',
          '',
          record,
        ])) as [Buffer, number];
      for (const variant of [
        session,
        { ...session, userAgent: null },
        { ...session, userAgent: '' },
        { ...session, idleTimeout: null, methods: [], tenantId: null },
      ]) {
        const record = encodeRecord(variant);
        expect(await roundTrip(record)).toEqual([record, 0]);
        // The old form: the fields up to the user id, then the user agent.
        const fields = record.subarray(32).toString('utf8').split('\u0000');
        const legacy = Buffer.concat([
          record.subarray(0, 32),
          Buffer.from([...fields.slice(0, 9), ...fields.slice(13)].join('\u0000')),
        ]);
        const [upgraded, flagged] = await roundTrip(legacy);
        expect(flagged).toBe(1);
        expect(upgraded).toEqual(encodeRecord(decodeRecord(variant.id, legacy)));
        expect(decodeRecord(variant.id, upgraded)).toMatchObject({
          aal: 1,
          methods: [],
          idleTimeout: 900_000,
          authenticatedAt: variant.createdAt,
        });
      }
    });

    it('are found when their tenant is ended, and counted as valid', async () => {
      const prefix = uniquePrefix('legacy-tenant');
      const clock = new ManualClock();
      const store = new RedisStore(client, { prefix });
      const sessions = new SessionManager({ store, clock: clock.now });
      try {
        const acme: IssuedSession[] = [];
        for (const userId of ['a', 'b', 'c', 'a', 'b', 'c']) {
          acme.push(await sessions.create({ userId, tenantId: 'acme' }));
        }
        // Without an idle limit now, it has one once read in the old form.
        acme.push(await sessions.create({ userId: 'a', tenantId: 'acme', aal: 1 }));
        const others = [
          await sessions.create({ userId: 'a', tenantId: 'globex' }),
          await sessions.create({ userId: 'd', tenantId: 'globex' }),
          await sessions.create({ userId: 'a' }),
          await sessions.create({ userId: 'e' }),
        ];
        const all = [...acme, ...others];
        await toLegacyLayout(
          prefix,
          all.map((s) => s.session.id),
        );
        clock.advance(5 * 60_000);
        expect((await store.countSessions({ now: clock.now(), endedSince: 0 })).active).toBe(11);
        expect(
          await sessions.revokeTenantSessions('acme', { reason: 'tenant_suspended', batchSize: 2 }),
        ).toBe(7);
        for (const { token } of acme) {
          expect(await sessions.validate(token, { touch: false })).toMatchObject({
            valid: false,
            endReason: 'tenant_suspended',
          });
        }
        for (const { token } of others) {
          expect((await sessions.validate(token, { touch: false })).valid).toBe(true);
        }
        // Ending the tenant settled every old-form session it met: the indexes are current.
        await inspectKeys(client, prefix);
        expect(await sessions.revokeTenantSessions(null)).toBe(2);
        expect(await sessions.revokeTenantSessions('globex')).toBe(2);
      } finally {
        await deleteKeys(client, prefix);
      }
    });

    it('are settled by a sweep, and by a validation that records activity', async () => {
      const prefix = uniquePrefix('legacy-sweep');
      const clock = new ManualClock();
      const store = new RedisStore(client, { prefix });
      const sessions = new SessionManager({
        store,
        clock: clock.now,
        policy: { activityWriteInterval: 0 },
      });
      try {
        const made: IssuedSession[] = [];
        for (let i = 0; i < 6; i += 1) {
          made.push(
            await sessions.create({ userId: `user-${i % 2}`, tenantId: i % 3 ? 'acme' : null }),
          );
        }
        await toLegacyLayout(
          prefix,
          made.map((s) => s.session.id),
        );
        clock.advance(5 * 60_000);
        // Nothing is due yet: the sweep only rescores and adopts them.
        expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 0 });
        await inspectKeys(client, prefix);
        clock.advance(10 * 60_000);
        expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 6 });

        const one = await sessions.create({ userId: 'touched', tenantId: 'acme' });
        await toLegacyLayout(prefix, [one.session.id]);
        clock.advance(60_000);
        expect((await sessions.validate(one.token)).valid).toBe(true);
        await inspectKeys(client, prefix);
        expect(await sessions.revokeTenantSessions('acme')).toBe(1);
      } finally {
        await deleteKeys(client, prefix);
      }
    });

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
