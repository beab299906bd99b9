import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSession, createTestApp, type KeyName, type TestApp } from './support/test-app.js';

let test: TestApp;
beforeEach(async () => {
  test = await createTestApp();
});
afterEach(async () => {
  await test.close();
});

const MISSING_ID = '00000000-0000-4000-8000-000000000000';
const MISSING_TOKEN = 'A'.repeat(43);

/** A response with what varies per request (its id, its date) left out. */
function shape(response: { statusCode: number; headers: Record<string, unknown>; body: string }) {
  const { 'x-request-id': _id, date: _date, ...headers } = response.headers;
  return {
    status: response.statusCode,
    headers,
    body: response.body.replaceAll(/"serverTime":"[^"]+"/g, ''),
  };
}

async function lastActivity(id: string): Promise<string> {
  return (await test.call('admin', 'GET', `/v1/sessions/${id}`)).json().lastActivityAt;
}

async function isActive(id: string): Promise<boolean> {
  return (await test.call('admin', 'GET', `/v1/sessions/${id}`)).json().active;
}

// Each pair: whose session (by the key that created it, or admin for a session without tenant)
// and the key that must not see it.
const DIRECTIONS: [string, KeyName, Record<string, unknown>, KeyName][] = [
  ['acme’s session, globex key', 'acme', { userId: 'bob' }, 'globex'],
  ['globex’s session, acme key', 'globex', { userId: 'bob' }, 'acme'],
  ['a session without tenant, acme key', 'admin', { userId: 'bob' }, 'acme'],
  [
    'an admin-made acme session, globex key',
    'admin',
    { userId: 'bob', tenantId: 'acme' },
    'globex',
  ],
];

describe.each(DIRECTIONS)('%s', (_name, owner, body, intruder) => {
  it('cannot validate, touch, rotate or revoke it by token, and nothing changes', async () => {
    const { token, id } = await createSession(test, owner, body);
    test.clock.advance(5 * 60_000);

    const validate = await test.call(intruder, 'POST', '/v1/sessions/validate', { token });
    const missing = await test.call(intruder, 'POST', '/v1/sessions/validate', {
      token: MISSING_TOKEN,
    });
    expect(shape(validate)).toEqual(shape(missing));
    expect(validate.json()).toMatchObject({ valid: false, reason: 'not_found' });

    expect((await test.call(intruder, 'POST', '/v1/sessions/touch', { token })).json()).toEqual({
      touched: false,
    });
    const rotate = await test.call(intruder, 'POST', '/v1/sessions/rotate', { token });
    const rotateMissing = await test.call(intruder, 'POST', '/v1/sessions/rotate', {
      token: MISSING_TOKEN,
    });
    expect(shape(rotate)).toEqual(shape(rotateMissing));
    expect(rotate.statusCode).toBe(404);
    expect((await test.call(intruder, 'POST', '/v1/sessions/revoke', { token })).json()).toEqual({
      revoked: false,
    });

    // No activity was recorded on it, it was not rotated away, and it is still active.
    expect(await lastActivity(id)).toBe('2026-03-01T09:00:00.000Z');
    expect(await isActive(id)).toBe(true);
    const stillValid = await test.call('admin', 'POST', '/v1/sessions/validate', { token });
    expect(stillValid.json().valid).toBe(true);
  });

  it('gets a 404 by id identical to a missing id, for reading and ending', async () => {
    const { id } = await createSession(test, owner, body);
    const read = await test.call(intruder, 'GET', `/v1/sessions/${id}`);
    const readMissing = await test.call(intruder, 'GET', `/v1/sessions/${MISSING_ID}`);
    expect(read.statusCode).toBe(404);
    expect(shape(read)).toEqual(shape(readMissing));

    const end = await test.call(intruder, 'DELETE', `/v1/sessions/${id}`);
    const endMissing = await test.call(intruder, 'DELETE', `/v1/sessions/${MISSING_ID}`);
    expect(end.statusCode).toBe(404);
    expect(shape(end)).toEqual(shape(endMissing));
    expect(await isActive(id)).toBe(true);
  });

  it('does not list it or end it with the user’s sessions', async () => {
    const { id } = await createSession(test, owner, body);
    const list = await test.call(intruder, 'GET', '/v1/users/bob/sessions');
    expect(list.json().sessions.map((s: { id: string }) => s.id)).not.toContain(id);
    const revoke = await test.call(intruder, 'POST', '/v1/users/bob/sessions/revoke', {});
    expect(revoke.json()).toEqual({ revoked: 0 });
    expect(await isActive(id)).toBe(true);
  });

  it('answers not_found, not its expiry reason, once it has expired or ended', async () => {
    const { token: expired } = await createSession(test, owner, body);
    const { token: ended } = await createSession(test, owner, body);
    await test.call('admin', 'POST', '/v1/sessions/revoke', { token: ended });
    test.clock.advance(31 * 60_000);
    for (const token of [expired, ended]) {
      const response = await test.call(intruder, 'POST', '/v1/sessions/validate', { token });
      expect(response.json()).toEqual({
        valid: false,
        reason: 'not_found',
        serverTime: '2026-03-01T09:31:00.000Z',
      });
    }
    // Its owner still learns why.
    const ownerKey = owner === 'admin' ? 'admin' : owner;
    const own = await test.call(ownerKey, 'POST', '/v1/sessions/validate', { token: expired });
    expect(own.json()).toMatchObject({ valid: false, reason: 'idle' });
  });
});

