import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CurfewError } from '../core/errors.js';
import type { SessionEvent } from '../core/events.js';
import { SessionManager, type SessionManagerOptions } from '../core/manager.js';
import type { PolicyOptions } from '../core/policy.js';
import type { SessionStore } from '../core/store.js';
import { hashSessionToken } from '../core/token.js';
import { type AssuranceCase, registerAssuranceCases } from './assurance-cases.js';
import { ManualClock } from './manual-clock.js';

/** A store ready for the suite, and how to dispose of it. */
export interface StoreUnderTest {
  /** An empty store: no sessions from an earlier case may be visible. */
  store: SessionStore;
  /**
   * Another handle on the same data (a second connection or client), to check that atomicity
   * holds across connections as it must across processes. Omit for in-process stores.
   */
  openSecond?: () => SessionStore | Promise<SessionStore>;
  /** Closes connections and removes data; called after each case. */
  close?: () => void | Promise<void>;
}

/** The names of the suite's cases, for {@link StoreConformanceOptions.skip}. */
export type ConformanceCase =
  | 'create'
  | 'absolute-boundary'
  | 'idle-boundary'
  | 'both-expired'
  | 'coalesced-writes'
  | 'write-every-touch'
  | 'monotonic-activity'
  | 'touch-never-revives'
  | 'warnings'
  | 'revoke'
  | 'revoke-session-scope'
  | 'revoke-user-sessions'
  | 'revoke-user-sessions-batched'
  | 'list-user-sessions'
  | 'list-pages'
  | 'get-session'
  | 'rotate'
  | 'sweep'
  | 'purge'
  | 'count'
  | 'round-trip'
  | 'hash-only'
  | 'duplicate-hash'
  | 'bad-input'
  | 'race-expired-ends-once'
  | 'race-revoke-vs-validate'
  | 'race-concurrent-creates'
  | 'race-concurrent-sweeps'
  | 'race-revoke-all'
  | 'big-user-revoke'
  | 'big-user-sweep'
  | 'second-connection'
  | AssuranceCase;

/**
 * Options for {@link runStoreConformance}.
 *
 * @example
 * ```ts
 * const options: StoreConformanceOptions = {
 *   name: 'RedisStore',
 *   createStore: async () => ({ store: new RedisStore(client), close: () => client.flushdb() }),
 *   skip: { 'second-connection': 'covered by the cluster suite' },
 * };
 * ```
 */
export interface StoreConformanceOptions {
  /** Shown in the suite's title. */
  name: string;
  /** Makes a fresh, empty store for each case. */
  createStore: () => StoreUnderTest | Promise<StoreUnderTest>;
  /** Cases to skip, each with the reason, which is printed in the case's title. */
  skip?: Partial<Record<ConformanceCase, string>>;
  /** How many concurrent callers the race cases use (default 100). */
  concurrency?: number;
  /**
   * How many sessions the one user of the `big-user-*` cases holds (default 100,000): the size
   * at which "sign out everywhere", listing, counting and sweeping must still be right.
   */
  bigUserSessions?: number;
  /** How many sessions the tenant of the `big-tenant-revoke` case holds (default 100,000). */
  bigTenantSessions?: number;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const EMPTY_PAGE = { sessions: [], nextCursor: null };

/**
 * Registers the store-conformance suite (vitest `describe`/`it`) against a store factory: every
 * operation through a real {@link SessionManager} on a manual clock, the expiry boundaries to the
 * millisecond, coalesced and monotonic activity writes, scoping, sweeping in batches, bad input,
 * and races with many concurrent callers. Every event, log line and error produced is checked at
 * the end for any token or full token hash.
 *
 * @example
 * ```ts
 * // test/my-store.conformance.test.ts
 * import { runStoreConformance } from 'curfew/testing';
 *
 * runStoreConformance({
 *   name: 'MyStore',
 *   createStore: async () => {
 *     const store = await MyStore.connect(process.env.MY_URL);
 *     return { store, close: () => store.dropEverything() };
 *   },
 * });
 * ```
 */
export function runStoreConformance(options: StoreConformanceOptions): void {
  const concurrency = options.concurrency ?? 100;
  const bigUser = options.bigUserSessions ?? 100_000;
  const skip = options.skip ?? {};
  // Everything curfew said during the suite, and every secret it handed out: compared at the end.
  const said: string[] = [];
  const secrets = new Set<string>();

  describe(`store conformance: ${options.name}`, () => {
    let current: StoreUnderTest;
    let clock: ManualClock;
    let events: SessionEvent[];

    beforeEach(async () => {
      current = await options.createStore();
      clock = new ManualClock();
      events = [];
    });
    afterEach(async () => {
      await current.close?.();
    });

    function manager(
      policy: PolicyOptions = {},
      extra: Partial<SessionManagerOptions> = {},
    ): SessionManager {
      return new SessionManager({
        store: current.store,
        policy,
        clock: clock.now,
        logger: recordingLogger(said),
        onEvent(event) {
          events.push(event);
          said.push(JSON.stringify(event));
        },
        ...extra,
      });
    }

    async function create(
      sessions: SessionManager,
      userId = 'user-1',
      tenantId: string | null = null,
    ) {
      const issued = await sessions.create({ userId, tenantId });
      secrets.add(issued.token);
      secrets.add(hashSessionToken(issued.token));
      return issued;
    }

    async function expectCurfewError(run: () => Promise<unknown>, code: string, field?: string) {
      try {
        await run();
      } catch (error) {
        expect(error).toBeInstanceOf(CurfewError);
        const curfewError = error as CurfewError;
        said.push(`${curfewError.name}: ${curfewError.message} ${curfewError.field ?? ''}`);
        expect(curfewError.code).toBe(code);
        if (field !== undefined) expect(curfewError.field).toBe(field);
        return;
      }
      throw new Error(`expected a CurfewError ${code}, but nothing was thrown`);
    }

    function test(
      name: ConformanceCase,
      title: string,
      body: () => Promise<void>,
      timeout?: number,
    ): void {
      const reason = skip[name];
      if (reason !== undefined) it.skip(`${name}: ${title} (skipped: ${reason})`, body);
      else it(`${name}: ${title}`, body, timeout);
    }

    /**
     * A manager for the big cases: its events are tallied, not kept in `said` (the suite's
     * leak check compares every line with every secret, which a hundred thousand would swamp);
     * a sample of them is checked for leaks below instead.
     */
    function tallyingManager(policy: PolicyOptions = {}) {
      const ended = new Map<string, string>();
      let endedTwice = 0;
      const sample: string[] = [];
      const { debug: _perSession, ...logger } = recordingLogger(said);
      const sessions = new SessionManager({
        store: current.store,
        policy,
        clock: clock.now,
        logger,
        onEvent(event) {
          if (sample.length < 20) sample.push(JSON.stringify(event));
          if (event.type !== 'ended') return;
          if (ended.has(event.sessionId)) endedTwice += 1;
          ended.set(event.sessionId, event.reason);
        },
      });
      return { sessions, ended, sample, endedTwice: () => endedTwice };
    }

    /** Creates `count` sessions for one user, `concurrency` at a time; a millisecond per 1000. */
    async function createMany(
      sessions: SessionManager,
      count: number,
      userId: string,
      tenantId: string | null,
    ): Promise<Array<{ token: string; id: string }>> {
      const made: Array<{ token: string; id: string }> = new Array(count);
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(concurrency, count) }, async () => {
          while (next < count) {
            const i = next++;
            if (i > 0 && i % 1000 === 0) clock.advance(1);
            const { token, session } = await sessions.create({ userId, tenantId });
            made[i] = { token, id: session.id };
          }
        }),
      );
      return made;
    }

