// One suite of HTTP cases, run against every framework integration (as hono runs one router
// suite against every router). Each framework's test file builds the same small app and says
// how to send it a request in-process; the cases below never know which framework answers.
//
// The app every framework must build:
//   POST /login?user=ID   optional   startSession({ userId: ID ?? '42' }) → { jwt, sessionId }
//   GET  /me              required   → { userId, sessionId }
//   GET  /status          touch:false → { secondsRemaining }
//   GET  /session/status  the integration's status route (never touches) → SessionStatus
//   POST /session/keep-alive  the integration's keep-alive route → SessionStatus
//   GET  /shared          noStore:false → { ok: true }
//   GET  /public          optional   → { userId | null, refusal | null }
//   POST /action          required   → { ok: true }
//   POST /logout          required   endSession() → { ended }
//   POST /renew           required   renewSession() → { jwt, renewed }
//   POST /sensitive       maxAge 5m, minAal 3 → { ok: true }
//   POST /reauthenticate?aal=N  required  reauthenticateSession({ aal, methods }) → { jwt, reauthenticated }
import {
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
} from 'jose';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SessionCarrier } from '../../src/carriers/carrier.js';
import { createJwtCarrier, type JwtCarrier } from '../../src/carriers/jwt.js';
import { MemoryStore, SessionManager, type SessionStore } from '../../src/index.js';
import { ManualClock } from '../../src/testing/index.js';

export interface TestRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: string;
}

export interface AppUnderTest {
  send(request: TestRequest): Promise<TestResponse>;
  close?(): Promise<void>;
}

export type MakeApp = (setup: {
  sessions: SessionManager;
  carrier?: SessionCarrier | undefined;
}) => Promise<AppUnderTest>;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const COOKIE = '__Host-session';
const ATTRIBUTES = 'Path=/; Secure; HttpOnly; SameSite=Lax';
const HOST = 'app.example.test';

function json(response: TestResponse): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}

function cookieFrom(response: TestResponse): string {
  const cookies = response.headers.getSetCookie();
  expect(cookies).toHaveLength(1);
  const match = new RegExp(`^${COOKIE}=([A-Za-z0-9_-]+);`).exec(cookies[0]!);
  expect(match, cookies[0]).not.toBeNull();
  return match![1]!;
}

function expectProblem(response: TestResponse, status: 401 | 403, reason: string): void {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(response.headers.get('cache-control')).toBe('no-store');
  expect(response.headers.get('session-expires-in')).toBeNull();
  expect(json(response)).toMatchObject({ status, reason });
}

/** A store whose every call fails, to see that a store failure never reads as "no session". */
function failingStore(): SessionStore {
  return new Proxy(new MemoryStore(), {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async () => {
        throw new Error('connection refused');
      };
    },
  });
}

