// The assurance area of the store-conformance suite: sessions that carry their own level and
// limits. These cases hold every store to NIST SP 800-63B's reauthentication rules per session —
// the limits of the level a session was created or stepped up at, tightened by tenant and app
// type, enforced in each store's own atomic check and sweep — and to the owner scope, the
// concurrent-session cap and the ending of a whole tenant, which only work if the store does them
// in one atomic step.
import { expect } from 'vitest';
import type { SessionEvent } from '../../core/events.js';
import type { IssuedSession, SessionManager, SessionManagerOptions } from '../../core/manager.js';
import type { PolicyOptions } from '../../core/policy.js';
import type { SessionStore } from '../../core/store.js';
import type { ManualClock } from '../manual-clock.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** What the assurance cases need from the suite around them. */
export interface AssuranceContext {
  readonly clock: ManualClock;
  readonly events: SessionEvent[];
  readonly store: SessionStore;
  readonly openSecond: (() => SessionStore | Promise<SessionStore>) | undefined;
  readonly concurrency: number;
  readonly bigTenant: number;
  manager(policy?: PolicyOptions, extra?: Partial<SessionManagerOptions>): SessionManager;
  /** Creates a session, remembering its token and hash for the suite's leak check. */
  issue(
    sessions: SessionManager,
    input: Parameters<SessionManager['create']>[0],
  ): Promise<IssuedSession>;
  expectCurfewError(run: () => Promise<unknown>, code: string, field?: string): Promise<void>;
  test(name: AssuranceCase, title: string, body: () => Promise<void>, timeout?: number): void;
}

/** The names of the assurance cases. */
export type AssuranceCase =
  | 'aal-limits'
  | 'limit-overrides'
  | 'reauthenticate'
  | 'freshness'
  | 'owner-scope'
  | 'session-cap'
  | 'race-session-cap'
  | 'revoke-tenant'
  | 'big-tenant-revoke';

