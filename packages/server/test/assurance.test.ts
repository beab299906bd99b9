// The service's side of assurance: levels and methods on create, freshness requirements on
// validate, reauthentication, the session cap as a 409, ending a tenant's or everyone's sessions,
// and the settings that configure them.
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { createSession, createTestApp, type TestApp } from './support/test-app.js';

let test: TestApp | undefined;
afterEach(async () => {
  await test?.close();
  test = undefined;
});

async function start(policy = {}) {
  test = await createTestApp({ policy });
  return test;
}

describe('levels and reauthentication', () => {
  it('creates a session at the level given, with its methods and that level’s limits', async () => {
    const app = await start();
    const { session } = await createSession(app, 'acme', {
      userId: 'ada',
      aal: 3,
      methods: ['hwk', 'pin'],
    });
    expect(session).toMatchObject({
      aal: 3,
      methods: ['hwk', 'pin'],
      idleTimeoutSeconds: 900,
      authenticatedAt: '2026-03-01T09:00:00.000Z',
      absoluteExpiresAt: '2026-03-01T21:00:00.000Z',
    });
    for (const bad of [{ aal: 4 }, { aal: '2' }, { methods: ['has space'] }, { methods: 'pwd' }]) {
      const response = await app.call('acme', 'POST', '/v1/sessions', { userId: 'ada', ...bad });
      expect(response.statusCode).toBe(400);
      expect(response.json().field).toMatch(new RegExp(`^${Object.keys(bad)[0]}`));
    }
  });

  it('answers what a valid session misses for a sensitive action, and reauthenticates it', async () => {
    const app = await start();
    const { token, id } = await createSession(app, 'acme', { userId: 'ada', aal: 1 });
    app.clock.advance(10 * 60_000);
    const stale = await app.call('acme', 'POST', '/v1/sessions/validate', {
      token,
      maxAge: 300,
      minAal: 2,
    });
    expect(stale.statusCode).toBe(200);
    expect(stale.json()).toEqual({
      valid: false,
      reason: 'insufficient_authentication',
      serverTime: '2026-03-01T09:10:00.000Z',
      missing: ['max_age', 'aal'],
    });
    // Without the requirements the same session is valid.
    expect((await app.call('acme', 'POST', '/v1/sessions/validate', { token })).json().valid).toBe(
      true,
    );
    // Another tenant's key cannot reauthenticate it: answered as unknown.
    const other = await app.call('globex', 'POST', '/v1/sessions/reauthenticate', {
      token,
      aal: 2,
    });
    expect(other.statusCode).toBe(404);
    const renewed = await app.call('acme', 'POST', '/v1/sessions/reauthenticate', {
      token,
      aal: 2,
      methods: ['pwd', 'otp'],
    });
    expect(renewed.statusCode).toBe(200);
    const body = renewed.json();
    expect(body.token).not.toBe(token);
    expect(body.session).toMatchObject({
      id,
      aal: 2,
      methods: ['pwd', 'otp'],
      authenticatedAt: '2026-03-01T09:10:00.000Z',
      lastActivityAt: '2026-03-01T09:10:00.000Z',
      absoluteExpiresAt: '2026-03-01T21:10:00.000Z',
      idleTimeoutSeconds: 1800,
    });
    const fresh = await app.call('acme', 'POST', '/v1/sessions/validate', {
      token: body.token,
      maxAge: 300,
      minAal: 2,
    });
    expect(fresh.json()).toMatchObject({ valid: true, session: { aal: 2 } });
    const old = await app.call('acme', 'POST', '/v1/sessions/validate', { token });
    expect(old.json()).toMatchObject({ valid: false, reason: 'not_found' });
    const lower = await app.call('acme', 'POST', '/v1/sessions/reauthenticate', {
      token: body.token,
      aal: 1,
    });
    expect(lower.statusCode).toBe(400);
    expect(lower.json()).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'aal' });
    const bad = await app.call('acme', 'POST', '/v1/sessions/validate', { token, maxAge: -1 });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().field).toBe('maxAge');
  });
});