export function runIntegrationCases(framework: string, makeApp: MakeApp): void {
  let clock: ManualClock;
  let sessions: SessionManager;
  let app: AppUnderTest;
  let open: AppUnderTest | undefined;

  async function replaceApp(setup: Parameters<MakeApp>[0]) {
    const previous = open;
    open = undefined;
    await previous?.close?.();
    app = await makeApp(setup);
    open = app;
  }

  async function start(carrier?: SessionCarrier, store: SessionStore = new MemoryStore()) {
    clock = new ManualClock();
    sessions = new SessionManager({ store, clock: clock.now });
    await replaceApp({ sessions, carrier });
  }

  afterEach(async () => {
    const previous = open;
    open = undefined;
    await previous?.close?.();
  });

  describe(`${framework} with the cookie carrier`, () => {
    beforeEach(async () => {
      await start();
    });

    const send = (request: TestRequest) =>
      app.send({ ...request, headers: { host: HOST, ...request.headers } });
    const withCookie = (token: string, request: TestRequest): TestRequest => ({
      ...request,
      headers: { cookie: `other=1; ${COOKIE}=${token}`, ...request.headers },
    });
    const login = async (user = '42') => {
      const response = await send({ method: 'POST', path: `/login?user=${user}` });
      expect(response.status).toBe(200);
      return cookieFrom(response);
    };

    it('sets a session cookie (no Max-Age: gone when the browser closes) with exactly the required attributes', async () => {
      const response = await send({ method: 'POST', path: '/login' });
      expect(response.status).toBe(200);
      const [cookie] = response.headers.getSetCookie();
      expect(cookie).toMatch(new RegExp(`^${COOKIE}=[A-Za-z0-9_-]{43}; ${ATTRIBUTES}$`));
      expect(cookie).not.toMatch(/Domain|Expires|Max-Age/i);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('session-expires-in')).toBe('1800');
      expect(json(response).jwt).toBeNull();
    });

    it('lets a valid session in, exposes it typed, and sends the remaining seconds', async () => {
      const token = await login('alice');
      clock.advance(10 * MINUTE);
      const response = await send(withCookie(token, { path: '/me' }));
      expect(response.status).toBe(200);
      expect(json(response)).toMatchObject({ userId: 'alice' });
      expect(response.headers.get('session-expires-in')).toBe('1800');
      expect(response.headers.get('session-idle-expires-in')).toBe('1800');
      expect(response.headers.get('session-absolute-expires-in')).toBe(String(12 * 3600 - 600));
      expect(response.headers.get('session-warning')).toBeNull();
      // Every authenticated response, not only refusals: no cache may keep a user's page.
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('clear-site-data')).toBeNull();
    });

    it('leaves Cache-Control to a route that opts out of no-store, but never on a refusal', async () => {
      const token = await login();
      const shared = await send(withCookie(token, { path: '/shared' }));
      expect(shared.status).toBe(200);
      expect(shared.headers.get('cache-control')).toBeNull();
      expect(shared.headers.get('session-expires-in')).toBe('1800');
      expectProblem(await send({ path: '/shared' }), 401, 'missing');
    });

    it('refuses a request without a cookie: 401 problem+json with a Cookie challenge', async () => {
      const response = await send({ path: '/me' });
      expectProblem(response, 401, 'missing');
      expect(response.headers.get('www-authenticate')).toBe(`Cookie cookie-name="${COOKIE}"`);
      expect(json(response)).toEqual({
        type: 'urn:curfew:problem:unauthenticated',
        title: 'Unauthorized',
        status: 401,
        detail: 'this request needs a session; sign in first',
        code: 'UNAUTHENTICATED',
        reason: 'missing',
      });
    });

    it('refuses a malformed cookie without asking the store, and clears it', async () => {
      const response = await send(withCookie('not%20a%20token', { path: '/me' }));
      expectProblem(response, 401, 'invalid');
      expect(response.headers.getSetCookie()).toEqual([`${COOKIE}=; Max-Age=0; ${ATTRIBUTES}`]);
      expect(response.headers.get('clear-site-data')).toBeNull();
    });

    it('refuses an unknown token as ended, and clears the site data', async () => {
      const response = await send(withCookie('A'.repeat(43), { path: '/me' }));
      expectProblem(response, 401, 'ended');
      expect(response.headers.get('clear-site-data')).toBe('"cookies", "cache"');
    });

    it('refuses a session that idled out, with the reason, and clears the site data', async () => {
      const token = await login();
      clock.advance(30 * MINUTE);
      const response = await send(withCookie(token, { path: '/me' }));
      expectProblem(response, 401, 'idle');
      expect(response.headers.getSetCookie()).toEqual([`${COOKIE}=; Max-Age=0; ${ATTRIBUTES}`]);
      expect(response.headers.get('clear-site-data')).toBe('"cookies", "cache"');
    });

    it('refuses a session past its absolute expiry, however active', async () => {
      const token = await login();
      for (let elapsed = 0; elapsed < 12 * HOUR; elapsed += 20 * MINUTE) {
        clock.advance(20 * MINUTE);
        await send(withCookie(token, { path: '/me' }));
      }
      const response = await send(withCookie(token, { path: '/me' }));
      expectProblem(response, 401, 'absolute');
    });

    it('refuses a revoked session on its very next request, without saying who ended it', async () => {
      const token = await login();
      const me = json(await send(withCookie(token, { path: '/me' })));
      await sessions.revokeSession(String(me.sessionId), { reason: 'admin_revoke' });
      const response = await send(withCookie(token, { path: '/me' }));
      expectProblem(response, 401, 'ended');
      // The holder of a stolen token must not learn that an administrator is onto it.
      expect(response.body).not.toContain('admin');
      expect(json(response).endReason).toBeUndefined();
    });

    it('warns near the idle and the absolute expiry', async () => {
      const token = await login();
      clock.advance(26 * MINUTE);
      const idle = await send(withCookie(token, { path: '/status' }));
      expect(idle.headers.get('session-warning')).toBe('idle');
      expect(idle.headers.get('session-expires-in')).toBe('240');
      await send(withCookie(token, { path: '/me' }));
      for (let elapsed = 26 * MINUTE; elapsed < 11.5 * HOUR; elapsed += 20 * MINUTE) {
        clock.advance(20 * MINUTE);
        await send(withCookie(token, { path: '/me' }));
      }
      const absolute = await send(withCookie(token, { path: '/me' }));
      expect(absolute.headers.get('session-warning')).toBe('absolute');
    });

    it('does not record activity on a touch:false route, so an idle tab still times out', async () => {
      const token = await login();
      clock.advance(20 * MINUTE);
      const first = await send(withCookie(token, { path: '/status' }));
      expect(first.status).toBe(200);
      expect(first.headers.get('session-idle-expires-in')).toBe('600');
      clock.advance(10 * MINUTE);
      expectProblem(await send(withCookie(token, { path: '/status' })), 401, 'idle');
    });

    it('answers the status route without touching, and the keep-alive route with activity', async () => {
      const token = await login();
      clock.advance(20 * MINUTE);
      const status = await send(withCookie(token, { path: '/session/status' }));
      expect(status.status).toBe(200);
      expect(status.headers.get('cache-control')).toBe('no-store');
      expect(status.headers.get('session-idle-expires-in')).toBe('600');
      expect(json(status)).toEqual({
        expiresIn: 600,
        idleExpiresIn: 600,
        absoluteExpiresIn: 12 * 3600 - 20 * 60,
        warning: null,
      });
      // Polled again and again, the status route never moves the idle deadline.
      clock.advance(5 * MINUTE);
      expect(json(await send(withCookie(token, { path: '/session/status' })))).toMatchObject({
        idleExpiresIn: 300,
        warning: 'idle',
      });
      // A keep-alive from another site is refused and changes nothing.
      const crossSite = await send(
        withCookie(token, {
          method: 'POST',
          path: '/session/keep-alive',
          headers: { 'sec-fetch-site': 'cross-site' },
        }),
      );
      expectProblem(crossSite, 403, 'cross_site');
      const kept = await send(withCookie(token, { method: 'POST', path: '/session/keep-alive' }));
      expect(kept.status).toBe(200);
      expect(kept.headers.get('session-idle-expires-in')).toBe(String(30 * 60));
      expect(json(kept)).toMatchObject({ idleExpiresIn: 30 * 60, warning: null });
      clock.advance(29 * MINUTE);
      expect(json(await send(withCookie(token, { path: '/session/status' })))).toMatchObject({
        idleExpiresIn: 60,
      });
      clock.advance(MINUTE);
      expectProblem(await send(withCookie(token, { path: '/session/status' })), 401, 'idle');
      expectProblem(await send({ path: '/session/status' }), 401, 'missing');
    });

    it('records activity on an ordinary route', async () => {
      const token = await login();
      clock.advance(20 * MINUTE);
      await send(withCookie(token, { path: '/me' }));
      clock.advance(20 * MINUTE);
      const response = await send(withCookie(token, { path: '/status' }));
      expect(response.status).toBe(200);
      expect(response.headers.get('session-idle-expires-in')).toBe('600');
    });

    it('lets an optional route through without a session and says why there is none', async () => {
      const anonymous = await send({ path: '/public' });
      expect(anonymous.status).toBe(200);
      expect(json(anonymous)).toEqual({ userId: null, refusal: { reason: 'missing' } });
      const token = await login('bob');
      expect(json(await send(withCookie(token, { path: '/public' })))).toEqual({
        userId: 'bob',
        refusal: null,
      });
      clock.advance(31 * MINUTE);
      expect(json(await send(withCookie(token, { path: '/public' })))).toEqual({
        userId: null,
        refusal: { reason: 'idle' },
      });
    });

    it('refuses a cross-site POST with 403, by Sec-Fetch-Site or by Origin', async () => {
      const token = await login();
      const crossSite = await send(
        withCookie(token, {
          method: 'POST',
          path: '/action',
          headers: { 'sec-fetch-site': 'cross-site' },
        }),
      );
      expectProblem(crossSite, 403, 'cross_site');
      expect(json(crossSite)).toMatchObject({
        code: 'FORBIDDEN',
        type: 'urn:curfew:problem:forbidden',
      });
      const sameSite = await send(
        withCookie(token, {
          method: 'POST',
          path: '/action',
          headers: { 'sec-fetch-site': 'same-site' },
        }),
      );
      expectProblem(sameSite, 403, 'cross_site');
      const oldBrowser = await send(
        withCookie(token, {
          method: 'POST',
          path: '/action',
          headers: { origin: 'https://evil.test' },
        }),
      );
      expectProblem(oldBrowser, 403, 'cross_site');
      const nullOrigin = await send(
        withCookie(token, { method: 'POST', path: '/action', headers: { origin: 'null' } }),
      );
      expectProblem(nullOrigin, 403, 'cross_site');
      // Login CSRF: signing a victim into the attacker's account is refused just the same.
      const login_ = await send({
        method: 'POST',
        path: '/login',
        headers: { 'sec-fetch-site': 'cross-site' },
      });
      expectProblem(login_, 403, 'cross_site');
      expect(login_.headers.getSetCookie()).toEqual([]);
    });

    it('accepts same-origin POSTs, non-browser POSTs and cross-site GETs', async () => {
      const token = await login();
      const accepted: TestRequest[] = [
        { method: 'POST', path: '/action', headers: { 'sec-fetch-site': 'same-origin' } },
        { method: 'POST', path: '/action', headers: { origin: `https://${HOST}` } },
        { method: 'POST', path: '/action' },
        { path: '/me', headers: { 'sec-fetch-site': 'cross-site', origin: 'https://evil.test' } },
      ];
      for (const request of accepted) {
        expect((await send(withCookie(token, request))).status, JSON.stringify(request)).toBe(200);
      }
    });

    it('accepts a cross-origin POST from a trusted origin', async () => {
      const { createCookieCarrier } = await import('../../src/carriers/cookie.js');
      await start(createCookieCarrier({ trustedOrigins: ['https://admin.example.test'] }));
      const token = await login();
      const response = await send(
        withCookie(token, {
          method: 'POST',
          path: '/action',
          headers: { origin: 'https://admin.example.test', 'sec-fetch-site': 'same-site' },
        }),
      );
      expect(response.status).toBe(200);
    });

    it('ends the session a request already carries when it signs in (fixation)', async () => {
      const planted = await login('attacker');
      const response = await send(
        withCookie(planted, { method: 'POST', path: '/login?user=victim' }),
      );
      const fresh = cookieFrom(response);
      expect(fresh).not.toBe(planted);
      const old = await send(withCookie(planted, { path: '/me' }));
      expectProblem(old, 401, 'ended');
      expect(await sessions.validate(planted)).toMatchObject({ endReason: 'rotated' });
      expect(json(await send(withCookie(fresh, { path: '/me' }))).userId).toBe('victim');
    });

    it('signs in over an expired cookie without clearing the new one', async () => {
      const stale = await login();
      clock.advance(31 * MINUTE);
      const response = await send(withCookie(stale, { method: 'POST', path: '/login' }));
      expect(response.status).toBe(200);
      // Clear-Site-Data would make the browser drop the cookie set beside it. The old cookie's
      // removal comes first, and browsers apply Set-Cookie in order: the new one stays.
      expect(response.headers.get('clear-site-data')).toBeNull();
      const cookies = response.headers.getSetCookie();
      expect(cookies).toHaveLength(2);
      expect(cookies[0]).toBe(`${COOKIE}=; Max-Age=0; ${ATTRIBUTES}`);
      const fresh = /^__Host-session=([A-Za-z0-9_-]{43});/.exec(cookies[1]!)![1]!;
      expect((await send(withCookie(fresh, { path: '/me' }))).status).toBe(200);
    });

    it('signs out: revokes, clears the cookie and the site data', async () => {
      const token = await login();
      const response = await send(withCookie(token, { method: 'POST', path: '/logout' }));
      expect(response.status).toBe(200);
      expect(json(response)).toEqual({ ended: true });
      expect(response.headers.getSetCookie()).toEqual([`${COOKIE}=; Max-Age=0; ${ATTRIBUTES}`]);
      expect(response.headers.get('clear-site-data')).toBe('"cookies", "cache"');
      expect(response.headers.get('session-expires-in')).toBeNull();
      const after = await send(withCookie(token, { path: '/me' }));
      expectProblem(after, 401, 'ended');
      expect(await sessions.validate(token)).toMatchObject({ endReason: 'logout' });
    });

    it('accepts the token only from its cookie: never from the URL, a bearer header or a body', async () => {
      const token = await login();
      const requests: TestRequest[] = [
        { path: `/me?session=${token}&${COOKIE}=${token}` },
        { path: '/me', headers: { authorization: `Bearer ${token}` } },
        { path: '/me', headers: { 'x-session-token': token } },
        {
          method: 'POST',
          path: '/action',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `${COOKIE}=${token}&session=${token}`,
        },
      ];
      for (const request of requests) {
        expectProblem(await send(request), 401, 'missing');
      }
      expect((await send(withCookie(token, { path: '/me' }))).status).toBe(200);
    });

    it('renews: a new session cookie, and the old token refused', async () => {
      const token = await login();
      for (let step = 0; step < 7; step += 1) {
        clock.advance(10 * MINUTE);
        await send(withCookie(token, { path: '/me' }));
      }
      const response = await send(withCookie(token, { method: 'POST', path: '/renew' }));
      expect(json(response)).toEqual({ renewed: true, jwt: null });
      const [cookie] = response.headers.getSetCookie();
      expect(cookie).toMatch(new RegExp(`^${COOKIE}=[A-Za-z0-9_-]{43}; ${ATTRIBUTES}$`));
      const renewed = cookieFrom(response);
      expect(renewed).not.toBe(token);
      expectProblem(await send(withCookie(token, { path: '/me' })), 401, 'ended');
      expect((await send(withCookie(renewed, { path: '/me' }))).status).toBe(200);
    });

    it('asks for a fresh, stronger sign-in on a sensitive route (RFC 9470), then lets it through', async () => {
      const token = await login();
      const refused = await send(withCookie(token, { method: 'POST', path: '/sensitive' }));
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(refused.headers.get('cache-control')).toBe('no-store');
      expect(refused.headers.get('www-authenticate')).toBe(
        `Cookie cookie-name="${COOKIE}", error="insufficient_user_authentication", error_description="this action needs a more recent or stronger authentication", max_age=300, acr_values="http://idmanagement.gov/ns/assurance/aal/3"`,
      );
      expect(json(refused)).toMatchObject({
        status: 401,
        code: 'INSUFFICIENT_USER_AUTHENTICATION',
        reason: 'insufficient_user_authentication',
        missing: ['aal'],
        maxAge: 300,
        minAal: 3,
      });
      // The session itself is fine: the cookie stays, nothing is cleared.
      expect(refused.headers.getSetCookie()).toEqual([]);
      expect(refused.headers.get('clear-site-data')).toBeNull();
      expect((await send(withCookie(token, { path: '/me' }))).status).toBe(200);

      clock.advance(10 * MINUTE);
      const stepUp = await send(
        withCookie(token, { method: 'POST', path: '/reauthenticate?aal=3' }),
      );
      expect(json(stepUp)).toEqual({ reauthenticated: true, jwt: null });
      const fresh = cookieFrom(stepUp);
      expect(fresh).not.toBe(token);
      expect(Number(stepUp.headers.get('session-absolute-expires-in'))).toBe(12 * 3600);
      expectProblem(await send(withCookie(token, { path: '/me' })), 401, 'ended');
      const allowed = await send(withCookie(fresh, { method: 'POST', path: '/sensitive' }));
      expect(allowed.status).toBe(200);
      expect(json(allowed)).toEqual({ ok: true });
      // Five minutes later the same route asks again, for freshness only.
      clock.advance(5 * MINUTE + 1000);
      const stale = await send(withCookie(fresh, { method: 'POST', path: '/sensitive' }));
      expect(json(stale)).toMatchObject({ missing: ['max_age'] });
      // A reauthentication may not lower the level: the helper throws (the app's error handler
      // answers 500 here), and the session keeps its level.
      const lower = await send(
        withCookie(fresh, { method: 'POST', path: '/reauthenticate?aal=1' }),
      );
      expect(lower.status).toBe(500);
      expect(await sessions.validate(fresh, { touch: false })).toMatchObject({
        valid: true,
        session: { aal: 3 },
      });
      expect((await send(withCookie(fresh, { path: '/me' }))).status).toBe(200);
    });

    it('fails closed when the store fails: an error, never a pass and never a 401', async () => {
      await start(undefined, failingStore());
      const response = await send(withCookie('A'.repeat(43), { path: '/public' }));
      expect(response.status).toBe(500);
    });
  });

  describe(`${framework} with the JWT carrier`, () => {
    const issuer = 'https://auth.example.test';
    const audience = 'https://api.example.test';
    let carrier: JwtCarrier;
    let rsa: { publicKey: CryptoKey; privateKey: CryptoKey };

    beforeAll(async () => {
      rsa = await generateKeyPair('RS256', { extractable: true });
    });

    beforeEach(async () => {
      clock = new ManualClock();
      carrier = createJwtCarrier({
        issuer,
        audience,
        algorithms: ['RS256'],
        signKey: rsa.privateKey,
        verifyKey: rsa.publicKey,
        clock: () => clock.now(),
      });
      sessions = new SessionManager({ store: new MemoryStore(), clock: clock.now });
      await replaceApp({ sessions, carrier });
    });

    const bearer = (jwt: string, request: TestRequest): TestRequest => ({
      ...request,
      headers: { authorization: `Bearer ${jwt}`, ...request.headers },
    });
    const login = async (user = '42') => {
      const response = await app.send({ method: 'POST', path: `/login?user=${user}` });
      expect(response.status).toBe(200);
      expect(response.headers.getSetCookie()).toEqual([]);
      const body = json(response);
      return { jwt: String(body.jwt), sessionId: String(body.sessionId) };
    };
    /** A JWT for a real session, signed by whatever key and algorithm the test picks. */
    const forge = async (
      sign: (jwt: SignJWT) => Promise<string>,
      claims: { iss?: string; aud?: string; exp?: number; nbf?: number } = {},
    ) => {
      const { token, session } = await sessions.create({ userId: '42' });
      const now = Math.floor(clock.now() / 1000);
      const jwt = new SignJWT({ sid: token })
        .setSubject(session.userId)
        .setIssuer(claims.iss ?? issuer)
        .setAudience(claims.aud ?? audience)
        .setIssuedAt(now)
        .setExpirationTime(claims.exp ?? now + 3600);
      if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
      return sign(jwt);
    };
    const rs256 = (jwt: SignJWT) => jwt.setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);

    it('lets a valid JWT in; its exp is the session absolute expiry and sid its token', async () => {
      const { jwt } = await login('alice');
      const [, payload] = jwt.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
      expect(claims).toMatchObject({ iss: issuer, aud: audience, sub: 'alice' });
      expect(claims.exp).toBe(Math.floor((clock.now() + 12 * HOUR) / 1000));
      expect(claims.sid).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const response = await app.send(bearer(jwt, { path: '/me' }));
      expect(response.status).toBe(200);
      expect(json(response).userId).toBe('alice');
      expect(response.headers.get('session-expires-in')).toBe('1800');
    });

    it('refuses a request without Authorization with a bare Bearer challenge', async () => {
      const response = await app.send({ path: '/me' });
      expectProblem(response, 401, 'missing');
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    });

    it('refuses a malformed bearer token with invalid_token', async () => {
      for (const authorization of ['Bearer not.a.jwt', 'Bearer', 'Bearer a b']) {
        const response = await app.send({ path: '/me', headers: { authorization } });
        expectProblem(response, 401, 'invalid');
        expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
      }
    });

    it('refuses alg none', async () => {
      const { token } = await sessions.create({ userId: '42' });
      const unsigned = new UnsecuredJWT({ sid: token })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime(Math.floor(clock.now() / 1000) + 3600)
        .encode();
      expectProblem(await app.send(bearer(unsigned, { path: '/me' })), 401, 'invalid');
    });

    it('refuses HS256 signed with the RSA public key (algorithm confusion)', async () => {
      const publicPem = await exportSPKI(rsa.publicKey);
      const confused = await forge((jwt) =>
        jwt.setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(publicPem)),
      );
      expectProblem(await app.send(bearer(confused, { path: '/me' })), 401, 'invalid');
    });

    it('refuses RS256 on a carrier pinned to HS256 (the other way round)', async () => {
      const secret = new Uint8Array(32).fill(7);
      await replaceApp({
        sessions,
        carrier: createJwtCarrier({
          issuer,
          audience,
          algorithms: ['HS256'],
          verifyKey: secret,
          clock: clock.now,
        }),
      });
      expectProblem(await app.send(bearer(await forge(rs256), { path: '/me' })), 401, 'invalid');
      const good = await forge((jwt) => jwt.setProtectedHeader({ alg: 'HS256' }).sign(secret));
      expect((await app.send(bearer(good, { path: '/me' }))).status).toBe(200);
    });

    it('refuses a signature by another key', async () => {
      const other = await generateKeyPair('RS256');
      const jwt = await forge((j) => j.setProtectedHeader({ alg: 'RS256' }).sign(other.privateKey));
      expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'invalid');
    });

    it('refuses a JWT that brings its own key in jwk, jku or x5u headers', async () => {
      const attacker = await generateKeyPair('RS256', { extractable: true });
      const jwk = await exportJWK(attacker.publicKey);
      for (const header of [
        { alg: 'RS256', jwk },
        { alg: 'RS256', jku: 'https://evil.test/keys.json' },
        { alg: 'RS256', x5u: 'https://evil.test/cert.pem' },
      ]) {
        const jwt = await forge((j) => j.setProtectedHeader(header).sign(attacker.privateKey));
        expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'invalid');
      }
    });

    it('refuses a wrong issuer or a wrong audience', async () => {
      const wrongIssuer = await forge(rs256, { iss: 'https://evil.test' });
      expectProblem(await app.send(bearer(wrongIssuer, { path: '/me' })), 401, 'invalid');
      const wrongAudience = await forge(rs256, { aud: 'https://other-api.test' });
      expectProblem(await app.send(bearer(wrongAudience, { path: '/me' })), 401, 'invalid');
      expect((await app.send(bearer(await forge(rs256), { path: '/me' }))).status).toBe(200);
    });

    it('refuses an expired JWT beyond the clock tolerance, and one not yet valid', async () => {
      const now = Math.floor(clock.now() / 1000);
      const expired = await forge(rs256, { exp: now - 6 });
      const response = await app.send(bearer(expired, { path: '/me' }));
      expectProblem(response, 401, 'invalid');
      expect(response.headers.get('www-authenticate')).toContain('the token has expired');
      const withinTolerance = await forge(rs256, { exp: now - 4 });
      expect((await app.send(bearer(withinTolerance, { path: '/me' }))).status).toBe(200);
      const early = await forge(rs256, { nbf: now + 60 });
      expectProblem(await app.send(bearer(early, { path: '/me' })), 401, 'invalid');
    });

    it('refuses a JWT past the session absolute expiry', async () => {
      const { jwt } = await login();
      for (let elapsed = 0; elapsed < 12 * HOUR; elapsed += 20 * MINUTE) {
        clock.advance(20 * MINUTE);
        await app.send(bearer(jwt, { path: '/me' }));
      }
      // At the expiry itself the JWT is still within its clock tolerance; the session is not.
      expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'absolute');
      clock.advance(6_000);
      expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'invalid');
    });

    it('refuses a validly signed JWT whose session was revoked, on its next request', async () => {
      const { jwt, sessionId } = await login();
      expect((await app.send(bearer(jwt, { path: '/me' }))).status).toBe(200);
      await sessions.revokeSession(sessionId, { reason: 'admin_revoke' });
      const response = await app.send(bearer(jwt, { path: '/me' }));
      expectProblem(response, 401, 'ended');
      expect(response.body).not.toContain('admin');
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    });

    it('answers a step-up challenge in the Bearer scheme, and a reauthentication returns a new JWT', async () => {
      const { jwt } = await login();
      const refused = await app.send(bearer(jwt, { method: 'POST', path: '/sensitive' }));
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe(
        'Bearer error="insufficient_user_authentication", error_description="this action needs a more recent or stronger authentication", max_age=300, acr_values="http://idmanagement.gov/ns/assurance/aal/3"',
      );
      const stepUp = json(
        await app.send(bearer(jwt, { method: 'POST', path: '/reauthenticate?aal=3' })),
      );
      expect(stepUp.reauthenticated).toBe(true);
      expect(String(stepUp.jwt)).not.toBe(jwt);
      expect(
        (await app.send(bearer(String(stepUp.jwt), { method: 'POST', path: '/sensitive' }))).status,
      ).toBe(200);
      expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'ended');
    });

    it('refuses a validly signed JWT whose session idled out', async () => {
      const { jwt } = await login();
      clock.advance(31 * MINUTE);
      expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'idle');
    });

    it('refuses a JWT whose sub names another user than its session', async () => {
      const { token } = await sessions.create({ userId: 'victim' });
      const jwt = await carrier.sign({
        token,
        session: { userId: 'attacker', absoluteExpiresAt: new Date(clock.now() + HOUR) },
      });
      expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'invalid');
    });

    it('applies no cross-site check to bearer requests: the browser never sends them by itself', async () => {
      const { jwt } = await login();
      const response = await app.send(
        bearer(jwt, {
          method: 'POST',
          path: '/action',
          headers: { 'sec-fetch-site': 'cross-site' },
        }),
      );
      expect(response.status).toBe(200);
    });

    it('logs out and renews with JWTs: the old JWT is refused either way', async () => {
      const { jwt } = await login();
      const renewed = json(await app.send(bearer(jwt, { method: 'POST', path: '/renew' })));
      expect(renewed.renewed).toBe(true);
      expect(typeof renewed.jwt).toBe('string');
      expectProblem(await app.send(bearer(jwt, { path: '/me' })), 401, 'ended');
      const next = String(renewed.jwt);
      const logout = await app.send(bearer(next, { method: 'POST', path: '/logout' }));
      expect(json(logout)).toEqual({ ended: true });
      expect(logout.headers.getSetCookie()).toEqual([]);
      expect(logout.headers.get('clear-site-data')).toBeNull();
      expectProblem(await app.send(bearer(next, { path: '/me' })), 401, 'ended');
    });
  });
}