    test('create', 'creates a session whose view has no token or hash', async () => {
      const sessions = manager();
      const start = clock.now();
      const { token, session } = await sessions.create({
        userId: 'user-1',
        tenantId: 'acme',
        ipAddress: '2001:db8::1',
        userAgent: 'Mozilla/5.0',
        appType: 'tenant_app',
      });
      secrets.add(token);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(session.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Object.keys(session)).not.toContain('tokenHash');
      expect(JSON.stringify(session)).not.toContain(hashSessionToken(token));
      expect(session).toMatchObject({
        userId: 'user-1',
        tenantId: 'acme',
        ipAddress: '2001:db8::1',
        userAgent: 'Mozilla/5.0',
        appType: 'tenant_app',
        active: true,
        endedAt: null,
        endReason: null,
      });
      expect(session.createdAt.getTime()).toBe(start);
      expect(session.lastActivityAt.getTime()).toBe(start);
      expect(session.absoluteExpiresAt.getTime()).toBe(start + 12 * HOUR);
      const result = await sessions.validate(token);
      expect(result.valid).toBe(true);
      if (result.valid) expect(result.session.id).toBe(session.id);
      expect(events.map((e) => e.type)).toEqual(['created']);
      const defaults = await create(sessions, 'user-2');
      expect(defaults.session).toMatchObject({ tenantId: null, ipAddress: null, userAgent: null });
      expect(defaults.session.appType).toBe('control_panel');
    });

    test(
      'absolute-boundary',
      'is valid 1 ms before the absolute expiry and absolute at it',
      async () => {
        const sessions = manager({ preset: 'nist-800-63b-aal1' });
        const { token, session } = await create(sessions);
        const expiresAt = session.absoluteExpiresAt.getTime();
        clock.set(expiresAt - 1);
        const before = await sessions.validate(token);
        expect(before).toMatchObject({
          valid: true,
          secondsRemaining: 0,
          absoluteSecondsRemaining: 0,
        });
        clock.set(expiresAt);
        expect(await sessions.validate(token)).toEqual({
          valid: false,
          reason: 'absolute',
          sessionId: session.id,
          userId: 'user-1',
          tenantId: null,
        });
        const ended = await sessions.getSession(session.id);
        expect(ended).toMatchObject({ active: false, endReason: 'absolute_timeout' });
        expect(ended?.endedAt?.getTime()).toBe(expiresAt);
        expect(events.filter((e) => e.type === 'ended')).toHaveLength(1);
        // Later validations keep giving the reason, and nothing revives it.
        clock.advance(HOUR);
        expect(await sessions.validate(token)).toMatchObject({ valid: false, reason: 'absolute' });
        expect(await sessions.touch(token)).toBe(false);
      },
    );

    test('idle-boundary', 'is valid 1 ms before the idle expiry and idle at it', async () => {
      const sessions = manager({ idleTimeout: '30m', activityWriteInterval: 0 });
      const { token, session } = await create(sessions);
      clock.advance(10 * MINUTE);
      expect((await sessions.validate(token)).valid).toBe(true); // activity at +10 min
      const lastActivity = clock.now();
      clock.set(lastActivity + 30 * MINUTE - 1);
      expect(await sessions.validate(token, { touch: false })).toMatchObject({
        valid: true,
        idleSecondsRemaining: 0,
        secondsRemaining: 0,
      });
      clock.set(lastActivity + 30 * MINUTE);
      expect(await sessions.validate(token, { touch: false })).toMatchObject({
        valid: false,
        reason: 'idle',
        sessionId: session.id,
        userId: 'user-1',
      });
      const ended = await sessions.getSession(session.id);
      expect(ended).toMatchObject({ active: false, endReason: 'idle_timeout' });
      expect(ended?.endedAt?.getTime()).toBe(lastActivity + 30 * MINUTE);
    });

    test('both-expired', 'reports absolute when both timeouts have passed', async () => {
      const sessions = manager();
      const { token } = await create(sessions);
      clock.advance(13 * HOUR);
      expect(await sessions.validate(token)).toMatchObject({ valid: false, reason: 'absolute' });
    });

    test(
      'coalesced-writes',
      'writes activity only when the stored time is an interval old',
      async () => {
        const sessions = manager({ activityWriteInterval: '60s' });
        const { token, session } = await create(sessions);
        const created = session.createdAt.getTime();
        for (let i = 0; i < 50; i += 1) {
          clock.advance(1_000);
          const result = await sessions.validate(token);
          if (!result.valid) throw new Error('expected valid');
          // 59 s after the last write at most: nothing written yet.
          if (clock.now() - created < 60_000) {
            expect(result.session.lastActivityAt.getTime()).toBe(created);
          }
        }
        clock.set(created + 60_000);
        const written = await sessions.validate(token);
        if (!written.valid) throw new Error('expected valid');
        expect(written.session.lastActivityAt.getTime()).toBe(created + 60_000);
        // touch: false never writes, however old the stored time.
        clock.advance(5 * MINUTE);
        await sessions.validate(token, { touch: false });
        const view = await sessions.getSession(session.id);
        expect(view?.lastActivityAt.getTime()).toBe(created + 60_000);
        // touch() is coalesced the same way and still answers true.
        expect(await sessions.touch(token)).toBe(true);
        clock.advance(1_000);
        expect(await sessions.touch(token)).toBe(true);
        const after = await sessions.getSession(session.id);
        expect(after?.lastActivityAt.getTime()).toBe(created + 60_000 + 5 * MINUTE);
      },
    );

    test('write-every-touch', 'with an interval of 0, every touch writes', async () => {
      const sessions = manager({ activityWriteInterval: 0 });
      const { token, session } = await create(sessions);
      for (let i = 1; i <= 5; i += 1) {
        clock.advance(7);
        await sessions.validate(token);
        const view = await sessions.getSession(session.id);
        expect(view?.lastActivityAt.getTime()).toBe(session.createdAt.getTime() + 7 * i);
      }
    });

    test(
      'monotonic-activity',
      'a late touch from a process behind in time never moves activity back',
      async () => {
        const sessions = manager({ activityWriteInterval: 0 });
        const { token, session } = await create(sessions);
        clock.advance(5 * MINUTE);
        await sessions.touch(token);
        const laggingClock = new ManualClock(clock.now() - 2 * MINUTE);
        const lagging = manager({ activityWriteInterval: 0 }, { clock: laggingClock.now });
        expect(await lagging.touch(token)).toBe(true);
        const view = await sessions.getSession(session.id);
        expect(view?.lastActivityAt.getTime()).toBe(clock.now());
      },
    );

    test(
      'touch-never-revives',
      'touch on an expired, unswept session answers false and ends it',
      async () => {
        const sessions = manager({ idleTimeout: '10m', activityWriteInterval: 0 });
        const { token, session } = await create(sessions);
        clock.advance(10 * MINUTE);
        expect(await sessions.touch(token)).toBe(false);
        expect(await sessions.touch(token)).toBe(false);
        const view = await sessions.getSession(session.id);
        expect(view).toMatchObject({ active: false, endReason: 'idle_timeout' });
        expect(view?.lastActivityAt.getTime()).toBe(session.createdAt.getTime());
      },
    );