/** Registers the assurance cases. */
export function registerAssuranceCases(ctx: AssuranceContext): void {
  const { test } = ctx;

  test('aal-limits', 'gives each session the limits of its level, to the millisecond', async () => {
    const sessions = ctx.manager({ preset: 'nist-800-63b-rev3-aal2' });
    const start = ctx.clock.now();
    const one = await ctx.issue(sessions, { userId: 'u', aal: 1, methods: ['pwd'] });
    const two = await ctx.issue(sessions, { userId: 'u', methods: ['pwd', 'otp'] });
    const three = await ctx.issue(sessions, { userId: 'u', aal: 3, methods: ['hwk', 'pin'] });
    expect(one.session).toMatchObject({ aal: 1, methods: ['pwd'], idleTimeout: null });
    expect(two.session).toMatchObject({
      aal: 2,
      methods: ['pwd', 'otp'],
      idleTimeout: 30 * MINUTE,
    });
    expect(three.session).toMatchObject({
      aal: 3,
      methods: ['hwk', 'pin'],
      idleTimeout: 15 * MINUTE,
    });
    expect(one.session.absoluteExpiresAt.getTime()).toBe(start + 30 * DAY);
    expect(two.session.absoluteExpiresAt.getTime()).toBe(start + 12 * HOUR);
    expect(three.session.authenticatedAt.getTime()).toBe(start);
    // Every store keeps the level, methods and limits exactly.
    const stored = await sessions.getSession(three.session.id);
    expect(stored).toMatchObject({ aal: 3, methods: ['hwk', 'pin'], idleTimeout: 15 * MINUTE });
    expect(stored?.authenticatedAt.getTime()).toBe(start);

    ctx.clock.set(start + 15 * MINUTE - 1);
    expect(await sessions.validate(three.token, { touch: false })).toMatchObject({
      valid: true,
      idleSecondsRemaining: 0,
    });
    ctx.clock.set(start + 15 * MINUTE);
    expect(await sessions.validate(three.token)).toMatchObject({ valid: false, reason: 'idle' });
    expect(await sessions.validate(two.token, { touch: false })).toMatchObject({
      valid: true,
      idleSecondsRemaining: 15 * 60,
    });
    ctx.clock.set(start + 30 * MINUTE);
    expect(await sessions.validate(two.token)).toMatchObject({ valid: false, reason: 'idle' });
    // AAL1 has no idle limit: ten hours without a request, still valid, until its 30 days.
    ctx.clock.set(start + 10 * HOUR);
    expect(await sessions.validate(one.token, { touch: false })).toMatchObject({
      valid: true,
      idleSecondsRemaining: null,
    });
    ctx.clock.set(start + 30 * DAY);
    expect(await sessions.validate(one.token)).toMatchObject({ valid: false, reason: 'absolute' });
    await ctx.expectCurfewError(
      () => sessions.create({ userId: 'u', aal: 4 as never }),
      'INVALID_ARGUMENT',
      'aal',
    );
    await ctx.expectCurfewError(
      () => sessions.create({ userId: 'u', methods: ['pwd', 'no spaces'] }),
      'INVALID_ARGUMENT',
      'methods',
    );
  });

  test(
    'limit-overrides',
    'tightens limits by tenant and app type, and the sweep ends each session by its own',
    async () => {
      const sessions = ctx.manager({
        tenants: { strict: { idleTimeout: '10m' } },
        appTypes: { control_panel: { idleTimeout: '5m', absoluteTimeout: '1h' } },
      });
      const start = ctx.clock.now();
      const admin = await ctx.issue(sessions, {
        userId: 'u',
        tenantId: 'acme',
        appType: 'control_panel',
      });
      const strict = await ctx.issue(sessions, {
        userId: 'u',
        tenantId: 'strict',
        appType: 'tenant_app',
      });
      const plain = await ctx.issue(sessions, {
        userId: 'u',
        tenantId: 'acme',
        appType: 'tenant_app',
      });
      const aal1 = await ctx.issue(sessions, {
        userId: 'u',
        tenantId: 'strict',
        appType: 'tenant_app',
        aal: 1,
      });
      expect(admin.session.idleTimeout).toBe(5 * MINUTE);
      expect(admin.session.absoluteExpiresAt.getTime()).toBe(start + HOUR);
      expect(strict.session.idleTimeout).toBe(10 * MINUTE);
      expect(plain.session.idleTimeout).toBe(30 * MINUTE);
      // A level without an idle limit gets the tenant's.
      expect(aal1.session.idleTimeout).toBe(10 * MINUTE);

      ctx.clock.set(start + 5 * MINUTE);
      expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 1 });
      expect(await sessions.validate(admin.token)).toMatchObject({ valid: false, reason: 'idle' });
      expect((await sessions.validate(plain.token)).valid).toBe(true);
      ctx.clock.set(start + 10 * MINUTE);
      expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 2 });
      expect((await sessions.validate(plain.token, { touch: false })).valid).toBe(true);
      const listed = await sessions.listUserSessions('u');
      expect(listed.sessions.map((s) => s.id)).toEqual([plain.session.id]);
      ctx.clock.set(start + 40 * MINUTE);
      expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 1 });
      const reasons = ctx.events.filter((e) => e.type === 'ended').map((e) => e.sessionId);
      expect(new Set(reasons).size).toBe(4);
    },
  );

  test(
    'reauthenticate',
    'replaces the token, keeps the id, moves authenticatedAt and restarts both timers',
    async () => {
      const sessions = ctx.manager();
      const start = ctx.clock.now();
      const first = await ctx.issue(sessions, {
        userId: 'u',
        tenantId: 't',
        aal: 1,
        methods: ['pwd'],
      });
      // Active all along (a request every 20 minutes) until 10 minutes before the absolute limit.
      let token = first.token;
      const second = await ctx.issue(sessions, { userId: 'u', tenantId: 't' });
      let aal2Token = second.token;
      for (let at = 20 * MINUTE; at <= 11 * HOUR + 40 * MINUTE; at += 20 * MINUTE) {
        ctx.clock.set(start + at);
        expect((await sessions.validate(aal2Token)).valid).toBe(true);
      }
      ctx.clock.set(start + 11 * HOUR + 50 * MINUTE);
      const before = await sessions.validate(aal2Token, { touch: false });
      expect(before).toMatchObject({ valid: true, warning: 'absolute' });
      const renewed = await sessions.reauthenticate(aal2Token, { methods: ['pwd', 'otp'] });
      expect(renewed).not.toBeNull();
      const now = ctx.clock.now();
      expect(renewed!.token).not.toBe(aal2Token);
      expect(renewed!.session).toMatchObject({
        id: second.session.id,
        aal: 2,
        methods: ['pwd', 'otp'],
        idleTimeout: 30 * MINUTE,
        active: true,
      });
      expect(renewed!.session.authenticatedAt.getTime()).toBe(now);
      expect(renewed!.session.lastActivityAt.getTime()).toBe(now);
      expect(renewed!.session.absoluteExpiresAt.getTime()).toBe(now + 12 * HOUR);
      expect(renewed!.session.createdAt.getTime()).toBe(start);
      // The old token stops at once; the new one carries the session past its old limit.
      expect(await sessions.validate(aal2Token, { touch: false })).toMatchObject({
        valid: false,
        reason: 'not_found',
      });
      aal2Token = renewed!.token;
      ctx.clock.set(start + 12 * HOUR + 10 * MINUTE);
      expect(await sessions.validate(aal2Token)).toMatchObject({
        valid: true,
        absoluteSecondsRemaining: (12 * HOUR - 20 * MINUTE) / 1000,
        warning: null,
      });

      // A step-up: AAL1 to AAL2, and the limits follow the new level.
      ctx.clock.set(start + 12 * HOUR + 20 * MINUTE);
      const stepped = await sessions.reauthenticate(token, { aal: 2, methods: ['pwd', 'otp'] });
      expect(stepped?.session).toMatchObject({
        id: first.session.id,
        aal: 2,
        idleTimeout: 30 * MINUTE,
      });
      expect(stepped?.session.absoluteExpiresAt.getTime()).toBe(start + 24 * HOUR + 20 * MINUTE);
      token = stepped!.token;
      const event = ctx.events.find(
        (e) => e.type === 'reauthenticated' && e.sessionId === first.session.id,
      );
      expect(event).toMatchObject({ aal: 2, previousAal: 1, userId: 'u', tenantId: 't' });
      // Never down: a lower level is refused and changes nothing.
      await ctx.expectCurfewError(
        () => sessions.reauthenticate(token, { aal: 1 }),
        'INVALID_ARGUMENT',
        'aal',
      );
      expect(await sessions.validate(token, { touch: false })).toMatchObject({
        valid: true,
        session: { aal: 2 },
      });
      // Another connection sees the new token and fields.
      if (ctx.openSecond !== undefined) {
        const other = ctx.manager({}, { store: await ctx.openSecond() });
        expect(await other.validate(token, { touch: false })).toMatchObject({
          valid: true,
          session: { id: first.session.id, aal: 2, methods: ['pwd', 'otp'] },
        });
      }
      // An expired or ended session cannot be reauthenticated back to life.
      ctx.clock.set(start + 12 * HOUR + 50 * MINUTE);
      expect(await sessions.reauthenticate(token)).toBeNull();
      expect(await sessions.validate(token)).toMatchObject({ valid: false, reason: 'idle' });
      await sessions.revoke(aal2Token);
      expect(await sessions.reauthenticate(aal2Token)).toBeNull();
      expect(await sessions.reauthenticate('not-a-token')).toBeNull();
    },
  );

  test('freshness', 'answers which authentication requirement a valid session misses', async () => {
    const sessions = ctx.manager();
    const start = ctx.clock.now();
    const { token, session } = await ctx.issue(sessions, { userId: 'u', aal: 1, methods: ['pwd'] });
    expect(await sessions.validate(token, { maxAge: '5m' })).toMatchObject({ valid: true });
    ctx.clock.set(start + 5 * MINUTE);
    expect((await sessions.validate(token, { maxAge: '5m' })).valid).toBe(true);
    ctx.clock.set(start + 5 * MINUTE + 1);
    expect(await sessions.validate(token, { maxAge: '5m' })).toEqual({
      valid: false,
      reason: 'insufficient_authentication',
      missing: ['max_age'],
      session: expect.objectContaining({ id: session.id, aal: 1 }),
    });
    expect(await sessions.validate(token, { minAal: 2 })).toMatchObject({
      valid: false,
      reason: 'insufficient_authentication',
      missing: ['aal'],
    });
    expect(await sessions.validate(token, { maxAge: 60_000, minAal: 3 })).toMatchObject({
      missing: ['max_age', 'aal'],
    });
    // Without requirements the same session is simply valid: a fresh check is per request.
    expect((await sessions.validate(token)).valid).toBe(true);
    const stepped = await sessions.reauthenticate(token, { aal: 2, methods: ['pwd', 'otp'] });
    expect(await sessions.validate(stepped!.token, { maxAge: '5m', minAal: 2 })).toMatchObject({
      valid: true,
      session: { aal: 2 },
    });
    await ctx.expectCurfewError(
      () => sessions.validate(token, { minAal: 0 as never }),
      'INVALID_ARGUMENT',
      'minAal',
    );
    await ctx.expectCurfewError(
      () => sessions.validate(token, { maxAge: 'soon' }),
      'INVALID_ARGUMENT',
      'maxAge',
    );
  });

  test(
    'owner-scope',
    'validate, revoke, rotate and reauthenticate act only within the owner, in one step',
    async () => {
      const sessions = ctx.manager();
      const start = ctx.clock.now();
      const acme = await ctx.issue(sessions, { userId: 'u', tenantId: 'acme' });
      const none = await ctx.issue(sessions, { userId: 'u' });
      const expired = await ctx.issue(sessions, { userId: 'u', tenantId: 'acme', aal: 3 });
      ctx.clock.set(start + 20 * MINUTE);
      const hidden = { valid: false, reason: 'not_found' };
      expect(await sessions.validate(acme.token, { tenantId: 'globex' })).toEqual(hidden);
      expect(await sessions.validate(acme.token, { tenantId: null })).toEqual(hidden);
      expect(await sessions.validate(none.token, { tenantId: 'acme' })).toEqual(hidden);
      // Another tenant's look neither touched it nor ended an expired one.
      expect((await sessions.getSession(acme.session.id))?.lastActivityAt.getTime()).toBe(start);
      expect(await sessions.validate(expired.token, { tenantId: 'globex' })).toEqual(hidden);
      expect((await ctx.store.findById(expired.session.id))?.endedAt).toBeNull();
      expect(await sessions.revoke(acme.token, { tenantId: 'globex' })).toBe(false);
      expect(await sessions.rotate(acme.token, { tenantId: 'globex' })).toBeNull();
      expect(await sessions.reauthenticate(acme.token, { tenantId: 'globex' })).toBeNull();
      expect(await sessions.rotate(acme.token, { userId: 'someone-else' })).toBeNull();
      expect(ctx.events.filter((e) => e.type !== 'created')).toEqual([]);

      const touched = await sessions.validate(acme.token, { tenantId: 'acme' });
      expect(touched).toMatchObject({ valid: true, session: { id: acme.session.id } });
      expect((await sessions.getSession(acme.session.id))?.lastActivityAt.getTime()).toBe(
        start + 20 * MINUTE,
      );
      expect((await sessions.validate(none.token, { tenantId: null })).valid).toBe(true);
      expect(await sessions.validate(expired.token, { tenantId: 'acme' })).toMatchObject({
        valid: false,
        reason: 'idle',
      });
      const rotated = await sessions.rotate(acme.token, { tenantId: 'acme', userId: 'u' });
      expect(rotated?.session.id).toBe(acme.session.id);
      expect(await sessions.revoke(rotated!.token, { tenantId: 'acme', reason: 'logout' })).toBe(
        true,
      );
      expect(await sessions.revoke(none.token, { tenantId: null })).toBe(true);
    },
  );

  test('session-cap', 'evicts the least recently active, or refuses, at the cap', async () => {
    const sessions = ctx.manager({ maxSessionsPerUser: 3 });
    const start = ctx.clock.now();
    const made: IssuedSession[] = [];
    for (let i = 0; i < 3; i++) {
      made.push(await ctx.issue(sessions, { userId: 'u', tenantId: 'acme' }));
      ctx.clock.advance(2 * MINUTE);
    }
    const elsewhere = await ctx.issue(sessions, { userId: 'u', tenantId: 'globex' });
    const other = await ctx.issue(sessions, { userId: 'v', tenantId: 'acme' });
    expect((await sessions.validate(made[0]!.token)).valid).toBe(true); // now the most recent
    ctx.clock.advance(MINUTE);
    const fourth = await ctx.issue(sessions, { userId: 'u', tenantId: 'acme' });
    expect(await sessions.validate(made[1]!.token, { touch: false })).toMatchObject({
      valid: false,
      endReason: 'session_limit',
    });
    const evicted = ctx.events.filter((e) => e.type === 'ended');
    expect(evicted).toEqual([
      expect.objectContaining({ sessionId: made[1]!.session.id, reason: 'session_limit' }),
    ]);
    expect(evicted[0]!.at.getTime()).toBe(ctx.clock.now());
    const listed = await sessions.listUserSessions('u', { tenantId: 'acme' });
    expect(listed.sessions.map((s) => s.id).sort()).toEqual(
      [made[0]!, made[2]!, fourth].map((m) => m.session.id).sort(),
    );
    for (const untouched of [elsewhere, other]) {
      expect((await sessions.validate(untouched.token, { touch: false })).valid).toBe(true);
    }
    // An expired session does not count: it is ended with its own reason, nothing else is.
    ctx.clock.set(start + 35 * MINUTE); // made[2] (last active at 4 min) idled out at 34 min
    expect((await sessions.validate(made[0]!.token)).valid).toBe(true);
    expect((await sessions.validate(fourth.token)).valid).toBe(true);
    await ctx.issue(sessions, { userId: 'u', tenantId: 'acme' });
    expect(await sessions.validate(made[2]!.token, { touch: false })).toMatchObject({
      valid: false,
      reason: 'idle',
    });
    expect((await sessions.validate(made[0]!.token, { touch: false })).valid).toBe(true);

    const refusing = ctx.manager({ maxSessionsPerUser: 3, onSessionLimit: 'refuse' });
    const createdBefore = ctx.events.filter((e) => e.type === 'created').length;
    await ctx.expectCurfewError(
      () => refusing.create({ userId: 'u', tenantId: 'acme' }),
      'SESSION_LIMIT_REACHED',
    );
    expect(ctx.events.filter((e) => e.type === 'created')).toHaveLength(createdBefore);
    expect((await refusing.listUserSessions('u', { tenantId: 'acme' })).sessions).toHaveLength(3);
    await refusing.revoke(made[0]!.token);
    expect((await ctx.issue(refusing, { userId: 'u', tenantId: 'acme' })).session.active).toBe(
      true,
    );
  });

  test(
    'race-session-cap',
    '50 simultaneous creates with a cap of 5 never leave more than 5 valid sessions',
    async () => {
      const second = ctx.openSecond === undefined ? ctx.store : await ctx.openSecond();
      for (const action of ['evict-oldest', 'refuse'] as const) {
        const policy: PolicyOptions = { maxSessionsPerUser: 5, onSessionLimit: action };
        const managers = [ctx.manager(policy), ctx.manager(policy, { store: second })];
        const userId = `capped-${action}`;
        let most = 0;
        let creating = true;
        // Watches the user's valid sessions while the creates run: never more than the cap.
        const watcher = (async () => {
          while (creating) {
            const page = await managers[0]!.listUserSessions(userId, { tenantId: 'acme' });
            most = Math.max(most, page.sessions.length);
            await new Promise((resolve) => setImmediate(resolve));
          }
        })();
        const outcomes = await Promise.allSettled(
          Array.from({ length: 50 }, (_, i) =>
            ctx.issue(managers[i % 2]!, { userId, tenantId: 'acme' }),
          ),
        );
        creating = false;
        await watcher;
        const created = outcomes.filter((o) => o.status === 'fulfilled');
        const refused = outcomes.filter((o) => o.status === 'rejected');
        for (const failure of refused) {
          expect((failure as PromiseRejectedResult).reason).toMatchObject({
            code: 'SESSION_LIMIT_REACHED',
          });
        }
        const valid = await managers[1]!.listUserSessions(userId, { tenantId: 'acme' });
        expect(valid.sessions).toHaveLength(5);
        expect(most).toBeLessThanOrEqual(5);
        if (action === 'refuse') {
          expect(created).toHaveLength(5);
          expect(refused).toHaveLength(45);
        } else {
          expect(created).toHaveLength(50);
          const evicted = ctx.events.filter(
            (e) => e.type === 'ended' && e.userId === userId && e.reason === 'session_limit',
          );
          expect(evicted).toHaveLength(45);
          expect(new Set(evicted.map((e) => e.sessionId)).size).toBe(45);
        }
      }
    },
  );

  test('revoke-tenant', "ends every session of a tenant, then everyone's, in batches", async () => {
    const sessions = ctx.manager();
    const start = ctx.clock.now();
    const acme: IssuedSession[] = [];
    for (let i = 0; i < 7; i++) {
      acme.push(await ctx.issue(sessions, { userId: `user-${i % 3}`, tenantId: 'acme' }));
    }
    const expired = await ctx.issue(sessions, { userId: 'user-0', tenantId: 'acme', aal: 3 });
    const globex = await ctx.issue(sessions, { userId: 'user-0', tenantId: 'globex' });
    const none = await ctx.issue(sessions, { userId: 'user-0' });
    ctx.clock.set(start + 20 * MINUTE);
    expect(
      await sessions.revokeTenantSessions('acme', { reason: 'tenant_suspended', batchSize: 2 }),
    ).toBe(7);
    for (const session of acme) {
      expect(await sessions.validate(session.token)).toMatchObject({
        valid: false,
        endReason: 'tenant_suspended',
      });
    }
    expect(await sessions.validate(expired.token)).toMatchObject({ valid: false, reason: 'idle' });
    expect((await sessions.validate(globex.token)).valid).toBe(true);
    expect((await sessions.validate(none.token)).valid).toBe(true);
    expect(await sessions.revokeTenantSessions('acme')).toBe(0);
    expect(await sessions.revokeTenantSessions(null)).toBe(1);
    expect((await sessions.validate(globex.token)).valid).toBe(true);
    const last = await ctx.issue(sessions, { userId: 'user-9', tenantId: 'initech' });
    expect(await sessions.revokeAllSessions({ batchSize: 1 })).toBe(2);
    expect(await sessions.validate(last.token)).toMatchObject({
      valid: false,
      endReason: 'admin_revoke',
    });
    const ended = ctx.events.filter((e) => e.type === 'ended');
    expect(ended).toHaveLength(11); // 7 + the expired one + none + globex + initech
    expect(new Set(ended.map((e) => e.sessionId)).size).toBe(11);
    await ctx.expectCurfewError(
      () => sessions.revokeTenantSessions('acme', { reason: 'idle_timeout' }),
      'INVALID_ARGUMENT',
      'reason',
    );
  });

  test(
    'big-tenant-revoke',
    `ends a tenant of ${ctx.bigTenant.toLocaleString('en-US')} sessions, and no other's`,
    async () => {
      const ended = new Map<string, string>();
      let endedTwice = 0;
      const sessions = ctx.manager(
        {},
        {
          // Tallied, not kept: the suite's leak check would compare each of 100,000 events.
          onEvent(event) {
            if (event.type !== 'ended') return;
            if (ended.has(event.sessionId)) endedTwice += 1;
            ended.set(event.sessionId, event.reason);
          },
          logger: undefined,
        },
      );
      const made: Array<{ token: string; id: string }> = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: ctx.concurrency }, async () => {
          while (next < ctx.bigTenant) {
            const i = next++;
            if (i % 1000 === 0) ctx.clock.advance(1);
            const { token, session } = await sessions.create({
              userId: `user-${i % 1000}`,
              tenantId: 'big',
            });
            made[i] = { token, id: session.id };
          }
        }),
      );
      const small = await ctx.issue(sessions, { userId: 'user-1', tenantId: 'small' });
      const revoked = await sessions.revokeTenantSessions('big', { reason: 'tenant_suspended' });
      expect(revoked).toBe(ctx.bigTenant);
      expect(ended.size).toBe(ctx.bigTenant);
      expect(endedTwice).toBe(0);
      for (let i = 0; i < ctx.bigTenant; i += Math.max(1, Math.floor(ctx.bigTenant / 200))) {
        expect(await sessions.validate(made[i]!.token, { touch: false })).toMatchObject({
          valid: false,
          endReason: 'tenant_suspended',
        });
      }
      expect((await sessions.validate(small.token)).valid).toBe(true);
    },
    600_000,
  );
}
