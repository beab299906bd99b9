// Timeouts and activity: the idle and absolute limits to the millisecond, warnings before them,
// and activity writes that are coalesced, never move backwards and never revive a session.
// Every store must agree here exactly, since each decides expiry inside its own atomic step.
import { expect } from 'vitest';
import { hashSessionToken } from '../../core/token.js';
import { ManualClock } from '../manual-clock.js';
import { type ConformanceContext, HOUR, MINUTE } from './context.js';

/** Registers this area's cases. @internal */
export function registerTimeoutCases(ctx: ConformanceContext): void {
  const { manager, create, test, clock, events, secrets } = ctx;
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
}
