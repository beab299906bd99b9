import { MemoryStore, SessionManager } from 'curfew';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiKeyring, hashApiKey } from '../src/api-keys.js';
import { buildApp } from '../src/http/app.js';
import { createSession, createTestApp, KEYS, type TestApp } from './support/test-app.js';

let test: TestApp;
beforeEach(async () => {
  test = await createTestApp();
});
afterEach(async () => {
  await test.close();
});

function expectProblem(
  response: { statusCode: number; headers: Record<string, unknown>; json(): unknown },
  status: number,
  code: string,
  field?: string,
) {
  expect(response.statusCode).toBe(status);
  expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
  const problem = response.json() as Record<string, unknown>;
  expect(problem).toMatchObject({
    status,
    code,
    type: expect.stringMatching(/^urn:curfew:problem:/),
  });
  expect(typeof problem.title).toBe('string');
  expect(typeof problem.detail).toBe('string');
  if (field !== undefined) expect(problem.field).toBe(field);
  return problem;
}

describe('POST /v1/sessions', () => {
  it('creates a session and returns its token once, with times as ISO 8601 UTC', async () => {
    const response = await test.call('admin', 'POST', '/v1/sessions', {
      userId: 'alice',
      tenantId: 'acme',
      ipAddress: '203.0.113.7',
      userAgent: 'Mozilla/5.0',
      appType: 'tenant_app',
    });
    expect(response.statusCode).toBe(201);
    const body = response.json();
    expect(body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(body.session).toEqual({
      id: expect.any(String),
      userId: 'alice',
      tenantId: 'acme',
      appType: 'tenant_app',
      ipAddress: '203.0.113.7',
      userAgent: 'Mozilla/5.0',
      createdAt: '2026-03-01T09:00:00.000Z',
      lastActivityAt: '2026-03-01T09:00:00.000Z',
      absoluteExpiresAt: '2026-03-01T21:00:00.000Z',
      idleTimeoutSeconds: 1800,
      aal: 2,
      methods: [],
      authenticatedAt: '2026-03-01T09:00:00.000Z',
      active: true,
      endedAt: null,
      endReason: null,
    });
    expect(JSON.stringify(body.session)).not.toContain(body.token);
  });

  it('keeps an integer userId as its decimal string', async () => {
    const { session } = await createSession(test, 'admin', { userId: 9007199254740991 });
    expect(session.userId).toBe('9007199254740991');
  });

  it.each([
    [{}, 'userId'],
    [{ userId: '' }, 'userId'],
    [{ userId: 'x'.repeat(256) }, 'userId'],
    [{ userId: 1.5 }, 'userId'],
    [{ userId: -1 }, 'userId'],
    [{ userId: true }, 'userId'],
    [{ userId: null }, 'userId'],
    [{ userId: 'u', tenantID: 'acme' }, 'tenantID'],
    [{ userId: 'u', tenantId: '' }, 'tenantId'],
    [{ userId: 'u', ipAddress: 'not-an-ip' }, 'ipAddress'],
    [{ userId: 'u', appType: 'has space' }, 'appType'],
    [{ userId: 'u', userAgent: 42 }, 'userAgent'],
  ])('answers 400 INVALID_ARGUMENT naming the field for %j', async (body, field) => {
    const response = await test.call('admin', 'POST', '/v1/sessions', body);
    expectProblem(response, 400, 'INVALID_ARGUMENT', field);
  });

  it('answers 400 naming the body for a body that is not an object', async () => {
    for (const payload of ['[]', '"text"', '12', 'null']) {
      const response = await test.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
        payload,
      });
      expectProblem(response, 400, 'INVALID_ARGUMENT', 'body');
    }
  });

  it('cuts the user agent to the policy length', async () => {
    const { session } = await createSession(test, 'admin', {
      userId: 'u',
      userAgent: 'a'.repeat(600),
    });
    expect((session.userAgent as string).length).toBe(500);
  });
});