    test('warnings', 'warns absolute first, then idle, within each threshold', async () => {
      const sessions = manager({ activityWriteInterval: 0 }); // 30 min idle, 12 h absolute
      const { token, session } = await create(sessions);
      const expiresAt = session.absoluteExpiresAt.getTime();
      clock.advance(MINUTE);
      expect(await sessions.validate(token)).toMatchObject({ valid: true, warning: null });
      clock.advance(25 * MINUTE - 1); // idle remainder 5 min + 1 ms: not yet
      expect(await sessions.validate(token, { touch: false })).toMatchObject({ warning: null });
      clock.advance(1); // exactly 5 min left
      expect(await sessions.validate(token, { touch: false })).toMatchObject({
        valid: true,
        warning: 'idle',
        idleSecondsRemaining: 300,
        secondsRemaining: 300,
      });
      expect((await sessions.validate(token)).valid).toBe(true); // activity recorded
      // Stay active every 20 minutes up to 29 minutes before the absolute expiry.
      while (clock.now() + 20 * MINUTE < expiresAt - 29 * MINUTE) {
        clock.advance(20 * MINUTE);
        expect((await sessions.validate(token)).valid).toBe(true);
      }
      clock.set(expiresAt - 30 * MINUTE - 1);
      expect(await sessions.validate(token)).toMatchObject({ valid: true, warning: null });
      clock.set(expiresAt - 30 * MINUTE);
      expect(await sessions.validate(token)).toMatchObject({
        valid: true,
        warning: 'absolute',
        absoluteSecondsRemaining: 1800,
      });
      expect(sessions.shouldWarn(1800)).toBe(true);
      expect(sessions.shouldWarn(1801)).toBe(false);
      // Idle within 5 min and absolute within 30 min at once: absolute wins.
      clock.set(expiresAt - 4 * MINUTE);
      expect(await sessions.validate(token, { touch: false })).toMatchObject({
        valid: true,
        warning: 'absolute',
        idleSecondsRemaining: 240,
        absoluteSecondsRemaining: 240,
      });
      // A policy without an idle timeout reports no idle remainder.
      const noIdle = manager({ idleTimeout: null, custom: true });
      const other = await create(noIdle);
      expect(await noIdle.validate(other.token)).toMatchObject({
        valid: true,
        idleSecondsRemaining: null,
        absoluteSecondsRemaining: 12 * 3600,
        secondsRemaining: 12 * 3600,
      });
    });

    test(
      'revoke',
      'revokes a session once; a revoked or expired one is not revoked again',
      async () => {
        const sessions = manager();
        const { token, session } = await create(sessions);
        expect(await sessions.revoke(token)).toBe(true);
        expect(await sessions.validate(token)).toEqual({
          valid: false,
          reason: 'not_found',
          endReason: 'logout',
        });
        expect(await sessions.revoke(token)).toBe(false);
        expect(await sessions.rotate(token)).toBeNull();
        const view = await sessions.getSession(session.id);
        expect(view).toMatchObject({ active: false, endReason: 'logout' });
        expect(view?.endedAt?.getTime()).toBe(clock.now());
        const ended = events.filter((e) => e.type === 'ended');
        expect(ended).toEqual([
          expect.objectContaining({ sessionId: session.id, reason: 'logout' }),
        ]);
        // An expired, unswept session is ended with its timeout reason, and revoke answers false.
        const other = await create(sessions);
        clock.advance(31 * MINUTE);
        expect(await sessions.revoke(other.token, 'admin_revoke')).toBe(false);
        expect(await sessions.getSession(other.session.id)).toMatchObject({
          endReason: 'idle_timeout',
        });
        // Custom reasons are kept as given.
        const third = await create(sessions);
        expect(await sessions.revoke(third.token, 'suspicious_activity')).toBe(true);
        expect(await sessions.getSession(third.session.id)).toMatchObject({
          endReason: 'suspicious_activity',
        });
      },
    );

    test(
      'revoke-session-scope',
      'ends a session by id only within the given user and tenant',
      async () => {
        const sessions = manager();
        const { token, session } = await create(sessions, 'alice', 'acme');
        expect(await sessions.revokeSession(session.id, { userId: 'bob' })).toBe(false);
        expect(
          await sessions.revokeSession(session.id, { userId: 'alice', tenantId: 'globex' }),
        ).toBe(false);
        expect(await sessions.revokeSession(session.id, { tenantId: null })).toBe(false);
        expect((await sessions.validate(token)).valid).toBe(true);
        expect(await sessions.revokeSession('00000000-0000-4000-8000-000000000000')).toBe(false);
        expect(
          await sessions.revokeSession(session.id, { userId: 'alice', tenantId: 'acme' }),
        ).toBe(true);
        expect(await sessions.validate(token)).toMatchObject({ valid: false, reason: 'not_found' });
        expect(await sessions.getSession(session.id)).toMatchObject({ endReason: 'user_revoke' });
        expect(await sessions.revokeSession(session.id)).toBe(false);
      },
    );

    test(
      'revoke-user-sessions',
      'signs a user out everywhere, by tenant, keeping one',
      async () => {
        const sessions = manager();
        const a1 = await create(sessions, 'alice', 'acme');
        const a2 = await create(sessions, 'alice', 'acme');
        const a3 = await create(sessions, 'alice', 'globex');
        const a4 = await create(sessions, 'alice', null);
        const bob = await create(sessions, 'bob', 'acme');
        expect(
          await sessions.revokeUserSessions('alice', {
            tenantId: 'acme',
            exceptSessionId: a1.session.id,
          }),
        ).toBe(1);
        expect((await sessions.validate(a1.token)).valid).toBe(true);
        expect((await sessions.validate(a2.token)).valid).toBe(false);
        expect((await sessions.validate(a3.token)).valid).toBe(true);
        expect(await sessions.revokeUserSessions('alice', { tenantId: null })).toBe(1);
        expect((await sessions.validate(a4.token)).valid).toBe(false);
        expect((await sessions.validate(a3.token)).valid).toBe(true);
        expect(await sessions.revokeUserSessions('alice')).toBe(2);
        expect(await sessions.getSession(a3.session.id)).toMatchObject({
          endReason: 'password_change',
        });
        expect((await sessions.validate(bob.token)).valid).toBe(true);
        expect(await sessions.revokeUserSessions('alice')).toBe(0);
        expect(await sessions.revokeUserSessions('nobody')).toBe(0);
        // Expired ones are ended as expired and not counted.
        const c1 = await create(sessions, 'carol');
        clock.advance(20 * MINUTE);
        const c2 = await create(sessions, 'carol');
        clock.advance(15 * MINUTE); // c1 idle for 35 min, c2 for 15
        expect(await sessions.revokeUserSessions('carol', { reason: 'account_disabled' })).toBe(1);
        expect(await sessions.getSession(c1.session.id)).toMatchObject({
          endReason: 'idle_timeout',
        });
        expect(await sessions.getSession(c2.session.id)).toMatchObject({
          endReason: 'account_disabled',
        });
      },
    );