describe('a tenant key', () => {
  it('creates sessions in its own tenant by default, and only there', async () => {
    const { session } = await createSession(test, 'acme', { userId: 'bob' });
    expect(session.tenantId).toBe('acme');
    const same = await createSession(test, 'acme', { userId: 'bob', tenantId: 'acme' });
    expect(same.session.tenantId).toBe('acme');
    for (const tenantId of ['globex', null]) {
      const response = await test.call('acme', 'POST', '/v1/sessions', { userId: 'bob', tenantId });
      expect(response.statusCode).toBe(403);
      expect(response.json().code).toBe('FORBIDDEN');
    }
  });

  it('is refused with 403 when it names another tenant in a list or a bulk revoke', async () => {
    const list = await test.call('acme', 'GET', '/v1/users/bob/sessions?tenantId=globex');
    expect(list.statusCode).toBe(403);
    const revoke = await test.call('acme', 'POST', '/v1/users/bob/sessions/revoke', {
      tenantId: 'globex',
    });
    expect(revoke.statusCode).toBe(403);
    const revokeNull = await test.call('acme', 'POST', '/v1/users/bob/sessions/revoke', {
      tenantId: null,
    });
    expect(revokeNull.statusCode).toBe(403);
  });

  it('works fully on its own tenant’s sessions', async () => {
    const { token, id } = await createSession(test, 'acme', { userId: 'bob' });
    await createSession(test, 'globex', { userId: 'bob' });
    test.clock.advance(2 * 60_000);
    const valid = await test.call('acme', 'POST', '/v1/sessions/validate', { token });
    expect(valid.json()).toMatchObject({ valid: true, session: { id, tenantId: 'acme' } });
    expect(await lastActivity(id)).toBe('2026-03-01T09:02:00.000Z');
    expect((await test.call('acme', 'GET', `/v1/sessions/${id}`)).statusCode).toBe(200);
    const list = await test.call('acme', 'GET', '/v1/users/bob/sessions?tenantId=acme');
    expect(list.json().sessions.map((s: { id: string }) => s.id)).toEqual([id]);
    const rotated = (await test.call('acme', 'POST', '/v1/sessions/rotate', { token })).json();
    expect(rotated.session.id).toBe(id);
    expect(
      (await test.call('acme', 'POST', '/v1/sessions/revoke', { token: rotated.token })).json(),
    ).toEqual({ revoked: true });
    expect((await test.call('admin', 'GET', `/v1/sessions/${id}`)).json().endReason).toBe('logout');
    const users = await test.call('acme', 'POST', '/v1/users/bob/sessions/revoke', {});
    expect(users.json()).toEqual({ revoked: 0 });
    const globexStill = await test.call('globex', 'GET', '/v1/users/bob/sessions');
    expect(globexStill.json().sessions).toHaveLength(1);
  });

  it('costs one store call per validation, the tenant checked inside the store', async () => {
    const { token } = await createSession(test, 'acme', { userId: 'bob' });
    const storeCalls = async () =>
      Number(
        /curfew_store_duration_seconds_count\{operation="validate",store="memory"\} (\d+)/.exec(
          await test.metrics.render(),
        )?.[1] ?? 0,
      );
    test.clock.advance(61_000);
    const touchedAt = test.clock.now();
    const before = await storeCalls();
    await test.call('acme', 'POST', '/v1/sessions/validate', { token }); // due: check and touch
    expect((await storeCalls()) - before).toBe(1);
    for (let i = 0; i < 10; i += 1) {
      test.clock.advance(1000);
      await test.call('acme', 'POST', '/v1/sessions/validate', { token });
    }
    expect((await storeCalls()) - before).toBe(11);
    // Another tenant's key: one call too, answered as unknown, and the session not touched.
    test.clock.advance(61_000);
    const other = await test.call('globex', 'POST', '/v1/sessions/validate', { token });
    expect(other.json()).toMatchObject({ valid: false, reason: 'not_found' });
    expect((await storeCalls()) - before).toBe(12);
    const view = await test.call('acme', 'POST', '/v1/sessions/validate', { token, touch: false });
    expect(Date.parse(view.json().session.lastActivityAt)).toBe(touchedAt);
  });
});