describe('POST /v1/sessions/validate', () => {
  it('answers valid with the remainders, the warning and serverTime', async () => {
    const { token, id } = await createSession(test, 'admin');
    test.clock.advance(10 * 60_000);
    const response = await test.call('admin', 'POST', '/v1/sessions/validate', { token });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      valid: true,
      session: { id, userId: 'u1', lastActivityAt: '2026-03-01T09:10:00.000Z' },
      secondsRemaining: 1800,
      idleSecondsRemaining: 1800,
      absoluteSecondsRemaining: 11 * 3600 + 50 * 60,
      warning: null,
      serverTime: '2026-03-01T09:10:00.000Z',
    });
  });

  it('does not record activity with touch: false', async () => {
    const { token } = await createSession(test, 'admin');
    test.clock.advance(10 * 60_000);
    const response = await test.call('admin', 'POST', '/v1/sessions/validate', {
      token,
      touch: false,
    });
    expect(response.json()).toMatchObject({
      valid: true,
      session: { lastActivityAt: '2026-03-01T09:00:00.000Z' },
      idleSecondsRemaining: 20 * 60,
    });
  });

  it('answers an unknown or malformed token as not_found, not as an error', async () => {
    for (const token of ['A'.repeat(43), 'not a token!', '', 'x'.repeat(1024)]) {
      const response = await test.call('admin', 'POST', '/v1/sessions/validate', { token });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        valid: false,
        reason: 'not_found',
        serverTime: '2026-03-01T09:00:00.000Z',
      });
    }
  });

  it.each([
    [{}, 'token'],
    [{ token: 42 }, 'token'],
    [{ token: 'x'.repeat(1025) }, 'token'],
    [{ token: 'abcdefghijklmnopqrstuvwxyz', touch: 'false' }, 'touch'],
    [{ token: 'abcdefghijklmnopqrstuvwxyz', extra: 1 }, 'extra'],
  ])('answers 400 naming the field for %j', async (body, field) => {
    const response = await test.call('admin', 'POST', '/v1/sessions/validate', body);
    expectProblem(response, 400, 'INVALID_ARGUMENT', field);
  });
});

describe('POST /v1/sessions/touch, /revoke, /rotate', () => {
  it('touches a valid session and reports false for an ended one', async () => {
    const { token } = await createSession(test, 'admin');
    test.clock.advance(5 * 60_000);
    expect((await test.call('admin', 'POST', '/v1/sessions/touch', { token })).json()).toEqual({
      touched: true,
    });
    const view = await test.manager.validate(token, { touch: false });
    expect(view.valid && view.session.lastActivityAt.toISOString()).toBe(
      '2026-03-01T09:05:00.000Z',
    );
    await test.call('admin', 'POST', '/v1/sessions/revoke', { token });
    expect((await test.call('admin', 'POST', '/v1/sessions/touch', { token })).json()).toEqual({
      touched: false,
    });
  });

  it('revokes with the default reason logout, once', async () => {
    const { token, id } = await createSession(test, 'admin');
    const first = await test.call('admin', 'POST', '/v1/sessions/revoke', { token });
    expect(first.json()).toEqual({ revoked: true });
    const second = await test.call('admin', 'POST', '/v1/sessions/revoke', { token });
    expect(second.json()).toEqual({ revoked: false });
    const view = await test.call('admin', 'GET', `/v1/sessions/${id}`);
    expect(view.json()).toMatchObject({ active: false, endReason: 'logout' });
  });

  it('revokes with a caller-defined reason, and refuses malformed or timeout reasons', async () => {
    const { token, id } = await createSession(test, 'admin');
    for (const reason of ['Bad Reason', 'idle_timeout', 'x'.repeat(65)]) {
      const response = await test.call('admin', 'POST', '/v1/sessions/revoke', { token, reason });
      expectProblem(response, 400, 'INVALID_ARGUMENT', 'reason');
    }
    const ok = await test.call('admin', 'POST', '/v1/sessions/revoke', {
      token,
      reason: 'suspicious_activity',
    });
    expect(ok.json()).toEqual({ revoked: true });
    expect((await test.call('admin', 'GET', `/v1/sessions/${id}`)).json().endReason).toBe(
      'suspicious_activity',
    );
  });

  it('rotates: the new token works, the old one stops at once, the session keeps its id', async () => {
    const { token, id } = await createSession(test, 'admin');
    const response = await test.call('admin', 'POST', '/v1/sessions/rotate', { token });
    expect(response.statusCode).toBe(200);
    const rotated = response.json();
    expect(rotated.token).not.toBe(token);
    expect(rotated.session).toMatchObject({ id, absoluteExpiresAt: '2026-03-01T21:00:00.000Z' });
    const old = await test.call('admin', 'POST', '/v1/sessions/validate', { token });
    expect(old.json().valid).toBe(false);
    const fresh = await test.call('admin', 'POST', '/v1/sessions/validate', {
      token: rotated.token,
    });
    expect(fresh.json()).toMatchObject({ valid: true, session: { id } });
  });

  it('answers 404 when rotating a token that is not valid', async () => {
    const response = await test.call('admin', 'POST', '/v1/sessions/rotate', {
      token: 'A'.repeat(43),
    });
    expectProblem(response, 404, 'NOT_FOUND');
  });
});

