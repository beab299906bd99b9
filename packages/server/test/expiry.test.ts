import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSession, createTestApp, type TestApp } from './support/test-app.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

// Stricter than its preset (30 min idle, 12 h absolute), so no `custom` flag is needed.
const POLICY = {
  preset: 'nist-800-63b-rev3-aal2',
  idleTimeout: '10m',
  absoluteTimeout: '1h',
  absoluteWarning: '5m',
  idleWarning: '2m',
  activityWriteInterval: '30s',
} as const;

let test: TestApp;
beforeEach(async () => {
  test = await createTestApp({ policy: POLICY });
});
afterEach(async () => {
  await test.close();
});

async function validate(token: string, touch?: boolean) {
  const body = touch === undefined ? { token } : { token, touch };
  return (await test.call('admin', 'POST', '/v1/sessions/validate', body)).json();
}

describe('idle timeout', () => {
  it('is valid 1 ms before the idle expiry and idle at it, and ends the session then', async () => {
    const { token, id } = await createSession(test, 'admin');
    test.clock.advance(10 * MINUTE - 1);
    expect(await validate(token, false)).toMatchObject({
      valid: true,
      idleSecondsRemaining: 0,
      secondsRemaining: 0,
      warning: 'idle',
    });
    test.clock.advance(1);
    expect(await validate(token)).toEqual({
      valid: false,
      reason: 'idle',
      serverTime: '2026-03-01T09:10:00.000Z',
    });
    const view = (await test.call('admin', 'GET', `/v1/sessions/${id}`)).json();
    expect(view).toMatchObject({
      active: false,
      endReason: 'idle_timeout',
      endedAt: '2026-03-01T09:10:00.000Z',
    });
    // Touching an expired session never revives it.
    expect((await test.call('admin', 'POST', '/v1/sessions/touch', { token })).json()).toEqual({
      touched: false,
    });
  });

  it('is pushed back by activity, but not by status polls with touch: false', async () => {
    const { token } = await createSession(test, 'admin');
    test.clock.advance(6 * MINUTE);
    expect((await validate(token)).valid).toBe(true); // activity at 09:06
    test.clock.advance(9 * MINUTE);
    expect(await validate(token, false)).toMatchObject({ valid: true, warning: 'idle' }); // poll
    test.clock.advance(1 * MINUTE - 1);
    expect((await validate(token, false)).valid).toBe(true);
    test.clock.advance(1);
    expect((await validate(token, false)).reason).toBe('idle'); // 09:16 = 09:06 + 10m
  });

  it('warns when the idle expiry is within its threshold', async () => {
    const { token } = await createSession(test, 'admin');
    test.clock.advance(8 * MINUTE - 1);
    expect((await validate(token, false)).warning).toBeNull();
    test.clock.advance(1);
    expect(await validate(token, false)).toMatchObject({
      warning: 'idle',
      idleSecondsRemaining: 120,
    });
  });
});

describe('absolute timeout', () => {
  it('ends an active session at its absolute expiry whatever its activity, warning first', async () => {
    const { token, id } = await createSession(test, 'admin');
    for (let minute = 5; minute < 60; minute += 5) {
      test.clock.advance(5 * MINUTE);
      const result = await validate(token);
      expect(result.valid).toBe(true);
      expect(result.warning).toBe(minute >= 55 ? 'absolute' : null);
    }
    test.clock.advance(5 * MINUTE - 1); // 09:59:59.999
    expect(await validate(token)).toMatchObject({
      valid: true,
      absoluteSecondsRemaining: 0,
      warning: 'absolute',
    });
    test.clock.advance(1);
    expect((await validate(token)).reason).toBe('absolute');
    expect((await test.call('admin', 'GET', `/v1/sessions/${id}`)).json()).toMatchObject({
      endReason: 'absolute_timeout',
      endedAt: '2026-03-01T10:00:00.000Z',
    });
  });

  it('is reported rather than idle when a session is past both', async () => {
    const { token } = await createSession(test, 'admin');
    test.clock.advance(2 * 60 * MINUTE);
    expect((await validate(token)).reason).toBe('absolute');
  });

  it('does not move when the token is rotated', async () => {
    const { token } = await createSession(test, 'admin');
    test.clock.advance(5 * MINUTE);
    const rotated = (await test.call('admin', 'POST', '/v1/sessions/rotate', { token })).json();
    expect(rotated.session.absoluteExpiresAt).toBe('2026-03-01T10:00:00.000Z');
  });
});

describe('sweep and listing', () => {
  it('lists only sessions valid now, and the sweep ends the expired ones by reason', async () => {
    const first = await createSession(test, 'admin', { userId: 'eve' }); // 09:00, never used
    test.clock.advance(55 * MINUTE);
    const second = await createSession(test, 'admin', { userId: 'eve' }); // 09:55
    const third = await createSession(test, 'admin', { userId: 'eve' }); // 09:55
    test.clock.advance(6 * MINUTE); // 10:01: the first is past both timeouts, not yet swept
    const list = (await test.call('admin', 'GET', '/v1/users/eve/sessions')).json();
    expect(list.sessions.map((s: { id: string }) => s.id).sort()).toEqual(
      [second.id, third.id].sort(),
    );
    test.clock.advance(5 * MINUTE); // 10:06: the other two are idle (activity at 09:55)
    const sweep = (await test.call('admin', 'POST', '/v1/sweep')).json();
    expect(sweep).toEqual({ absolute: 1, idle: 2 });
    expect((await test.call('admin', 'GET', `/v1/sessions/${first.id}`)).json().endReason).toBe(
      'absolute_timeout',
    );
    expect((await test.call('admin', 'POST', '/v1/sweep')).json()).toEqual({
      absolute: 0,
      idle: 0,
    });
  });
});
