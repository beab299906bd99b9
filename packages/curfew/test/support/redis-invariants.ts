// What RedisStore promises beyond the conformance suite, run against a single Redis and a
// cluster alike: every key it writes has a TTL, its indexes never drift from its records, and a
// revoke that returned is never followed by a successful validation.
import { createHash, randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/core/events.js';
import { type IssuedSession, SessionManager } from '../../src/core/manager.js';
import type { StoredSession } from '../../src/core/store.js';
import { RedisStore } from '../../src/stores/redis/index.js';
import { ALL_SCRIPTS } from '../../src/stores/redis/scripts.js';
import { ManualClock } from '../../src/testing/index.js';
import { deleteKeys, inspectKeys, scanKeys, serversOf, uniquePrefix } from './redis.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Runs `task` over `items` with at most `limit` in flight; results in order. */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function pick<T>(items: readonly T[], count: number, seed: number): T[] {
  // A fixed stride instead of randomness, so a failure reproduces.
  return Array.from({ length: count }, (_, i) => items[(seed + i * 7919) % items.length]!);
}

export function runRedisInvariants(options: {
  name: string;
  client: () => Redis | Cluster;
  second: () => Redis | Cluster;
}): void {
  describe(`RedisStore invariants: ${options.name}`, () => {
    it('leaves no key without a TTL after creating 10,000 sessions', async () => {
      const client = options.client();
      const prefix = uniquePrefix('ttl-10k');
      const sessions = new SessionManager({ store: new RedisStore(client, { prefix }) });
      try {
        await inParallel(Array.from({ length: 10_000 }), 200, (_, i) =>
          sessions.create({ userId: `user-${i % 500}`, tenantId: i % 3 === 0 ? null : 'acme' }),
        );
        const report = await inspectKeys(client, prefix, { now: Date.now() });
        expect(report.active).toHaveLength(10_000);
        // Two keys per session (record, token pointer; on a cluster an id pointer too) and a few
        // per bucket and user.
        expect(report.keys).toBeGreaterThan(client.isCluster ? 30_000 : 20_000);
      } finally {
        await deleteKeys(client, prefix);
      }
    }, 120_000);

    it('gives every key a TTL, within the session expiry, after every kind of operation', async () => {
      const client = options.client();
      const prefix = uniquePrefix('ttl');
      const store = new RedisStore(client, { prefix });
      // The clock follows real time here, so TTLs can be compared with each session's expiry.
      const sessions = new SessionManager({ store, policy: { activityWriteInterval: 0 } });
      // Another process, 13 hours ahead: for it, everything has expired.
      const later = new SessionManager({
        store,
        policy: { activityWriteInterval: 0 },
        clock: () => Date.now() + 13 * HOUR,
      });
      const check = (after: string) =>
        inspectKeys(client, prefix, { now: Date.now() }).catch((error: unknown) => {
          throw new Error(`after ${after}: ${String(error)}`);
        });
      try {
        const issued: IssuedSession[] = await inParallel(
          Array.from({ length: 1_000 }),
          100,
          (_, i) =>
            sessions.create({ userId: `user-${i % 50}`, tenantId: i % 3 === 0 ? null : 'acme' }),
        );
        expect((await check('creates')).active).toHaveLength(1_000);

        await inParallel(pick(issued, 200, 1), 50, (s) => sessions.validate(s.token));
        await check('validations with activity writes');

        const rotated = await inParallel(issued.slice(0, 50), 50, (s) => sessions.rotate(s.token));
        expect(rotated.every((r) => r !== null)).toBe(true);
        await check('rotations');

        await inParallel(issued.slice(50, 100), 50, (s) => sessions.revoke(s.token));
        await check('revocations by token');

        await inParallel(issued.slice(100, 150), 50, (s) =>
          sessions.revokeSession(s.session.id, { userId: s.session.userId }),
        );
        await check('revocations by id');

        const users = Array.from({ length: 10 }, (_, i) => `user-${i}`);
        await inParallel(users, 10, (u) => sessions.revokeUserSessions(u, { tenantId: 'acme' }));
        await check('revocations of users');

        await inParallel(users, 10, (u) => sessions.listUserSessions(u));
        await inParallel(issued.slice(150, 200), 50, (s) => sessions.getSession(s.session.id));
        await check('reads');

        // Reauthentications that move the absolute expiry 11 hours later (made under a 1-hour
        // limit, renewed under the preset's 12), and sooner (AAL1's 30 days, stepped up to AAL2's
        // 12 hours, which also gives them an idle limit and so an `act` entry).
        const short = new SessionManager({
          store,
          policy: { absoluteTimeout: '1h', activityWriteInterval: 0 },
        });
        const brief = await inParallel(Array.from({ length: 50 }), 25, (_, i) =>
          short.create({ userId: `reauth-${i % 5}`, tenantId: i % 2 ? 'acme' : null }),
        );
        const aal1 = await inParallel(Array.from({ length: 50 }), 25, (_, i) =>
          sessions.create({ userId: `reauth-${i % 5}`, tenantId: 'acme', aal: 1 }),
        );
        await check('creates to reauthenticate');
        const later12h = await inParallel(brief, 25, (s) =>
          sessions.reauthenticate(s.token, { methods: ['pwd', 'otp'] }),
        );
        const sooner = await inParallel(aal1, 25, (s) =>
          sessions.reauthenticate(s.token, { aal: 2, methods: ['pwd', 'otp'] }),
        );
        for (const renewed of [...later12h, ...sooner]) {
          expect(renewed?.session).toMatchObject({ aal: 2, idleTimeout: 30 * MINUTE });
        }
        await check('reauthentications');

        // The cap: 10 creates for one user at a cap of 3 evict 7; a refusing manager adds none.
        const capped = new SessionManager({
          store,
          policy: { maxSessionsPerUser: 3, activityWriteInterval: 0 },
        });
        for (let i = 0; i < 10; i += 1) await capped.create({ userId: 'capped', tenantId: 'acme' });
        const refusing = new SessionManager({
          store,
          policy: { maxSessionsPerUser: 3, onSessionLimit: 'refuse' },
        });
        await expect(refusing.create({ userId: 'capped', tenantId: 'acme' })).rejects.toMatchObject(
          { code: 'SESSION_LIMIT_REACHED' },
        );
        const cappedReport = await check('evictions at the cap');
        expect(cappedReport.active.filter((r) => r.session.userId === 'capped')).toHaveLength(3);

        await inParallel(Array.from({ length: 30 }), 30, (_, i) =>
          sessions.create({ userId: `user-${i % 7}`, tenantId: 'globex' }),
        );
        expect(await sessions.revokeTenantSessions('globex', { batchSize: 7 })).toBe(30);
        await check('ending a tenant');

        await inParallel(issued.slice(200, 250), 50, (s) => later.validate(s.token));
        await check('validations that end expired sessions');

        const swept = await later.sweepExpired({ batchSize: 100 });
        expect(swept.absolute + swept.idle).toBeGreaterThan(500);
        expect((await check('a sweep')).active).toHaveLength(0);

        await inParallel(Array.from({ length: 20 }), 20, (_, i) =>
          sessions.create({ userId: `user-${i % 3}`, tenantId: i % 2 ? 'acme' : null }),
        );
        expect(await sessions.revokeAllSessions({ batchSize: 6 })).toBe(20);
        const everyone = await check('ending everyone');
        expect(everyone.active).toHaveLength(0);

        const purged = await sessions.purgeEnded({ endedBefore: Date.now() + 14 * HOUR });
        expect(purged).toBe(everyone.records.length);
        expect(purged).toBe(1_000 + 50 + 50 + 10 + 30 + 20);
        // Nothing is left behind once every session is purged: no orphan pointer or index.
        expect(await scanKeys(client, prefix)).toEqual([]);
      } finally {
        await deleteKeys(client, prefix);
      }
    }, 120_000);

    it('keeps every index equal to the active sessions under concurrent creates, ends and sweeps', async () => {
      const client = options.client();
      const prefix = uniquePrefix('drift');
      const clock = new ManualClock();
      const events: SessionEvent[] = [];
      const policy = { activityWriteInterval: 0 };
      const one = new SessionManager({
        store: new RedisStore(client, { prefix }),
        clock: clock.now,
        policy,
        onEvent: (e) => events.push(e),
      });
      const two = new SessionManager({
        store: new RedisStore(options.second(), { prefix }),
        clock: clock.now,
        policy,
        onEvent: (e) => events.push(e),
      });
      const users = Array.from({ length: 12 }, (_, i) => `drift-${i}`);
      try {
        const old = await inParallel(Array.from({ length: 300 }), 50, (_, i) =>
          one.create({ userId: users[i % users.length]!, tenantId: i % 2 ? 'acme' : null }),
        );
        clock.advance(20 * MINUTE);
        const recent = await inParallel(Array.from({ length: 300 }), 50, (_, i) =>
          two.create({ userId: users[i % users.length]!, tenantId: i % 2 ? 'acme' : null }),
        );
        clock.advance(15 * MINUTE); // `old` idle for 35 minutes, `recent` for 15
        const all = [...old, ...recent];
        const work: Array<Promise<unknown>> = [
          one.sweepExpired({ batchSize: 7 }),
          two.sweepExpired({ batchSize: 13 }),
          one.sweepExpired({ batchSize: 50 }),
          ...users
            .slice(0, 4)
            .map((u, i) =>
              (i % 2 ? one : two).revokeUserSessions(u, i === 0 ? {} : { tenantId: 'acme' }),
            ),
          ...pick(all, 150, 3).map((s, i) => (i % 2 ? one : two).revoke(s.token)),
          ...pick(all, 80, 4).map((s, i) => (i % 2 ? two : one).revokeSession(s.session.id)),
          ...pick(all, 200, 5).map((s, i) => (i % 2 ? one : two).validate(s.token)),
          ...pick(recent, 60, 6).map((s, i) => (i % 2 ? one : two).rotate(s.token)),
          ...Array.from({ length: 200 }, (_, i) =>
            (i % 2 ? one : two).create({ userId: users[i % users.length]! }),
          ),
          one.sweepExpired({ batchSize: 3 }),
        ];
        const settled = await Promise.allSettled(work);
        const failures = settled.filter((s) => s.status === 'rejected');
        expect(failures).toEqual([]);

        const report = await inspectKeys(client, prefix);
        // Every old session has ended (idle) and no session ended twice.
        const endedIds = events.filter((e) => e.type === 'ended').map((e) => e.sessionId);
        expect(new Set(endedIds).size).toBe(endedIds.length);
        const activeIds = new Set(report.active.map((r) => r.id));
        for (const s of old) expect(activeIds.has(s.session.id)).toBe(false);
        expect(report.active.length + report.ended.length).toBe(800);
        // What the store lists per user is exactly what its records say is active.
        for (const user of users) {
          const listed = (await one.listUserSessions(user)).sessions.map((s) => s.id).sort();
          const expected = report.active
            .filter((r) => r.session.userId === user)
            .map((r) => r.id)
            .sort();
          expect(listed).toEqual(expected);
        }
        // Then everything times out and is swept: no index keeps anything.
        clock.advance(13 * HOUR);
        await Promise.all([
          one.sweepExpired({ batchSize: 9 }),
          two.sweepExpired({ batchSize: 11 }),
        ]);
        const final = await inspectKeys(client, prefix);
        expect(final.active).toEqual([]);
        expect(final.ended).toHaveLength(800);
      } finally {
        await deleteKeys(client, prefix);
      }
    }, 60_000);

    it('keeps the cap for a user far over it, in calls that each end at most 100', async () => {
      const client = options.client();
      const prefix = uniquePrefix('cap-size');
      let calls = 0;
      const counting = new Proxy(client, {
        get(target, property) {
          const value = Reflect.get(target, property);
          if (property !== 'callBuffer') return value;
          return (...args: unknown[]) => {
            calls += 1;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const store = new RedisStore(counting, { prefix });
      const start = Date.now();
      let n = 0;
      const row = (over: Partial<StoredSession>): StoredSession => {
        n += 1;
        return {
          id: randomUUID(),
          tokenHash: createHash('sha256').update(`cap-size-${n}`).digest('hex'),
          userId: 'far-over',
          tenantId: null,
          appType: 'tenant_app',
          ipAddress: null,
          userAgent: null,
          createdAt: start,
          lastActivityAt: start,
          absoluteExpiresAt: start + 12 * HOUR,
          idleTimeout: null,
          aal: 1,
          methods: ['pwd'],
          authenticatedAt: start,
          endedAt: null,
          endReason: null,
          ...over,
        };
      };
      const count = async (run: () => Promise<unknown>) => {
        calls = 0;
        await run();
        return calls;
      };
      const now = start + 20 * MINUTE;
      try {
        // 1,100 sessions that idled out at 15 minutes sort before 10 older ones without an idle
        // limit, still valid: a cap that looked only at the most recent entries would miss them.
        const idled = Array.from({ length: 1_100 }, (_, i) =>
          row({
            lastActivityAt: start + i,
            authenticatedAt: start,
            idleTimeout: 15 * MINUTE,
            aal: 3,
          }),
        );
        const valid = Array.from({ length: 10 }, (_, i) =>
          row({
            createdAt: start - HOUR,
            authenticatedAt: start - HOUR,
            lastActivityAt: start - HOUR + i,
          }),
        );
        await inParallel([...idled, ...valid], 100, (r) => store.insert(r));
        const refused = await store.insert(
          row({ createdAt: now, authenticatedAt: now, lastActivityAt: now }),
          {
            now,
            max: 5,
            action: 'refuse',
          },
        );
        expect(refused.inserted).toBe(false);
        expect(refused.ended).toHaveLength(1_100);
        expect(new Set(refused.ended.map((e) => e.endReason))).toEqual(new Set(['idle_timeout']));
        const listed = async () =>
          (await store.listUserSessions({ userId: 'far-over' }, { now, limit: 100 })).map(
            (s) => s.id,
          );
        expect((await listed()).sort()).toEqual(valid.map((v) => v.id).sort());

        const added = row({ createdAt: now, authenticatedAt: now, lastActivityAt: now });
        const evicting = await store.insert(added, { now, max: 5, action: 'evict-oldest' });
        expect(evicting.inserted).toBe(true);
        // The least recently active go: the first six of `valid`.
        expect(evicting.ended.map((e) => e.id).sort()).toEqual(
          valid
            .slice(0, 6)
            .map((v) => v.id)
            .sort(),
        );
        expect(
          evicting.ended.every((e) => e.endReason === 'session_limit' && e.endedAt === now),
        ).toBe(true);
        expect((await listed()).sort()).toEqual(
          [added.id, ...valid.slice(6).map((v) => v.id)].sort(),
        );

        // 1,000 valid sessions over a cap of 3: 998 end, 100 per call at most, then the insert.
        const many = Array.from({ length: 1_000 }, (_, i) =>
          row({ lastActivityAt: start + i, authenticatedAt: start, userId: 'far-over-2' }),
        );
        await inParallel(many, 100, (r) => store.insert(r));
        let result: Awaited<ReturnType<RedisStore['insert']>> | undefined;
        const trips = await count(async () => {
          result = await store.insert(
            row({
              userId: 'far-over-2',
              createdAt: now,
              authenticatedAt: now,
              lastActivityAt: now,
            }),
            { now, max: 3, action: 'evict-oldest' },
          );
        });
        expect(result?.inserted).toBe(true);
        expect(result?.ended).toHaveLength(998);
        expect(new Set(result?.ended.map((e) => e.id)).size).toBe(998);
        // Kept: the two most recently active of the 1,000, and the new one.
        const kept = (
          await store.listUserSessions({ userId: 'far-over-2' }, { now, limit: 10 })
        ).map((s) => s.id);
        expect(kept).toHaveLength(3);
        expect(kept.slice(1)).toEqual([many[999]!.id, many[998]!.id]);
        // Ten calls of 100 endings (plus, on a cluster, the pointer claims).
        expect(trips).toBeGreaterThanOrEqual(10);
        expect(trips).toBeLessThanOrEqual(client.isCluster ? 13 : 11);
        await inspectKeys(client, prefix);
      } finally {
        await deleteKeys(client, prefix);
      }
    }, 60_000);

    it('never validates a session after its revoke returned: 1,000 rounds of 1 revoke vs 50 validations', async () => {
      const prefix = uniquePrefix('race');
      const policy = { activityWriteInterval: 0 };
      const revoker = new SessionManager({
        store: new RedisStore(options.client(), { prefix }),
        policy,
      });
      const other = new SessionManager({
        store: new RedisStore(options.second(), { prefix }),
        policy,
      });
      let startedAfter = 0;
      let validBefore = 0;
      try {
        for (let round = 0; round < 1_000; round += 1) {
          const { token } = await revoker.create({ userId: `race-${round % 10}` });
          // Both instances have seen the token before (on a cluster: its pointer is cached).
          expect((await other.validate(token)).valid).toBe(true);
          let revoked = false;
          const validations = Array.from({ length: 50 }, async (_, i) => {
            // Spread the starts from before the revoke is sent (turn 0 sends at once, ahead of
            // it) to after its answer has arrived.
            for (let turn = 0; turn < Math.floor(i / 5); turn += 1) {
              await new Promise((resolve) => setImmediate(resolve));
            }
            const after = revoked;
            const result = await (i % 2 ? revoker : other).validate(token);
            return { after, valid: result.valid };
          });
          const revoke = revoker.revoke(token).then((ended) => {
            revoked = true;
            return ended;
          });
          const [ended, ...outcomes] = await Promise.all([revoke, ...validations]);
          expect(ended).toBe(true);
          for (const outcome of outcomes) {
            if (outcome.after) {
              startedAfter += 1;
              expect(outcome.valid, `round ${round}`).toBe(false);
            } else if (outcome.valid) {
              validBefore += 1;
            }
          }
        }
        // The race was real: validations ran on both sides of the revoke.
        expect(startedAfter).toBeGreaterThan(1_000);
        expect(validBefore).toBeGreaterThan(1_000);
      } finally {
        await deleteKeys(options.client(), prefix);
      }
    }, 180_000);

    it('takes the documented number of round trips per operation', async () => {
      const client = options.client();
      const cluster = client.isCluster;
      const prefix = uniquePrefix('trips');
      let calls = 0;
      // Every store command is an EVALSHA (or EVAL, the first time a server sees a script).
      const counting = new Proxy(client, {
        get(target, property) {
          const value = Reflect.get(target, property);
          if (property !== 'callBuffer') return value;
          return (...args: unknown[]) => {
            calls += 1;
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
      const count = async (run: () => Promise<unknown>) => {
        calls = 0;
        await run();
        return calls;
      };
      const clock = new ManualClock();
      const policy = { activityWriteInterval: 0 };
      const sessions = new SessionManager({
        store: new RedisStore(counting, { prefix }),
        clock: clock.now,
        policy,
      });
      try {
        // Load every script on every server first, so no count includes a NOSCRIPT retry.
        for (const server of serversOf(client)) {
          for (const script of ALL_SCRIPTS) await server.script('LOAD', script.source);
        }

        let issued: IssuedSession | undefined;
        const create = await count(async () => {
          issued = await sessions.create({ userId: 'trips' });
        });
        const { token, session } = issued!;
        clock.advance(1);
        const measured = {
          create,
          validate: await count(() => sessions.validate(token)),
          validateCold: await count(() =>
            new SessionManager({
              store: new RedisStore(counting, { prefix }),
              clock: clock.now,
            }).validate(token),
          ),
          getSession: await count(() => sessions.getSession(session.id)),
          list: await count(() => sessions.listUserSessions('trips')),
          rotate: 0,
          revoke: 0,
          revokeUser: await count(() => sessions.revokeUserSessions('nobody')),
          sweep: await count(() => sessions.sweepExpired()),
          purge: await count(() => sessions.purgeEnded({ endedBefore: 0 })),
        };
        let rotated = '';
        measured.rotate = await count(async () => {
          rotated = (await sessions.rotate(token))!.token;
        });
        measured.revoke = await count(() => sessions.revoke(rotated));
        // Single Redis: one script each. Cluster: pointer lookups (cached after the first use in
        // a process), pointer claims, and one peek per bucket for sweeps and purges.
        expect(measured).toEqual(
          cluster
            ? {
                create: 3, // token and id pointers claimed in parallel, then the record
                validate: 1,
                validateCold: 2,
                getSession: 1,
                list: 1,
                rotate: 4, // check, claim the new pointer, switch, drop the old pointer
                revoke: 1,
                revokeUser: 1,
                sweep: 128, // a peek per bucket, in parallel; nothing due
                purge: 128,
              }
            : {
                create: 1,
                validate: 1,
                validateCold: 1,
                getSession: 1,
                list: 1,
                rotate: 1,
                revoke: 1,
                revokeUser: 1,
                sweep: 1,
                purge: 1,
              },
        );
      } finally {
        await deleteKeys(client, prefix);
      }
    });

    it('answers absolute and idle, not "not found", once Redis itself is past the expiry', async () => {
      // Real time, not a manual clock: what matters here is what Redis's TTLs do meanwhile.
      const client = options.client();
      const prefix = uniquePrefix('real-time');
      const sessions = new SessionManager({
        store: new RedisStore(client, { prefix, auditRetention: '2s' }),
        policy: { absoluteTimeout: '600ms', idleTimeout: '400ms', activityWriteInterval: 0 },
      });
      try {
        const absolute = await sessions.create({ userId: 'real-time' });
        const idle = await sessions.create({ userId: 'real-time' });
        const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
        await pause(250);
        expect((await sessions.validate(absolute.token)).valid).toBe(true);
        await pause(300);
        expect((await sessions.validate(absolute.token)).valid).toBe(true);
        // 550 ms: `idle` last active 550 ms ago, `absolute` 300 ms ago.
        expect(await sessions.validate(idle.token, { touch: false })).toMatchObject({
          valid: false,
          reason: 'idle',
        });
        await pause(650); // 1.2 s: 600 ms past the absolute expiry, for Redis's clock too
        expect(await sessions.validate(absolute.token)).toMatchObject({
          valid: false,
          reason: 'absolute',
        });
        expect(await sessions.validate(idle.token)).toMatchObject({ valid: false, reason: 'idle' });
        await inspectKeys(client, prefix, { now: Date.now(), retention: 2_000 });
        // Past the retention Redis has expired the records: then, and only then, not found.
        await pause(2_600);
        expect(await sessions.validate(absolute.token)).toEqual({
          valid: false,
          reason: 'not_found',
        });
      } finally {
        await deleteKeys(client, prefix);
      }
    }, 20_000);

    it('keeps a session whose id is not a UUID exactly, by id and by token', async () => {
      const client = options.client();
      const prefix = uniquePrefix('ids');
      const store = new RedisStore(client, { prefix });
      const sessions = new SessionManager({ store });
      try {
        const { token, session } = await sessions.create({ userId: 'ids' });
        const stored = (await store.findById(session.id))!;
        // A session written by another system, with its own kind of id.
        const legacy = { ...stored, id: 'legacy:42/ü', tokenHash: 'cd'.repeat(32) };
        await store.insert(legacy);
        expect(await store.findById('legacy:42/ü')).toEqual(legacy);
        const listed = (await sessions.listUserSessions('ids')).sessions.map((s) => s.id);
        expect(listed.sort()).toEqual([session.id, 'legacy:42/ü'].sort());
        expect(await sessions.revokeSession('legacy:42/ü')).toBe(true);
        expect((await sessions.validate(token)).valid).toBe(true);
        await inspectKeys(client, prefix);
      } finally {
        await deleteKeys(client, prefix);
      }
    });

    it('reports its eviction policy for a start-up warning', async () => {
      const store = new RedisStore(options.client());
      const report = await store.checkEvictionPolicy();
      expect(report.nodes.length).toBeGreaterThan(0);
      expect(['safe', 'at-risk', 'unknown']).toContain(report.status);
      if (report.status === 'safe') expect(report.message).toBeNull();
      else expect(report.message).toMatch(/maxmemory-policy|CONFIG/);
    });
  });
}