describe('GET and DELETE /v1/sessions/{id}', () => {
  it('reads a session by id, and 404s an unknown id', async () => {
    const { id } = await createSession(test, 'admin');
    const response = await test.call('admin', 'GET', `/v1/sessions/${id}`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ id, active: true });
    expectProblem(
      await test.call('admin', 'GET', '/v1/sessions/00000000-0000-4000-8000-000000000000'),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await test.call('admin', 'GET', `/v1/sessions/${'x'.repeat(65)}`),
      400,
      'INVALID_ARGUMENT',
      'id',
    );
  });

  it('ends a session by id with a reason; again answers revoked: false; unknown is 404', async () => {
    const { id, token } = await createSession(test, 'admin');
    const response = await test.call('admin', 'DELETE', `/v1/sessions/${id}?reason=admin_revoke`);
    expect(response.json()).toEqual({ revoked: true });
    expect((await test.call('admin', 'DELETE', `/v1/sessions/${id}`)).json()).toEqual({
      revoked: false,
    });
    expect((await test.call('admin', 'GET', `/v1/sessions/${id}`)).json().endReason).toBe(
      'admin_revoke',
    );
    expect(
      (await test.call('admin', 'POST', '/v1/sessions/validate', { token })).json().valid,
    ).toBe(false);
    expectProblem(
      await test.call('admin', 'DELETE', '/v1/sessions/00000000-0000-4000-8000-000000000000'),
      404,
      'NOT_FOUND',
    );
    expectProblem(
      await test.call('admin', 'DELETE', `/v1/sessions/${id}?reason=Not%20valid`),
      400,
      'INVALID_ARGUMENT',
      'reason',
    );
    expectProblem(
      await test.call('admin', 'DELETE', `/v1/sessions/${id}?other=1`),
      400,
      'INVALID_ARGUMENT',
      'other',
    );
  });
});