    test(
      'revoke-user-sessions-batched',
      'signs a user out everywhere in many small store calls, ending each session once',
      async () => {
        const sessions = manager();
        const made: Array<{ token: string; id: string }> = [];
        for (let i = 0; i < 23; i += 1) {
          if (i % 5 === 0) clock.advance(1);
          const { token, session } = await create(sessions, 'quinn', 'acme');
          made.push({ token, id: session.id });
        }
        const elsewhere = await create(sessions, 'quinn', 'globex');
        const bystander = await create(sessions, 'rory', 'acme');
        const keep = made[7]!;
        // One store call ends at most `limit` and says whether the scope has more.
        const step = await current.store.endUserSessions(
          { userId: 'quinn', tenantId: 'acme' },
          {
            now: clock.now(),
            reason: 'admin_revoke',
            limit: 2,
            exceptId: keep.id,
          },
        );
        expect(step.ended).toHaveLength(2);
        expect(step.done).toBe(false);
        const first = new Set(step.ended.map((e) => e.id));
        const count = await sessions.revokeUserSessions('quinn', {
          tenantId: 'acme',
          exceptSessionId: keep.id,
          batchSize: 4,
        });
        expect(count).toBe(20);
        const ended = events.filter((e) => e.type === 'ended');
        expect(ended).toHaveLength(20);
        expect(new Set(ended.map((e) => e.sessionId)).size).toBe(20);
        for (const m of made) {
          const result = await sessions.validate(m.token);
          if (m.id === keep.id) expect(result.valid).toBe(true);
          else {
            expect(result).toEqual({
              valid: false,
              reason: 'not_found',
              endReason: first.has(m.id) ? 'admin_revoke' : 'password_change',
            });
          }
        }
        expect((await sessions.validate(elsewhere.token)).valid).toBe(true);
        expect((await sessions.validate(bystander.token)).valid).toBe(true);
        // Every tenant, one session per call: the kept one and the other tenant's.
        expect(await sessions.revokeUserSessions('quinn', { batchSize: 1 })).toBe(2);
        expect(await sessions.revokeUserSessions('quinn', { batchSize: 1 })).toBe(0);
        expect((await sessions.validate(bystander.token)).valid).toBe(true);
        for (const batchSize of [0, 100_001, 2.5]) {
          await expectCurfewError(
            () => sessions.revokeUserSessions('rory', { batchSize }),
            'INVALID_ARGUMENT',
            'batchSize',
          );
        }
        expect((await sessions.validate(bystander.token)).valid).toBe(true);
      },
    );

    test(
      'list-user-sessions',
      'lists only valid sessions, most recently active first',
      async () => {
        const sessions = manager({ activityWriteInterval: 0 });
        const first = await create(sessions, 'alice', 'acme');
        clock.advance(MINUTE);
        const second = await create(sessions, 'alice', 'acme');
        clock.advance(MINUTE);
        const third = await create(sessions, 'alice', 'globex');
        const ended = await create(sessions, 'alice', 'acme');
        await sessions.revoke(ended.token);
        await create(sessions, 'bob', 'acme');
        clock.advance(MINUTE);
        await sessions.touch(first.token); // now the most recent
        const all = (await sessions.listUserSessions('alice')).sessions;
        expect(all.map((s) => s.id)).toEqual([
          first.session.id,
          third.session.id,
          second.session.id,
        ]);
        expect(all.every((s) => s.active && !('tokenHash' in s))).toBe(true);
        const acme = (await sessions.listUserSessions('alice', { tenantId: 'acme' })).sessions;
        expect(acme.map((s) => s.id)).toEqual([first.session.id, second.session.id]);
        expect(await sessions.listUserSessions('alice', { tenantId: null })).toEqual(EMPTY_PAGE);
        // Expired but not swept: not listed.
        clock.advance(29 * MINUTE); // second and third idle for 31 and 30 min
        const later = (await sessions.listUserSessions('alice')).sessions;
        expect(later.map((s) => s.id)).toEqual([first.session.id]);
        expect(await sessions.listUserSessions('nobody')).toEqual(EMPTY_PAGE);
      },
    );

