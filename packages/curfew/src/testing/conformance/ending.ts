// Ending sessions: logout, ending one session by id within its owner, and "sign out everywhere"
// in bounded batches. A revoke that has returned must never be followed by a valid session.
import { expect } from 'vitest';
import { type ConformanceContext, MINUTE } from './context.js';

/** Registers this area's cases. @internal */
export function registerEndingCases(ctx: ConformanceContext): void {
  const { manager, create, expectCurfewError, test, clock, events, current } = ctx;
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
      expect(ended).toEqual([expect.objectContaining({ sessionId: session.id, reason: 'logout' })]);
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
      expect(await sessions.revokeSession(session.id, { userId: 'alice', tenantId: 'acme' })).toBe(
        true,
      );
      expect(await sessions.validate(token)).toMatchObject({ valid: false, reason: 'not_found' });
      expect(await sessions.getSession(session.id)).toMatchObject({ endReason: 'user_revoke' });
      expect(await sessions.revokeSession(session.id)).toBe(false);
    },
  );

  test('revoke-user-sessions', 'signs a user out everywhere, by tenant, keeping one', async () => {
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
  });

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
}