describe('/v1/users/{userId}/sessions', () => {
  it('lists valid sessions, most recently active first, leaving ended ones out', async () => {
    const first = await createSession(test, 'admin', { userId: 'bob', tenantId: 'acme' });
    test.clock.advance(1000);
    const second = await createSession(test, 'admin', { userId: 'bob', tenantId: 'globex' });
    test.clock.advance(1000);
    const ended = await createSession(test, 'admin', { userId: 'bob' });
    await test.call('admin', 'POST', '/v1/sessions/revoke', { token: ended.token });
    await createSession(test, 'admin', { userId: 'carol' });

    const all = await test.call('admin', 'GET', '/v1/users/bob/sessions');
    expect(all.json().sessions.map((s: { id: string }) => s.id)).toEqual([second.id, first.id]);
    const acme = await test.call('admin', 'GET', '/v1/users/bob/sessions?tenantId=acme');
    expect(acme.json().sessions.map((s: { id: string }) => s.id)).toEqual([first.id]);
    const none = await test.call('admin', 'GET', '/v1/users/nobody/sessions');
    expect(none.json()).toEqual({ sessions: [], nextCursor: null });
  });

  it('pages with limit and cursor, without repeats or gaps while sessions come and go', async () => {
    const made: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      test.clock.advance(1000);
      made.push((await createSession(test, 'acme', { userId: 'pam' })).id);
    }
    const newestFirst = [...made].reverse();
    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? '?limit=3' : `?limit=3&cursor=${cursor}`;
      const response = await test.call('acme', 'GET', `/v1/users/pam/sessions${query}`);
      expect(response.statusCode).toBe(200);
      const page = response.json() as {
        sessions: Array<{ id: string }>;
        nextCursor: string | null;
      };
      pages.push(page.sessions.map((s) => s.id));
      cursor = page.nextCursor;
      if (pages.length === 1) {
        // Between pages: a new session (ahead of the cursor) and one of the next page ended.
        test.clock.advance(1000);
        await createSession(test, 'acme', { userId: 'pam' });
        await test.call('acme', 'DELETE', `/v1/sessions/${newestFirst[4]}`);
      }
    } while (cursor !== null);
    expect(pages).toEqual([
      newestFirst.slice(0, 3),
      [newestFirst[3], newestFirst[5], newestFirst[6]],
    ]);
    // The default page is 100, the largest 1000.
    const whole = await test.call('acme', 'GET', '/v1/users/pam/sessions');
    expect(whole.json().sessions).toHaveLength(7);
    expect(whole.json().nextCursor).toBeNull();
    for (const query of ['limit=0', 'limit=1001', 'limit=ten', 'limit=2.5']) {
      expectProblem(
        await test.call('acme', 'GET', `/v1/users/pam/sessions?${query}`),
        400,
        'INVALID_ARGUMENT',
        'limit',
      );
    }
    for (const query of ['cursor=', 'cursor=not%20a%20cursor', 'cursor=AAAA']) {
      expectProblem(
        await test.call('acme', 'GET', `/v1/users/pam/sessions?${query}`),
        400,
        'INVALID_ARGUMENT',
        'cursor',
      );
    }
  });

  it('decodes a percent-encoded user id', async () => {
    const { id } = await createSession(test, 'admin', { userId: 'a/b c@é' });
    const response = await test.call(
      'admin',
      'GET',
      `/v1/users/${encodeURIComponent('a/b c@é')}/sessions`,
    );
    expect(response.json().sessions.map((s: { id: string }) => s.id)).toEqual([id]);
  });

  it('ends all of a user’s sessions, optionally keeping one or limiting to a tenant', async () => {
    const keep = await createSession(test, 'admin', { userId: 'dave', tenantId: 'acme' });
    await createSession(test, 'admin', { userId: 'dave', tenantId: 'acme' });
    const other = await createSession(test, 'admin', { userId: 'dave', tenantId: 'globex' });
    const noTenant = await createSession(test, 'admin', { userId: 'dave' });

    const scoped = await test.call('admin', 'POST', '/v1/users/dave/sessions/revoke', {
      tenantId: 'acme',
      exceptSessionId: keep.id,
    });
    expect(scoped.json()).toEqual({ revoked: 1 });
    const nullTenant = await test.call('admin', 'POST', '/v1/users/dave/sessions/revoke', {
      tenantId: null,
    });
    expect(nullTenant.json()).toEqual({ revoked: 1 });
    expect((await test.call('admin', 'GET', `/v1/sessions/${noTenant.id}`)).json().endReason).toBe(
      'password_change',
    );
    // An empty POST (no body at all) ends the rest, every tenant.
    const rest = await test.app.inject({
      method: 'POST',
      url: '/v1/users/dave/sessions/revoke',
      headers: { authorization: `Bearer ${KEYS.admin}` },
    });
    expect(rest.json()).toEqual({ revoked: 2 });
    expect((await test.call('admin', 'GET', `/v1/sessions/${other.id}`)).json().active).toBe(false);
  });

  it('answers 400 for a malformed body or query', async () => {
    expectProblem(
      await test.call('admin', 'POST', '/v1/users/dave/sessions/revoke', { reason: 'NOPE' }),
      400,
      'INVALID_ARGUMENT',
      'reason',
    );
    expectProblem(
      await test.call('admin', 'GET', `/v1/users/dave/sessions?tenantId=`),
      400,
      'INVALID_ARGUMENT',
      'tenantId',
    );
    expectProblem(
      await test.call('admin', 'GET', `/v1/users/${'u'.repeat(256)}/sessions`),
      400,
      'INVALID_ARGUMENT',
      'userId',
    );
  });
});