    test(
      'list-pages',
      'pages in a stable order, without duplicates or gaps while sessions come and go',
      async () => {
        const sessions = manager({ activityWriteInterval: 0 });
        // Groups of four created in the same millisecond: ties are broken by id.
        const made: Array<{ token: string; id: string }> = [];
        for (let i = 0; i < 24; i += 1) {
          if (i % 4 === 0) clock.advance(1);
          const { token, session } = await create(sessions, 'pat', 'acme');
          made.push({ token, id: session.id });
        }
        const elsewhere = await create(sessions, 'pat', 'globex');
        await create(sessions, 'sam', 'acme');
        const order = async (ids: string[]) => {
          const views = await Promise.all(ids.map((id) => sessions.getSession(id)));
          return views
            .map((view) => view!)
            .sort(
              (a, b) =>
                b.lastActivityAt.getTime() - a.lastActivityAt.getTime() ||
                (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
            )
            .map((view) => view.id);
        };
        const expected = await order(made.map((m) => m.id));
        const pageThrough = async (limit: number, tenantId?: string | null) => {
          const ids: string[] = [];
          let cursor: string | null = null;
          let pages = 0;
          do {
            const page = await sessions.listUserSessions('pat', {
              limit,
              cursor,
              ...(tenantId === undefined ? {} : { tenantId }),
            });
            expect(page.sessions.length).toBeLessThanOrEqual(limit);
            if (page.nextCursor !== null) expect(page.sessions).toHaveLength(limit);
            ids.push(...page.sessions.map((s) => s.id));
            cursor = page.nextCursor;
            pages += 1;
          } while (cursor !== null);
          return { ids, pages };
        };
        // 24 in pages of 4: six full pages and no empty seventh.
        expect(await pageThrough(4, 'acme')).toEqual({ ids: expected, pages: 6 });
        expect((await pageThrough(5, 'acme')).ids).toEqual(expected);
        expect((await pageThrough(1000, 'acme')).ids).toEqual(expected);
        const everyTenant = await pageThrough(7);
        expect(everyTenant.ids).toEqual(await order([...expected, elsewhere.session.id]));
        expect((await pageThrough(3, null)).ids).toEqual([]);

        // Churn between pages: new sessions (most recent, so ahead of the cursor) and ended ones.
        const first = await sessions.listUserSessions('pat', { tenantId: 'acme', limit: 5 });
        const seen = first.sessions.map((s) => s.id);
        clock.advance(1);
        for (let i = 0; i < 3; i += 1) await create(sessions, 'pat', 'acme');
        const later = expected.slice(5);
        const endedLater = [later[2]!, later[9]!];
        for (const id of [...endedLater, seen[1]!]) {
          expect(await sessions.revokeSession(id)).toBe(true);
        }
        let cursor = first.nextCursor;
        while (cursor !== null) {
          const page = await sessions.listUserSessions('pat', {
            tenantId: 'acme',
            limit: 5,
            cursor,
          });
          seen.push(...page.sessions.map((s) => s.id));
          cursor = page.nextCursor;
        }
        expect(seen).toEqual(expected.filter((id) => !endedLater.includes(id)));

        // Sessions past either limit are left out of every page, wherever they sort.
        const strict = manager({
          absoluteTimeout: '1h',
          idleTimeout: '30m',
          activityWriteInterval: 0,
        });
        const aged = await create(strict, 'kim');
        clock.advance(25 * MINUTE);
        const idle = await create(strict, 'kim');
        clock.advance(25 * MINUTE);
        await strict.touch(aged.token); // the most recently active, and 50 min old
        const fresh = await create(strict, 'kim');
        clock.advance(11 * MINUTE); // aged: absolute; idle: idle for 36 min; fresh: 11 min
        for (const limit of [1, 2, 10]) {
          const page = await strict.listUserSessions('kim', { limit });
          expect(page.sessions.map((s) => s.id)).toEqual([fresh.session.id]);
          expect(page.nextCursor).toBeNull();
        }
        expect(idle.session.id).not.toBe(fresh.session.id);

        // Bad page sizes and cursors are refused, naming the field.
        for (const limit of [0, 1001, 1.5, -1, '10', Number.NaN]) {
          await expectCurfewError(
            () => sessions.listUserSessions('pat', { limit: limit as number }),
            'INVALID_ARGUMENT',
            'limit',
          );
        }
        const forged = Buffer.from('12.', 'utf8').toString('base64url');
        for (const cursor of ['', 'not a cursor!', 'AAAA', forged, 'x'.repeat(401), 42, {}]) {
          await expectCurfewError(
            () => sessions.listUserSessions('pat', { cursor: cursor as string }),
            'INVALID_ARGUMENT',
            'cursor',
          );
        }
      },
    );

    test(
      'get-session',
      'reads one session by id within a scope; an expired one reads as ended',
      async () => {
        const sessions = manager();
        const { session } = await create(sessions, 'alice', 'acme');
        expect(await sessions.getSession(session.id)).toMatchObject({
          id: session.id,
          active: true,
        });
        expect(await sessions.getSession(session.id, { tenantId: 'acme' })).not.toBeNull();
        expect(await sessions.getSession(session.id, { tenantId: 'globex' })).toBeNull();
        expect(await sessions.getSession(session.id, { tenantId: null })).toBeNull();
        expect(await sessions.getSession(session.id, { userId: 'bob' })).toBeNull();
        expect(await sessions.getSession('00000000-0000-4000-8000-000000000000')).toBeNull();
        clock.advance(30 * MINUTE);
        const expired = await sessions.getSession(session.id);
        expect(expired).toMatchObject({ active: false, endReason: 'idle_timeout' });
        expect(events.filter((e) => e.type === 'ended')).toHaveLength(1);
        await sessions.getSession(session.id);
        expect(events.filter((e) => e.type === 'ended')).toHaveLength(1);
      },
    );

    test('rotate', 'gives a valid session a new token; the old one stops at once', async () => {
      const sessions = manager();
      const { token, session } = await create(sessions);
      clock.advance(5 * MINUTE);
      const rotated = await sessions.rotate(token);
      if (rotated === null) throw new Error('expected a rotated session');
      secrets.add(rotated.token);
      secrets.add(hashSessionToken(rotated.token));
      expect(rotated.token).not.toBe(token);
      expect(rotated.session.id).toBe(session.id);
      expect(rotated.session.absoluteExpiresAt).toEqual(session.absoluteExpiresAt);
      expect(rotated.session.lastActivityAt.getTime()).toBe(clock.now());
      expect(await sessions.validate(token)).toEqual({ valid: false, reason: 'not_found' });
      expect((await sessions.validate(rotated.token)).valid).toBe(true);
      expect(await sessions.rotate(token)).toBeNull();
      expect(events.map((e) => e.type)).toEqual(['created', 'rotated']);
      clock.advance(31 * MINUTE);
      expect(await sessions.rotate(rotated.token)).toBeNull();
      expect(await sessions.validate(rotated.token)).toMatchObject({ reason: 'idle' });
    });

    test(
      'sweep',
      'ends every expired session in batches, absolute first, and keeps them',
      async () => {
        const sessions = manager();
        const absolute = [];
        for (let i = 0; i < 7; i += 1) absolute.push(await create(sessions, `abs-${i}`));
        clock.advance(11 * HOUR);
        const idle = [];
        for (let i = 0; i < 5; i += 1) idle.push(await create(sessions, `idle-${i}`));
        clock.advance(HOUR - 1);
        const live = await create(sessions, 'live');
        clock.advance(1); // 12 h after the first seven: absolute; 1 h after the next five: idle
        // One store call with room for only seven takes the absolute expiries first.
        const first = await current.store.sweep({
          now: clock.now(),
          limit: 7,
        });
        expect(first.map((s) => s.endReason)).toEqual(Array(7).fill('absolute_timeout'));
        expect(await sessions.sweepExpired({ batchSize: 2 })).toEqual({ absolute: 0, idle: 5 });
        expect(await sessions.sweepExpired({ batchSize: 2 })).toEqual({ absolute: 0, idle: 0 });
        expect((await sessions.validate(live.token)).valid).toBe(true);
        for (const { session } of absolute) {
          const view = await sessions.getSession(session.id);
          expect(view).toMatchObject({ active: false, endReason: 'absolute_timeout' });
          expect(view?.endedAt).toEqual(session.absoluteExpiresAt);
        }
        for (const { session } of idle) {
          const view = await sessions.getSession(session.id);
          expect(view).toMatchObject({ active: false, endReason: 'idle_timeout' });
          expect(view?.endedAt?.getTime()).toBe(session.lastActivityAt.getTime() + 30 * MINUTE);
        }
        // Each session carries its own idle rule, whatever the sweeping manager's policy says: a
        // session made without one is swept only at its absolute expiry; `live` idles out by its own.
        const noIdle = manager({ idleTimeout: null, custom: true });
        const lingering = await create(noIdle, 'lingering');
        clock.advance(2 * HOUR);
        expect(await noIdle.sweepExpired()).toEqual({ absolute: 0, idle: 1 });
        expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 0 });
        expect((await sessions.validate(lingering.token, { touch: false })).valid).toBe(true);
      },
    );

    test('purge', 'deletes only sessions that ended before the date', async () => {
      const sessions = manager();
      const old = await create(sessions);
      await sessions.revoke(old.token);
      clock.advance(HOUR);
      const cutoff = clock.now();
      const recent = await create(sessions);
      await sessions.revoke(recent.token);
      const active = await create(sessions);
      expect(await sessions.purgeEnded({ endedBefore: new Date(cutoff), batchSize: 1 })).toBe(1);
      expect(await sessions.getSession(old.session.id)).toBeNull();
      expect(await sessions.getSession(recent.session.id)).not.toBeNull();
      expect((await sessions.validate(active.token)).valid).toBe(true);
      expect(await sessions.purgeEnded({ endedBefore: cutoff + 10 * 24 * HOUR })).toBe(1);
      expect((await sessions.validate(active.token)).valid).toBe(true);
      // A timed-out session keeps saying why until it is purged; then it is simply not found.
      clock.advance(31 * MINUTE);
      expect(await sessions.validate(active.token)).toMatchObject({ valid: false, reason: 'idle' });
      expect(await sessions.validate(active.token)).toMatchObject({ valid: false, reason: 'idle' });
      expect(await sessions.purgeEnded({ endedBefore: clock.now() })).toBe(1);
      expect(await sessions.validate(active.token)).toEqual({ valid: false, reason: 'not_found' });
      expect(await sessions.getSession(active.session.id)).toBeNull();
    });

    test('count', 'counts valid sessions and those ended in the window, by reason', async () => {
      if (typeof current.store.countSessions !== 'function') {
        throw new Error('countSessions is missing; skip this case for a store without it');
      }
      const sessions = manager(); // the default: idle 30 min, absolute 12 h
      const start = clock.now();
      const loggedOut = await create(sessions, 'user-1');
      const kept = await create(sessions, 'user-2', 'tenant-a');
      const idle = await create(sessions, 'user-3');
      await sessions.revoke(loggedOut.token);
      clock.advance(20 * MINUTE);
      await sessions.touch(kept.token);
      clock.advance(11 * MINUTE);
      // `idle` expired at start + 30 min but nothing has ended it yet: not valid, not ended.
      expect(await sessions.countSessions({ endedWithin: '1h' })).toMatchObject({
        active: 1,
        endedByReason: { logout: 1 },
      });
      // Each session's own limits decide, whatever the counting manager's policy says.
      const noIdle = manager({ idleTimeout: null, custom: true });
      expect((await noIdle.countSessions({ endedWithin: '1h' })).active).toBe(1);
      await sessions.sweepExpired();
      const all = await sessions.countSessions({ endedWithin: '1h' });
      expect(all).toEqual({
        active: 1,
        endedByReason: { logout: 1, idle_timeout: 1 },
        endedSince: new Date(clock.now() - HOUR),
      });
      // The window is inclusive at both ends: the idle end is recorded at start + 30 min.
      const since = clock.now() - (start + 30 * MINUTE);
      expect((await sessions.countSessions({ endedWithin: since })).endedByReason).toEqual({
        idle_timeout: 1,
      });
      expect((await sessions.countSessions({ endedWithin: since - 1 })).endedByReason).toEqual({});
      await sessions.revokeUserSessions('user-2', { reason: 'password_change' });
      expect(await sessions.countSessions({ endedWithin: '1h' })).toMatchObject({
        active: 0,
        endedByReason: { logout: 1, idle_timeout: 1, password_change: 1 },
      });
      expect((await sessions.validate(idle.token)).valid).toBe(false);
      // The absolute expiry, to the millisecond: valid 1 ms before it, not at it.
      await create(noIdle, 'user-4');
      clock.advance(12 * HOUR - 1);
      expect((await noIdle.countSessions()).active).toBe(1);
      clock.advance(1);
      expect((await noIdle.countSessions()).active).toBe(0);
      // The idle timeout, to the millisecond, the same way.
      await create(sessions, 'user-5');
      clock.advance(30 * MINUTE - 1);
      expect((await sessions.countSessions()).active).toBe(1);
      clock.advance(1);
      expect((await sessions.countSessions()).active).toBe(0);
    });

    test(
      'round-trip',
      'keeps every field exactly: unicode, long values, millisecond times',
      async () => {
        const sessions = manager({ userAgentMaxLength: 8192, activityWriteInterval: 0 });
        clock.set(Date.parse('2026-03-04T05:06:07.089Z'));
        const userId = `ü${'x'.repeat(252)}😀`; // 255 UTF-16 code units
        const userAgent = `Mozilla/5.0 (X11; Linux) “quotes” 'single' \\ \t\n\u0001 😀 ${'é'.repeat(3000)}`;
        const { token, session } = await sessions.create({
          userId,
          tenantId: 'tenant-ü',
          ipAddress: '203.0.113.255',
          userAgent,
          appType: 'tenant_app',
        });
        secrets.add(token);
        clock.advance(123);
        await sessions.touch(token);
        const view = await sessions.getSession(session.id);
        expect(view).toMatchObject({
          userId,
          tenantId: 'tenant-ü',
          userAgent,
          ipAddress: '203.0.113.255',
        });
        expect(view?.createdAt.toISOString()).toBe('2026-03-04T05:06:07.089Z');
        expect(view?.lastActivityAt.toISOString()).toBe('2026-03-04T05:06:07.212Z');
        expect(view?.absoluteExpiresAt.toISOString()).toBe('2026-03-04T17:06:07.089Z');
      },
    );

    test('hash-only', 'stores the SHA-256 hash and never the token', async () => {
      const sessions = manager();
      const { token, session } = await create(sessions);
      const stored = await current.store.findById(session.id);
      expect(stored?.tokenHash).toBe(hashSessionToken(token));
      expect(JSON.stringify(stored)).not.toContain(token);
    });

    test('duplicate-hash', 'refuses a second session with the same hash or id', async () => {
      const sessions = manager();
      const { session } = await create(sessions);
      const stored = await current.store.findById(session.id);
      if (stored === null) throw new Error('expected the stored session');
      await expect(current.store.insert({ ...stored, id: crypto.randomUUID() })).rejects.toThrow();
      await expect(
        current.store.insert({ ...stored, tokenHash: hashSessionToken('another-token-value') }),
      ).rejects.toThrow();
      expect((await sessions.listUserSessions(stored.userId)).sessions).toHaveLength(1);
    });

    test(
      'bad-input',
      'malformed tokens never reach the store; bad arguments change nothing',
      async () => {
        let storeCalls = 0;
        const counting = new Proxy(current.store, {
          get(target, property, receiver) {
            const value = Reflect.get(target, property, receiver);
            if (typeof value !== 'function') return value;
            return (...args: unknown[]) => {
              storeCalls += 1;
              return value.apply(target, args);
            };
          },
        });
        const sessions = manager({}, { store: counting });
        const garbage: unknown[] = [
          '',
          'short',
          'x'.repeat(15),
          'x'.repeat(257),
          'a'.repeat(1_000_000),
          'has spaces in it here',
          'padding==========',
          'ünïcödé-ünïcödé-ünïcödé',
          null,
          undefined,
          42,
          {},
          ['a'.repeat(43)],
        ];
        for (const token of garbage) {
          expect(await sessions.validate(token as string)).toEqual({
            valid: false,
            reason: 'not_found',
          });
          expect(await sessions.touch(token as string)).toBe(false);
          expect(await sessions.revoke(token as string)).toBe(false);
          expect(await sessions.rotate(token as string)).toBeNull();
        }
        expect(storeCalls).toBe(0);
        // Well-formed but unknown: the store is asked, the answer is the same.
        expect(await sessions.validate('A'.repeat(43))).toEqual({
          valid: false,
          reason: 'not_found',
        });

        const bad: Array<[Record<string, unknown>, string]> = [
          [{ userId: '' }, 'userId'],
          [{ userId: 'x'.repeat(256) }, 'userId'],
          [{ userId: 42 }, 'userId'],
          [{ userId: 'lone \ud800 surrogate' }, 'userId'],
          [{ userId: 'u', tenantId: '\udc00' }, 'tenantId'],
          [{ userId: 'nul\u0000byte' }, 'userId'],
          [{ userId: 'u', tenantId: '\u0000' }, 'tenantId'],
          [{ userId: 'u', tenantId: '' }, 'tenantId'],
          [{ userId: 'u', tenantId: 7 }, 'tenantId'],
          [{ userId: 'u', ipAddress: '999.1.1.1' }, 'ipAddress'],
          [{ userId: 'u', ipAddress: 'localhost' }, 'ipAddress'],
          [{ userId: 'u', userAgent: 12 }, 'userAgent'],
          [{ userId: 'u', appType: 'has space' }, 'appType'],
          [{ userId: 'u', appType: '' }, 'appType'],
        ];
        for (const [input, field] of bad) {
          await expectCurfewError(() => sessions.create(input as never), 'INVALID_ARGUMENT', field);
        }
        await expectCurfewError(() => sessions.create(null as never), 'INVALID_ARGUMENT');
        const callsBefore = storeCalls;
        const { token, session } = await create(sessions, 'u');
        expect(storeCalls).toBe(callsBefore + 1);
        await expectCurfewError(
          () => sessions.revoke(token, 'Not Allowed!'),
          'INVALID_ARGUMENT',
          'reason',
        );
        await expectCurfewError(
          () => sessions.revokeUserSessions('u', { reason: 'x'.repeat(65) }),
          'INVALID_ARGUMENT',
          'reason',
        );
        await expectCurfewError(
          () => sessions.revokeUserSessions(''),
          'INVALID_ARGUMENT',
          'userId',
        );
        await expectCurfewError(
          () => sessions.listUserSessions(5 as never),
          'INVALID_ARGUMENT',
          'userId',
        );
        await expectCurfewError(
          () => sessions.sweepExpired({ batchSize: 0 }),
          'INVALID_ARGUMENT',
          'batchSize',
        );
        await expectCurfewError(
          () => sessions.purgeEnded({ endedBefore: 'yesterday' as never }),
          'INVALID_ARGUMENT',
          'endedBefore',
        );
        await expectCurfewError(
          () => sessions.validate(token, { touch: 'yes' as never }),
          'INVALID_ARGUMENT',
          'touch',
        );
        // Nothing above changed the one good session or added another.
        expect((await sessions.listUserSessions('u')).sessions.map((s) => s.id)).toEqual([
          session.id,
        ]);
        // The user agent is cut to the policy's length, never through a surrogate pair.
        const cut = manager({ userAgentMaxLength: 5 });
        const emoji = await cut.create({ userId: 'u', userAgent: 'abcd😀tail' });
        secrets.add(emoji.token);
        expect(emoji.session.userAgent).toBe('abcd');
        const exact = await cut.create({ userId: 'u', userAgent: 'abc😀tail' });
        secrets.add(exact.token);
        expect(exact.session.userAgent).toBe('abc😀');
        // A lone surrogate cannot be stored as UTF-8: it is mended, and reads back as stored.
        const lone = await cut.create({ userId: 'u', userAgent: 'a\ud800b\u0000' });
        secrets.add(lone.token);
        expect(lone.session.userAgent).toBe('a\ufffdb\ufffd');
        expect((await cut.getSession(lone.session.id))?.userAgent).toBe('a\ufffdb\ufffd');
      },
    );

    test(
      'race-expired-ends-once',
      'many concurrent validations of an expired session end it once',
      async () => {
        const sessions = manager();
        const { token, session } = await create(sessions);
        clock.advance(31 * MINUTE);
        const results = await Promise.all(
          Array.from({ length: concurrency }, () => sessions.validate(token)),
        );
        for (const result of results)
          expect(result).toMatchObject({ valid: false, reason: 'idle' });
        const ended = events.filter((e) => e.type === 'ended' && e.sessionId === session.id);
        expect(ended).toHaveLength(1);
      },
    );

    test(
      'race-revoke-vs-validate',
      'no validation that starts after a revoke returned succeeds',
      async () => {
        const sessions = manager({ activityWriteInterval: 0 });
        for (let round = 0; round < 5; round += 1) {
          const { token } = await create(sessions);
          clock.advance(1);
          let revoked = false;
          const validations = Array.from({ length: concurrency }, async (_, i) => {
            // Spread the starts across the revoke.
            if (i % 2 === 0) await Promise.resolve();
            const startedAfterRevoke = revoked;
            const result = await sessions.validate(token);
            return { startedAfterRevoke, valid: result.valid };
          });
          const revoke = sessions.revoke(token).then((ended) => {
            revoked = true;
            return ended;
          });
          const [ended, ...outcomes] = await Promise.all([revoke, ...validations]);
          expect(ended).toBe(true);
          for (const outcome of outcomes) {
            if (outcome.startedAfterRevoke) expect(outcome.valid).toBe(false);
          }
          expect((await sessions.validate(token)).valid).toBe(false);
        }
      },
    );

    test('race-concurrent-creates', 'concurrent creates get distinct ids and tokens', async () => {
      const sessions = manager();
      const issued = await Promise.all(
        Array.from({ length: concurrency }, (_, i) => create(sessions, `user-${i % 7}`)),
      );
      expect(new Set(issued.map((s) => s.session.id)).size).toBe(concurrency);
      expect(new Set(issued.map((s) => s.token)).size).toBe(concurrency);
      const listed = await Promise.all(
        Array.from({ length: 7 }, (_, i) => sessions.listUserSessions(`user-${i}`)),
      );
      expect(listed.flatMap((page) => page.sessions)).toHaveLength(concurrency);
    });

    test(
      'race-concurrent-sweeps',
      'concurrent sweeps and revokes end each session once',
      async () => {
        const sessions = manager();
        const issued = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => create(sessions, `user-${i % 5}`)),
        );
        clock.advance(31 * MINUTE);
        const sweeps = await Promise.all([
          sessions.sweepExpired({ batchSize: 7 }),
          sessions.sweepExpired({ batchSize: 11 }),
          sessions.sweepExpired({ batchSize: 13 }),
          sessions.revokeUserSessions('user-0'),
          sessions.revokeUserSessions('user-1'),
        ]);
        const swept = sweeps.slice(0, 3) as Array<{ absolute: number; idle: number }>;
        const revoked = sweeps.slice(3) as number[];
        const total = swept.reduce((sum, r) => sum + r.absolute + r.idle, 0);
        // The revokes meet only expired sessions: they end some (as idle) but count none.
        expect(revoked).toEqual([0, 0]);
        const ended = events.filter((e) => e.type === 'ended');
        expect(ended).toHaveLength(concurrency);
        expect(new Set(ended.map((e) => e.sessionId)).size).toBe(concurrency);
        expect(ended.every((e) => e.type === 'ended' && e.reason === 'idle_timeout')).toBe(true);
        const endedByRevokes = ended.filter((e) => ['user-0', 'user-1'].includes(e.userId)).length;
        expect(total).toBeGreaterThanOrEqual(concurrency - endedByRevokes);
        expect(total).toBeLessThanOrEqual(concurrency);
        for (const { session } of issued.slice(0, 3)) {
          expect(await sessions.getSession(session.id)).toMatchObject({
            endReason: 'idle_timeout',
          });
        }
      },
    );

    test(
      'race-revoke-all',
      'a batched sign-out everywhere racing creates, validations and another leaves nothing valid',
      async () => {
        const sessions = manager({ activityWriteInterval: 0 });
        const second =
          current.openSecond === undefined
            ? sessions
            : manager({ activityWriteInterval: 0 }, { store: await current.openSecond() });
        const existing: Array<{ token: string; id: string }> = [];
        for (let i = 0; i < 6; i += 1) {
          clock.advance(1);
          const batch = await Promise.all(
            Array.from({ length: 100 }, () => create(sessions, 'racer', 'acme')),
          );
          existing.push(...batch.map((b) => ({ token: b.token, id: b.session.id })));
        }
        const bystander = await create(sessions, 'bystander', 'acme');
        const existingIds = new Set(existing.map((e) => e.id));
        let returned = false;
        let stop = false;
        const during: string[] = [];
        const afterwards: boolean[] = [];
        const validating = (async () => {
          for (let i = 0; !stop; i += 1) {
            // An in-memory store answers within the same turn: let the revokes have theirs.
            if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
            const target = existing[(i * 37) % existing.length]!;
            const startedAfter = returned;
            if (i % 10 === 0) clock.advance(1); // activity moves, and with it the listing order
            const result = await (i % 2 ? sessions : second).validate(target.token);
            if (startedAfter) afterwards.push(result.valid);
          }
        })();
        const creating = (async () => {
          for (let i = 0; i < 60; i += 1) {
            during.push((await create(i % 2 ? sessions : second, 'racer', 'acme')).session.id);
          }
        })();
        const [a, b] = await Promise.all([
          sessions.revokeUserSessions('racer', { batchSize: 25 }).finally(() => {
            returned = true;
          }),
          second.revokeUserSessions('racer', { batchSize: 40 }),
        ]);
        // Go on until validations that started after the revoke returned have come back too.
        for (let waited = 0; afterwards.length < 20 && waited < 10_000; waited += 10) {
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        stop = true;
        await Promise.all([validating, creating]);
        expect(afterwards.length).toBeGreaterThan(0);
        expect(afterwards.every((valid) => !valid)).toBe(true);
        for (const { token } of existing) {
          expect(await sessions.validate(token)).toEqual({
            valid: false,
            reason: 'not_found',
            endReason: 'password_change',
          });
        }
        const ended = events.filter((e) => e.type === 'ended');
        expect(new Set(ended.map((e) => e.sessionId)).size).toBe(ended.length);
        expect(
          ended.every((e) => existingIds.has(e.sessionId) || during.includes(e.sessionId)),
        ).toBe(true);
        expect(a + b).toBe(ended.length);
        expect(ended.length).toBeGreaterThanOrEqual(existing.length);
        // Sessions created meanwhile may have been ended or not; a last call ends the rest.
        const left = await sessions.revokeUserSessions('racer');
        expect(a + b + left).toBe(existing.length + during.length);
        expect((await sessions.validate(bystander.token)).valid).toBe(true);
      },
      60_000,
    );

    test(
      'big-user-revoke',
      `one user with ${bigUser.toLocaleString('en-US')} sessions: list pages, count, sign out everywhere`,
      async () => {
        const { sessions, ended, sample, endedTwice } = tallyingManager();
        const made = await createMany(sessions, bigUser, 'whale', 'acme');
        const globex = await createMany(sessions, 3, 'whale', 'globex');
        const minnow = await createMany(sessions, 2, 'minnow', 'acme');
        clock.advance(1);
        const keep = made[Math.floor(bigUser / 2)]!;

        const firstPage = await sessions.listUserSessions('whale', {
          tenantId: 'acme',
          limit: 100,
        });
        expect(firstPage.sessions).toHaveLength(Math.min(100, bigUser));
        expect(firstPage.sessions.every((s) => s.userId === 'whale' && s.tenantId === 'acme')).toBe(
          true,
        );
        let listed = 0;
        const ids = new Set<string>();
        let previous: { at: number; id: string } | null = null;
        let cursor: string | null = null;
        do {
          const page: Awaited<ReturnType<SessionManager['listUserSessions']>> =
            await sessions.listUserSessions('whale', { tenantId: 'acme', limit: 1000, cursor });
          for (const s of page.sessions) {
            const at = s.lastActivityAt.getTime();
            if (previous !== null) {
              expect(at < previous.at || (at === previous.at && s.id < previous.id)).toBe(true);
            }
            previous = { at, id: s.id };
            ids.add(s.id);
          }
          listed += page.sessions.length;
          cursor = page.nextCursor;
        } while (cursor !== null);
        expect(listed).toBe(bigUser);
        expect(ids.size).toBe(bigUser);
        const inGlobex = await sessions.listUserSessions('whale', { tenantId: 'globex' });
        expect(inGlobex.sessions.map((s) => s.id).sort()).toEqual(globex.map((g) => g.id).sort());
        expect((await sessions.listUserSessions('whale', { limit: 5 })).sessions).toHaveLength(5);
        if (typeof current.store.countSessions === 'function') {
          expect((await sessions.countSessions()).active).toBe(bigUser + 5);
        }

        const revoked = await sessions.revokeUserSessions('whale', {
          tenantId: 'acme',
          exceptSessionId: keep.id,
        });
        expect(revoked).toBe(bigUser - 1);
        expect(ended.size).toBe(bigUser - 1);
        expect(endedTwice()).toBe(0);
        expect(ended.has(keep.id)).toBe(false);
        expect([...ended.values()].every((reason) => reason === 'password_change')).toBe(true);
        for (let i = 0; i < bigUser; i += Math.max(1, Math.floor(bigUser / 300))) {
          const { token, id } = made[i]!;
          const result = await sessions.validate(token, { touch: false });
          if (id === keep.id) expect(result.valid).toBe(true);
          else expect(result).toMatchObject({ valid: false, endReason: 'password_change' });
        }
        expect((await sessions.validate(keep.token)).valid).toBe(true);
        for (const other of [...globex, ...minnow]) {
          expect((await sessions.validate(other.token)).valid).toBe(true);
        }
        const after = await sessions.listUserSessions('whale', { tenantId: 'acme' });
        expect(after).toEqual({
          sessions: [expect.objectContaining({ id: keep.id })],
          nextCursor: null,
        });
        if (typeof current.store.countSessions === 'function') {
          expect(await sessions.countSessions()).toMatchObject({
            active: 6,
            endedByReason: { password_change: bigUser - 1 },
          });
        }
        expect(await sessions.revokeUserSessions('whale', { tenantId: 'acme' })).toBe(1);
        const leaks = sample.filter((line) =>
          made.slice(0, 50).some((m) => line.includes(m.token)),
        );
        expect(leaks).toEqual([]);
      },
      600_000,
    );

    test(
      'big-user-sweep',
      `one user with ${bigUser.toLocaleString('en-US')} expired sessions: the sweep ends each once`,
      async () => {
        const policy = { absoluteTimeout: '1h', idleTimeout: '30m' };
        const { sessions, ended, endedTwice } = tallyingManager(policy);
        const half = Math.floor(bigUser / 2);
        const early = await createMany(sessions, half, 'drifter', 'acme');
        clock.advance(45 * MINUTE);
        const late = await createMany(sessions, bigUser - half, 'drifter', 'acme');
        clock.advance(31 * MINUTE);
        const fresh = await createMany(sessions, 1, 'drifter', 'acme');
        // early: 76 min old, past the absolute hour; late: idle for 31 min; fresh: just made.
        const page = await sessions.listUserSessions('drifter');
        expect(page).toEqual({
          sessions: [expect.objectContaining({ id: fresh[0]!.id })],
          nextCursor: null,
        });
        if (typeof current.store.countSessions === 'function') {
          expect((await sessions.countSessions()).active).toBe(1);
        }
        expect(await sessions.sweepExpired()).toEqual({ absolute: half, idle: bigUser - half });
        expect(ended.size).toBe(bigUser);
        expect(endedTwice()).toBe(0);
        expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 0 });
        for (let i = 0; i < half; i += Math.max(1, Math.floor(half / 150))) {
          expect(await sessions.validate(early[i]!.token)).toMatchObject({
            valid: false,
            reason: 'absolute',
          });
          expect(await sessions.validate(late[i]!.token)).toMatchObject({
            valid: false,
            reason: 'idle',
          });
        }
        expect((await sessions.validate(fresh[0]!.token)).valid).toBe(true);
        if (typeof current.store.countSessions === 'function') {
          expect(await sessions.countSessions()).toMatchObject({
            active: 1,
            endedByReason: { absolute_timeout: half, idle_timeout: bigUser - half },
          });
        }
      },
      600_000,
    );

    test(
      'second-connection',
      'atomicity holds across two connections to the same data',
      async () => {
        if (current.openSecond === undefined) return;
        const second = await current.openSecond();
        const one = manager();
        const two = manager({}, { store: second });
        const { token, session } = await create(one);
        expect((await two.validate(token)).valid).toBe(true);
        clock.advance(31 * MINUTE);
        const results = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => (i % 2 ? one : two).validate(token)),
        );
        expect(results.every((r) => !r.valid && r.reason === 'idle')).toBe(true);
        expect(events.filter((e) => e.type === 'ended' && e.sessionId === session.id)).toHaveLength(
          1,
        );
        const fresh = await create(two);
        expect(await one.revoke(fresh.token)).toBe(true);
        expect((await two.validate(fresh.token)).valid).toBe(false);
      },
    );

    registerAssuranceCases({
      get clock() {
        return clock;
      },
      get events() {
        return events;
      },
      get store() {
        return current.store;
      },
      get openSecond() {
        return current.openSecond;
      },
      concurrency,
      bigTenant: options.bigTenantSessions ?? 100_000,
      manager,
      async issue(sessions, input) {
        const issued = await sessions.create(input);
        secrets.add(issued.token);
        secrets.add(hashSessionToken(issued.token));
        return issued;
      },
      expectCurfewError,
      test,
    });

    afterAll(() => {
      // The whole suite's output, checked at once: no token, no full hash, anywhere.
      const leaks = said.filter((line) => [...secrets].some((secret) => line.includes(secret)));
      expect(leaks).toEqual([]);
      expect(said.length).toBeGreaterThan(0);
    });
  });
}

function recordingLogger(lines: string[]) {
  const write = (level: string) => (fields: Record<string, unknown>, message: string) => {
    lines.push(`${level} ${message} ${JSON.stringify(fields)}`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}
