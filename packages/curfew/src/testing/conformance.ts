import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CurfewError } from '../core/errors.js';
import type { SessionEvent } from '../core/events.js';
import { SessionManager, type SessionManagerOptions } from '../core/manager.js';
import type { PolicyOptions } from '../core/policy.js';
import type { SessionStore } from '../core/store.js';
import { hashSessionToken } from '../core/token.js';
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
  | 'list-user-sessions'
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
  | 'second-connection';

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
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

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

    function test(name: ConformanceCase, title: string, body: () => Promise<void>): void {
      const reason = skip[name];
      if (reason !== undefined) it.skip(`${name}: ${title} (skipped: ${reason})`, body);
      else it(`${name}: ${title}`, body);
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
        const all = await sessions.listUserSessions('alice');
        expect(all.map((s) => s.id)).toEqual([
          first.session.id,
          third.session.id,
          second.session.id,
        ]);
        expect(all.every((s) => s.active && !('tokenHash' in s))).toBe(true);
        const acme = await sessions.listUserSessions('alice', { tenantId: 'acme' });
        expect(acme.map((s) => s.id)).toEqual([first.session.id, second.session.id]);
        expect(await sessions.listUserSessions('alice', { tenantId: null })).toEqual([]);
        // Expired but not swept: not listed.
        clock.advance(29 * MINUTE); // second and third idle for 31 and 30 min
        const later = await sessions.listUserSessions('alice');
        expect(later.map((s) => s.id)).toEqual([first.session.id]);
        expect(await sessions.listUserSessions('nobody')).toEqual([]);
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
          idleTimeout: 30 * MINUTE,
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
        // The idle rule comes from the caller: a policy without one sweeps only absolute expiries.
        const noIdle = manager({ idleTimeout: null, custom: true });
        const lingering = await create(noIdle, 'lingering');
        clock.advance(2 * HOUR);
        expect(await noIdle.sweepExpired()).toEqual({ absolute: 0, idle: 0 });
        expect((await noIdle.validate(lingering.token, { touch: false })).valid).toBe(true);
        expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 2 });
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
      // Without an idle timeout only the absolute one decides: `idle` is valid under that rule.
      const noIdle = manager({ idleTimeout: null, custom: true });
      expect((await noIdle.countSessions({ endedWithin: '1h' })).active).toBe(2);
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
      expect(await sessions.listUserSessions(stored.userId)).toHaveLength(1);
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
        expect((await sessions.listUserSessions('u')).map((s) => s.id)).toEqual([session.id]);
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
      expect(listed.flat()).toHaveLength(concurrency);
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
