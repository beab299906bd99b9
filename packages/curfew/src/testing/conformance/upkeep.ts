// Rotation, sweeping, purging and counting: the operations that keep a store honest over time,
// so that an expired session is ended once with its reason, and the audit trail stays until
// it is purged.
import { expect } from 'vitest';
import { hashSessionToken } from '../../core/token.js';
import { type ConformanceContext, HOUR, MINUTE } from './context.js';

/** Registers this area's cases. @internal */
export function registerUpkeepCases(ctx: ConformanceContext): void {
  const { manager, create, test, clock, events, current, secrets } = ctx;
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
}