describe('the session cap', () => {
  it('answers 409 at the cap with onSessionLimit refuse, and writes nothing', async () => {
    const app = await start({ maxSessionsPerUser: 2, onSessionLimit: 'refuse' });
    await createSession(app, 'acme', { userId: 'ada' });
    await createSession(app, 'acme', { userId: 'ada' });
    const refused = await app.call('acme', 'POST', '/v1/sessions', { userId: 'ada' });
    expect(refused.statusCode).toBe(409);
    expect(refused.headers['content-type']).toBe('application/problem+json; charset=utf-8');
    expect(refused.json()).toMatchObject({
      status: 409,
      code: 'SESSION_LIMIT_REACHED',
      type: 'urn:curfew:problem:session-limit-reached',
      title: 'Conflict',
    });
    const listed = await app.call('acme', 'GET', '/v1/users/ada/sessions');
    expect(listed.json().sessions).toHaveLength(2);
    // Another tenant is another scope.
    expect((await app.call('globex', 'POST', '/v1/sessions', { userId: 'ada' })).statusCode).toBe(
      201,
    );
  });

  it('ends the least recently active session at the cap by default', async () => {
    const app = await start({ maxSessionsPerUser: 2 });
    const first = await createSession(app, 'acme', { userId: 'ada' });
    app.clock.advance(60_000);
    const second = await createSession(app, 'acme', { userId: 'ada' });
    app.clock.advance(60_000);
    await createSession(app, 'acme', { userId: 'ada' });
    const old = await app.call('admin', 'GET', `/v1/sessions/${first.id}`);
    expect(old.json()).toMatchObject({ active: false, endReason: 'session_limit' });
    expect((await app.call('admin', 'GET', `/v1/sessions/${second.id}`)).json().active).toBe(true);
    expect(await app.metrics.render()).toMatch(
      /curfew_sessions_ended_total\{reason="session_limit"\} 1/,
    );
  });
});

describe('ending many at once', () => {
  it('ends a tenant’s sessions with its own key, never another tenant’s', async () => {
    const app = await start();
    const acme = [
      await createSession(app, 'acme', { userId: 'ada' }),
      await createSession(app, 'acme', { userId: 'bob' }),
    ];
    const globex = await createSession(app, 'globex', { userId: 'ada' });
    const forbidden = await app.call('acme', 'POST', '/v1/tenants/globex/sessions/revoke', {});
    expect(forbidden.statusCode).toBe(403);
    const still = await app.call('globex', 'POST', '/v1/sessions/validate', {
      token: globex.token,
    });
    expect(still.json().valid).toBe(true);
    const ended = await app.call('acme', 'POST', '/v1/tenants/acme/sessions/revoke', {
      reason: 'tenant_suspended',
    });
    expect(ended.statusCode).toBe(200);
    expect(ended.json()).toEqual({ revoked: 2 });
    for (const { id } of acme) {
      expect((await app.call('admin', 'GET', `/v1/sessions/${id}`)).json()).toMatchObject({
        active: false,
        endReason: 'tenant_suspended',
      });
    }
    expect((await app.call('admin', 'GET', `/v1/sessions/${globex.id}`)).json().active).toBe(true);
    const bad = await app.call('admin', 'POST', '/v1/tenants/acme/sessions/revoke', {
      reason: 'idle_timeout',
    });
    expect(bad.statusCode).toBe(400);
  });

  it('ends everyone’s sessions with an admin key only', async () => {
    const app = await start();
    await createSession(app, 'acme', { userId: 'ada' });
    await createSession(app, 'globex', { userId: 'bob' });
    await createSession(app, 'admin', { userId: 'root' });
    expect((await app.call('acme', 'POST', '/v1/sessions/revoke-all', {})).statusCode).toBe(403);
    const all = await app.call('admin', 'POST', '/v1/sessions/revoke-all', {});
    expect(all.json()).toEqual({ revoked: 3 });
    expect(app.logs.some((line) => line.includes('all sessions revoked'))).toBe(true);
  });
});

describe('settings', () => {
  it('reads levels and overrides from CURFEW_LIMITS, and the cap', () => {
    const config = loadConfig({
      CURFEW_LIMITS: JSON.stringify({
        levels: { 3: { idleTimeout: '10m' } },
        appTypes: { control_panel: { idleTimeout: '5m' } },
      }),
      CURFEW_MAX_SESSIONS_PER_USER: '5',
      CURFEW_ON_SESSION_LIMIT: 'refuse',
    });
    expect(config.policy.levels[3].idleTimeout).toBe(600_000);
    expect(config.policy.appTypes.control_panel).toEqual({ idleTimeout: 300_000 });
    expect(config.policy).toMatchObject({ maxSessionsPerUser: 5, onSessionLimit: 'refuse' });
  });

  it.each([
    [{ CURFEW_LIMITS: '{' }, /^CURFEW_LIMITS: expected a JSON object/],
    [{ CURFEW_LIMITS: '{"custom":true}' }, /^CURFEW_LIMITS: custom is not one of/],
    [
      { CURFEW_LIMITS: '{"levels":{"3":{"idleTimeout":"1h"}}}' },
      /^CURFEW_LIMITS: levels\.3\.idleTimeout: 1h is longer than the 15m allowed/,
    ],
    [{ CURFEW_MAX_SESSIONS_PER_USER: '0' }, /^CURFEW_MAX_SESSIONS_PER_USER: expected/],
    [{ CURFEW_MAX_SESSIONS_PER_USER: 'five' }, /^CURFEW_MAX_SESSIONS_PER_USER: expected/],
    [{ CURFEW_ON_SESSION_LIMIT: 'evict-newest' }, /^CURFEW_ON_SESSION_LIMIT: expected/],
  ])('refuses %o with one line naming the setting', (env, message) => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('custom: true');
      return;
    }
    throw new Error('expected a ConfigError');
  });
});