describe('operations', () => {
  it('sweeps expired sessions (admin only)', async () => {
    await createSession(test, 'admin');
    await createSession(test, 'admin');
    test.clock.advance(31 * 60_000);
    const response = await test.call('admin', 'POST', '/v1/sweep');
    expect(response.json()).toEqual({ absolute: 0, idle: 2 });
    expectProblem(await test.call('acme', 'POST', '/v1/sweep'), 403, 'FORBIDDEN');
  });

  it('serves /healthz and /readyz without a key', async () => {
    expect((await test.call(null, 'GET', '/healthz')).json()).toEqual({ status: 'ok' });
    expect((await test.call(null, 'GET', '/readyz')).json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz 503 with Retry-After when the store does not answer', async () => {
    const store = new MemoryStore();
    store.ping = async () => {
      throw new Error('connection refused');
    };
    const broken = await createTestApp({ store });
    const response = await broken.call(null, 'GET', '/readyz');
    expectProblem(response, 503, 'STORE_UNAVAILABLE');
    expect(response.headers['retry-after']).toBe('5');
    await broken.close();
  });

  it('requires a metrics or admin key for /metrics and counts requests, validations, sessions and store latency', async () => {
    expectProblem(await test.call(null, 'GET', '/metrics'), 401, 'UNAUTHENTICATED');
    // The figures span every tenant: a tenant's key may not read them, whatever its scope.
    expectProblem(await test.call('acme', 'GET', '/metrics'), 403, 'FORBIDDEN');
    expectProblem(await test.call('everyTenant', 'GET', '/metrics'), 403, 'FORBIDDEN');
    expect((await test.call('admin', 'GET', '/metrics')).statusCode).toBe(200);
    const { token } = await createSession(test, 'admin');
    await test.call('admin', 'POST', '/v1/sessions/validate', { token });
    await test.call('admin', 'POST', '/v1/sessions/validate', { token: 'A'.repeat(43) });
    await test.call('admin', 'POST', '/v1/sessions/revoke', { token, reason: 'custom_reason' });
    await test.call(null, 'GET', '/v1/sessions/whatever');
    const response = await test.call('metrics', 'GET', '/metrics');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = response.body;
    expect(text).toContain(
      'curfew_http_requests_total{method="POST",route="/v1/sessions",status="201"} 1',
    );
    expect(text).toContain(
      'curfew_http_requests_total{method="GET",route="/v1/sessions/:id",status="401"} 1',
    );
    expect(text).toContain('curfew_validations_total{result="valid"} 1');
    expect(text).toContain('curfew_validations_total{result="not_found"} 1');
    expect(text).toContain('curfew_sessions_created_total 1');
    expect(text).toContain('curfew_sessions_ended_total{reason="other"} 1');
    expect(text).toMatch(
      /curfew_store_duration_seconds_count\{operation="validate",store="memory"\} 2\n/,
    );
    expect(text).toContain('# TYPE curfew_store_duration_seconds histogram');
    // The process's own, from prom-client: memory, heap, event-loop lag, GC.
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_gc_duration_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // Every sample line is `name{labels} value` or `name value` (blank lines, which the format
    // ignores, part the families).
    for (const line of text
      .trim()
      .split('\n')
      .filter((line) => line !== '')) {
      expect(line).toMatch(
        /^(# (HELP|TYPE) \S+ .+|[a-z_][a-z0-9_]*(\{[^}]*\})? ([0-9.e+-]+|NaN|Nan|[+-]Inf))$/i,
      );
    }
  });
});

describe('errors', () => {
  it('answers 401 with WWW-Authenticate: Bearer without a key, with a wrong key, or another scheme', async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-key-0123456789abcdefghijklmnopqrstuvwxyz' },
      { authorization: `Basic ${KEYS.admin}` },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${KEYS.admin} extra` },
    ];
    for (const headers of cases) {
      const response = await test.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers,
        payload: { userId: 'u' },
      });
      expectProblem(response, 401, 'UNAUTHENTICATED');
      expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="curfew"/);
    }
  });

  it('checks the key before reading the body', async () => {
    const response = await test.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { 'content-type': 'text/plain' },
      payload: 'x'.repeat(20_000),
    });
    expectProblem(response, 401, 'UNAUTHENTICATED');
  });

  it('answers 413 for a body over 16 KiB and 415 for a body that is not JSON', async () => {
    const big = await test.call('admin', 'POST', '/v1/sessions', {
      userId: 'u',
      userAgent: 'a'.repeat(17 * 1024),
    });
    expectProblem(big, 413, 'PAYLOAD_TOO_LARGE');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await test.app.inject({
        method: 'POST',
        url: '/v1/sessions',
        headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': type },
        payload: 'userId=u',
      });
      expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    }
  });

  it('answers 400 for malformed JSON, and says so', async () => {
    const response = await test.app.inject({
      method: 'POST',
      url: '/v1/sessions',
      headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
      payload: '{"userId": ',
    });
    const problem = expectProblem(response, 400, 'INVALID_ARGUMENT', 'body');
    expect(problem.detail).toBe('body: not well-formed JSON');
  });

  it.each([
    ['/v1/sessions', 'body: expected a JSON object', []],
    ['/v1/sessions', 'userId: expected a string or an integer', { userId: true }],
    ['/v1/sessions', 'tenantId: must not be empty', { userId: 'u', tenantId: '' }],
    ['/v1/sessions', 'tenantID: is not a known field', { userId: 'u', tenantID: 'acme' }],
    ['/v1/sessions', 'aal: expected one of 1, 2, 3', { userId: 'u', aal: 5 }],
    ['/v1/sessions/touch', 'token: is required', {}],
    ['/v1/sessions/touch', 'token: expected at most 1024 characters', { token: 'x'.repeat(1025) }],
    [
      '/v1/sessions/revoke',
      'reason: expected 1 to 64 characters from a-z0-9_',
      { token: 't', reason: 'Signed Out' },
    ],
    [
      '/v1/sessions/reauthenticate',
      'methods: expected at most 8 items',
      { token: 't', methods: Array(9).fill('pwd') },
    ],
    [
      '/v1/sessions/reauthenticate',
      'methods.1: expected a string',
      { token: 't', methods: ['pwd', 7] },
    ],
  ])('explains a bad body to %s in words, not the validator’s: "%s"', async (url, detail, body) => {
    const response = await test.call('admin', 'POST', url, body);
    const problem = expectProblem(response, 400, 'INVALID_ARGUMENT');
    expect(problem.detail).toBe(detail);
    expect(problem.field).toBe(detail.split(':')[0]);
  });

  it('takes an empty JSON body as no body: `{}` where every field is optional, 400 elsewhere', async () => {
    const empty = (url: string) =>
      test.app.inject({
        method: 'POST',
        url,
        headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
        payload: '',
      });
    expect((await empty('/v1/sweep')).statusCode).toBe(200);
    const revoked = await empty('/v1/users/u/sessions/revoke');
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toEqual({ revoked: 0 });
    const problem = expectProblem(await empty('/v1/sessions'), 400, 'INVALID_ARGUMENT', 'body');
    expect(problem.detail).toBe('body: expected a JSON object');
    // A sweep takes nothing: a field in its body is a mistake to point out, not to ignore.
    expectProblem(
      await test.call('admin', 'POST', '/v1/sweep', { before: 'now' }),
      400,
      'INVALID_ARGUMENT',
      'before',
    );
  });

  it.each([
    ['GET', '/v1/sweep', 'POST'],
    ['PUT', '/v1/sessions', 'POST'],
    // Both /v1/sessions/revoke-all and /v1/sessions/:id match: every method either answers.
    ['PUT', '/v1/sessions/revoke-all', 'GET, HEAD, POST, DELETE'],
    ['POST', '/v1/sessions/abc', 'GET, HEAD, DELETE'],
    ['DELETE', '/v1/users/42/sessions', 'GET, HEAD'],
    ['POST', '/healthz?x=1', 'GET, HEAD'],
  ] as const)('answers %s %s with 405 and Allow: %s', async (method, url, allow) => {
    const response = await test.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${KEYS.admin}` },
    });
    expectProblem(response, 405, 'METHOD_NOT_ALLOWED');
    expect(response.headers.allow).toBe(allow);
  });

  it('answers 404 for an unknown route and a malformed path as 400', async () => {
    expectProblem(await test.call('admin', 'GET', '/v2/nothing'), 404, 'NOT_FOUND');
    expectProblem(
      await test.call('admin', 'GET', '/v1/sessions/%E0%A4%A'),
      400,
      'INVALID_ARGUMENT',
      'path',
    );
  });

  it('answers 503 STORE_UNAVAILABLE with Retry-After when the store cannot be reached', async () => {
    const store = new MemoryStore();
    store.validate = async () => {
      throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432; row abc'), {
        code: 'ECONNREFUSED',
      });
    };
    const broken = await createTestApp({ store });
    const response = await broken.call('admin', 'POST', '/v1/sessions/validate', {
      token: 'A'.repeat(43),
    });
    const problem = expectProblem(response, 503, 'STORE_UNAVAILABLE');
    expect(response.headers['retry-after']).toBe('5');
    expect(JSON.stringify(problem)).not.toContain('ECONNREFUSED');
    expect(broken.logs.join('')).not.toContain('row abc');
    expect(broken.logs.join('')).toContain('ECONNREFUSED');
    await broken.close();
  });

  it('answers 500 STORE_ERROR when the store answers with something unexpected, and logs it', async () => {
    const hash = 'ab12cd34'.repeat(8);
    const store = new MemoryStore();
    store.insert = async () => {
      throw Object.assign(
        new Error(`duplicate key value violates unique constraint: (token_hash)=(${hash})`),
        { code: '23505' },
      );
    };
    const broken = await createTestApp({ store });
    const response = await broken.call('admin', 'POST', '/v1/sessions', { userId: 'u' });
    const problem = expectProblem(response, 500, 'STORE_ERROR');
    expect(response.headers['retry-after']).toBeUndefined();
    expect(JSON.stringify(problem)).not.toContain('duplicate');
    const logs = broken.logs.join('');
    // The library's line has the message and stack, the hash cut to its first 8 characters; the
    // service's ties it to the request.
    expect(logs).toContain('duplicate key value violates unique constraint');
    expect(logs).toContain('"stack":');
    expect(logs).toContain('ab12cd34…');
    expect(logs).not.toContain(hash);
    const line = broken.logs.find((l) => l.includes('"msg":"store error"'));
    expect(JSON.parse(line!)).toMatchObject({ level: 50, cause: { code: '23505' } });
    await broken.close();
  });

  it('answers a genuine bug with a 500 that says nothing about internals', async () => {
    class BuggyManager extends SessionManager {
      override async validate(): Promise<never> {
        throw new TypeError('cannot read /srv/secret/config of undefined');
      }
    }
    const app = buildApp({
      manager: new BuggyManager({ store: new MemoryStore() }),
      keys: new ApiKeyring([
        { name: 'admin', tenantId: null, scope: 'admin', sha256: hashApiKey(KEYS.admin) },
      ]),
    });
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sessions/validate',
      headers: { authorization: `Bearer ${KEYS.admin}` },
      payload: { token: 'A'.repeat(43) },
    });
    const problem = expectProblem(response, 500, 'INTERNAL');
    expect(JSON.stringify(problem)).not.toContain('secret');
    await app.close();
  });
});