describe('an admin key', () => {
  it('sees and ends every tenant’s sessions', async () => {
    const acme = await createSession(test, 'acme', { userId: 'bob' });
    const globex = await createSession(test, 'globex', { userId: 'bob' });
    const list = await test.call('admin', 'GET', '/v1/users/bob/sessions');
    expect(
      list
        .json()
        .sessions.map((s: { id: string }) => s.id)
        .sort(),
    ).toEqual([acme.id, globex.id].sort());
    for (const { token } of [acme, globex]) {
      expect(
        (await test.call('admin', 'POST', '/v1/sessions/validate', { token })).json().valid,
      ).toBe(true);
    }
    expect((await test.call('admin', 'POST', '/v1/users/bob/sessions/revoke', {})).json()).toEqual({
      revoked: 2,
    });
  });
});

describe('key scopes', () => {
  it('a validate key validates its own tenant’s sessions and does nothing else', async () => {
    const { token, session } = await createSession(test, 'acme', { userId: 'bob' });
    const other = await createSession(test, 'globex', { userId: 'bob' });
    const valid = await test.call('acmeValidator', 'POST', '/v1/sessions/validate', { token });
    expect(valid.json()).toMatchObject({ valid: true, session: { id: session.id } });
    // Another tenant's token looks like no session at all, as for any tenant key.
    expect(
      (
        await test.call('acmeValidator', 'POST', '/v1/sessions/validate', { token: other.token })
      ).json(),
    ).toMatchObject({ valid: false, reason: 'not_found' });
    const refused: [string, string, unknown?][] = [
      ['POST', '/v1/sessions', { userId: 'bob' }],
      ['POST', '/v1/sessions/touch', { token }],
      ['POST', '/v1/sessions/revoke', { token }],
      ['POST', '/v1/sessions/rotate', { token }],
      ['GET', `/v1/sessions/${session.id}`],
      ['DELETE', `/v1/sessions/${session.id}`],
      ['GET', '/v1/users/bob/sessions'],
      ['POST', '/v1/users/bob/sessions/revoke', {}],
      ['POST', '/v1/tenants/acme/sessions/revoke', {}],
      ['GET', '/metrics'],
    ];
    for (const [method, url, body] of refused) {
      const response = await test.call('acmeValidator', method as 'GET', url, body);
      expect([url, response.statusCode, response.json().code]).toEqual([url, 403, 'FORBIDDEN']);
    }
    // Nothing it was refused happened: the session is still there and still valid.
    expect(await isActive(session.id as string)).toBe(true);
  });

  it('a sessions key for every tenant manages every tenant’s sessions, but is no admin', async () => {
    const acme = await createSession(test, 'acme', { userId: 'bob' });
    const listed = await test.call('everyTenant', 'GET', '/v1/users/bob/sessions?tenantId=acme');
    expect(listed.json().sessions.map((s: { id: string }) => s.id)).toEqual([acme.id]);
    expect(
      (await test.call('everyTenant', 'POST', '/v1/sessions/revoke', { token: acme.token }))
        .statusCode,
    ).toBe(200);
    expect(await isActive(acme.id)).toBe(false);
    for (const url of ['/v1/sweep', '/v1/sessions/revoke-all', '/metrics']) {
      const method = url === '/metrics' ? 'GET' : 'POST';
      const response = await test.call(
        'everyTenant',
        method,
        url,
        method === 'POST' ? {} : undefined,
      );
      expect([url, response.statusCode]).toEqual([url, 403]);
    }
  });

  it('a metrics key reads /metrics and nothing under /v1', async () => {
    const { token } = await createSession(test, 'acme', { userId: 'bob' });
    expect((await test.call('metrics', 'GET', '/metrics')).statusCode).toBe(200);
    for (const [method, url, body] of [
      ['POST', '/v1/sessions/validate', { token }],
      ['POST', '/v1/sessions', { userId: 'bob' }],
      ['POST', '/v1/sweep', {}],
    ] as const) {
      expect((await test.call('metrics', method, url, body)).statusCode).toBe(403);
    }
  });
});