describe('every response', () => {
  it('carries Cache-Control: no-store and an x-request-id, errors included', async () => {
    const { token } = await createSession(test, 'admin');
    const responses = [
      await test.call('admin', 'POST', '/v1/sessions/validate', { token }),
      await test.call(null, 'GET', '/healthz'),
      await test.call(null, 'GET', '/openapi.json'),
      await test.call('admin', 'GET', '/metrics'),
      await test.call(null, 'POST', '/v1/sessions', {}),
      await test.call('admin', 'GET', '/nowhere'),
      await test.call('admin', 'GET', '/v1/sessions/%zz'),
      await test.call('admin', 'POST', '/v1/sessions', {
        userId: 'u',
        userAgent: 'a'.repeat(20_000),
      }),
    ];
    const ids = new Set<string>();
    for (const response of responses) {
      expect(response.headers['cache-control']).toBe('no-store');
      expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      ids.add(String(response.headers['x-request-id']));
    }
    expect(ids.size).toBe(responses.length);
  });

  it('keeps a well-formed incoming x-request-id and replaces a malformed one', async () => {
    const kept = await test.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'trace-abc.123:4' },
    });
    expect(kept.headers['x-request-id']).toBe('trace-abc.123:4');
    const replaced = await test.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': 'has spaces and "quotes"' },
    });
    expect(replaced.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('request logs', () => {
  it('carry the request id and never a body, a token or an API key', async () => {
    const { token, id } = await createSession(test, 'acme', {
      userId: 'u',
      userAgent: 'UA-SECRET',
    });
    await test.call('acme', 'POST', '/v1/sessions/validate', { token });
    const rotated = (await test.call('acme', 'POST', '/v1/sessions/rotate', { token })).json()
      .token;
    await test.call('acme', 'POST', '/v1/sessions/revoke', { token: rotated });
    // A client that wrongly puts a token in the path must not get it logged either.
    await test.call('acme', 'GET', `/v1/sessions/${token}`);
    await test.call(null, 'GET', `/nowhere/${token}`);
    await test.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { authorization: `Bearer ${KEYS.admin}` },
    });

    const all = test.logs.join('');
    for (const secret of [token, rotated, KEYS.acme, KEYS.admin, 'UA-SECRET']) {
      expect(all).not.toContain(secret);
    }
    const lines = test.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(7);
    for (const line of requests) {
      expect(line.requestId).toEqual(expect.any(String));
      expect(Object.keys(line)).not.toContain('body');
    }
    expect(requests.some((line) => line.route === '/v1/sessions/:id' && line.key === 'acme')).toBe(
      true,
    );
    expect(all).toContain(id);
  });

  it('stay valid JSON whatever a client puts in the request id, the path or the method', async () => {
    // The writer puts the request id, method and route between quotes unescaped: it relies on
    // the id being checked and the route being a pattern, never what the client sent.
    const before = test.logs.length;
    const sent = [
      await test.app.inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': 'a"b\\c\u2028' },
      }),
      await test.app.inject({ method: 'GET', url: '/nowhere/"},{"x":"\\' }),
      await test.app.inject({ method: 'OPTIONS', url: '/v1/sessions/"' }),
    ];
    const requests = test.logs
      .slice(before)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'request');
    expect(requests).toHaveLength(sent.length);
    expect(requests.map((line) => line.requestId)).toEqual(
      sent.map((res) => res.headers['x-request-id']),
    );
    expect(requests[0]!.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(requests.map((line) => line.route)).toEqual(['/healthz', '(unmatched)', '(unmatched)']);
    expect(requests[2]!.method).toBe('OPTIONS');
  });

  it('are one line per request, whatever the answer, with the status sent and a duration', async () => {
    const { token } = await createSession(test, 'admin', { userId: 'one-line' });
    const before = test.logs.length;
    const sent = [
      await test.call('admin', 'POST', '/v1/sessions/validate', { token }),
      await test.call('admin', 'POST', '/v1/sessions/validate', { token: 42 }),
      await test.call(null, 'POST', '/v1/sessions/validate', { token }),
      await test.call('admin', 'GET', '/nowhere'),
      await test.call('admin', 'GET', '/v1/sessions/%zz'),
      await test.call(null, 'GET', '/healthz'),
    ];
    const requests = test.logs
      .slice(before)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.msg === 'request');
    expect(requests.map((line) => line.status)).toEqual(sent.map((res) => res.statusCode));
    expect(requests.map((line) => line.requestId)).toEqual(
      sent.map((res) => res.headers['x-request-id']),
    );
    for (const line of requests) {
      expect(line.ms).toEqual(expect.any(Number));
      expect(line.ms).toBeGreaterThanOrEqual(0);
      expect(line.ms).toBeLessThan(10_000);
    }
  });
});
