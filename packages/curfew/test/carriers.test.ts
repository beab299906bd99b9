// The carriers on their own: options checked when the factory is called, and the edges of
// reading a cookie or a JWT that the HTTP suites do not reach.
import { createSecretKey, generateKeyPairSync } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, generateSecret } from 'jose';
import { describe, expect, it } from 'vitest';
import type { CarrierRequest } from '../src/carriers/carrier.js';
import { createCookieCarrier } from '../src/carriers/cookie.js';
import { createJwtCarrier, type JwtCarrierOptions } from '../src/carriers/jwt.js';
import { MemoryStore, SessionManager } from '../src/index.js';

const TOKEN = 'T'.repeat(43);

function request(method: string, headers: Record<string, string>): CarrierRequest {
  return { method, header: (name) => headers[name] };
}

describe('createCookieCarrier', () => {
  it.each([
    [{ name: 'session' }, 'name'],
    [{ name: '__Secure-session' }, 'name'],
    [{ name: '__Host-bad name' }, 'name'],
    [{ sameSite: 'None' }, 'sameSite'],
    [{ clearSiteData: 'yes' }, 'clearSiteData'],
    [{ clearSiteData: [] }, 'clearSiteData'],
    [{ clearSiteData: ['cookies', 'everything'] }, 'clearSiteData'],
    [{ persistent: 'yes' }, 'persistent'],
    [{ trustedOrigins: 'https://a.test' }, 'trustedOrigins'],
    [{ trustedOrigins: ['https://a.test/'] }, 'trustedOrigins'],
    [{ trustedOrigins: ['a.test'] }, 'trustedOrigins'],
  ])('refuses %j at once', (options, field) => {
    expect(() => createCookieCarrier(options as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field }),
    );
  });

  it('reads its own cookie among others, unquoting it, and refuses a malformed one', () => {
    const carrier = createCookieCarrier({ name: '__Host-app' });
    const read = (cookie: string) => carrier.read(request('GET', { cookie }));
    expect(read(`a=1; __Host-app="${TOKEN}"; b=2`)).toEqual({ status: 'found', token: TOKEN });
    expect(read(`__Host-app=${TOKEN}; __Host-app=${'U'.repeat(43)}`)).toEqual({
      status: 'found',
      token: TOKEN,
    });
    expect(read('__Host-application=x; app=y')).toEqual({ status: 'missing' });
    expect(read('__Host-app=<script>')).toMatchObject({ status: 'invalid' });
    expect(carrier.read(request('GET', {}))).toEqual({ status: 'missing' });
  });

  it('issues a session cookie by default, SameSite=Strict when asked, and can leave site data alone', async () => {
    const carrier = createCookieCarrier({ sameSite: 'Strict', clearSiteData: false });
    const issued = await carrier.issue({ token: TOKEN, session: {} as never }, 3600);
    expect(issued.headers).toEqual([
      ['Set-Cookie', `__Host-session=${TOKEN}; Path=/; Secure; HttpOnly; SameSite=Strict`],
    ]);
    expect(carrier.clear()).toEqual([
      ['Set-Cookie', '__Host-session=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Strict'],
    ]);
  });

  it('gives a persistent cookie the absolute remainder plus five minutes, never negative', async () => {
    const carrier = createCookieCarrier({ persistent: true });
    const cookie = async (seconds: number) =>
      (await carrier.issue({ token: TOKEN, session: {} as never }, seconds)).headers[0]![1];
    // Past the absolute expiry the browser still sends it, so the server can say why it ended.
    expect(await cookie(3599.2)).toBe(
      `__Host-session=${TOKEN}; Max-Age=3900; Path=/; Secure; HttpOnly; SameSite=Lax`,
    );
    expect(await cookie(-5)).toContain('Max-Age=300;');
  });

  it('clears cookies and cache by default, or the data named', () => {
    const header = (options: Parameters<typeof createCookieCarrier>[0]) =>
      createCookieCarrier(options)
        .clear()
        .find(([name]) => name === 'Clear-Site-Data')?.[1];
    expect(header({})).toBe('"cookies", "cache"');
    expect(header({ clearSiteData: true })).toBe('"cookies", "cache"');
    expect(header({ clearSiteData: ['cache', 'storage', 'cache'] })).toBe('"cache", "storage"');
    expect(header({ clearSiteData: false })).toBeUndefined();
  });

  it('checks the origin of state-changing methods only, with Origin against Host for old browsers', () => {
    const carrier = createCookieCarrier();
    const check = (method: string, headers: Record<string, string>) =>
      carrier.checkRequest(request(method, { host: 'app.test:8443', ...headers }));
    for (const method of ['GET', 'HEAD', 'OPTIONS']) {
      expect(check(method, { 'sec-fetch-site': 'cross-site' })).toBeNull();
    }
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      expect(check(method, { 'sec-fetch-site': 'cross-site' })).toMatch(/cross-site/);
    }
    expect(check('POST', { 'sec-fetch-site': 'none' })).toBeNull();
    expect(check('POST', { origin: 'https://app.test:8443' })).toBeNull();
    expect(check('POST', { origin: 'https://app.test' })).not.toBeNull();
    expect(check('POST', { origin: 'https://app.test:8443.evil.test' })).not.toBeNull();
  });
});

describe('createJwtCarrier', () => {
  const secret = new Uint8Array(32).fill(1);
  const base = { issuer: 'iss', audience: 'aud' };
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

  it.each<[string, Partial<JwtCarrierOptions> & Record<string, unknown>, string]>([
    ['no algorithms', { algorithms: [], verifyKey: secret }, 'algorithms'],
    ['alg none', { algorithms: ['none' as never], verifyKey: secret }, 'algorithms'],
    ['HS and RS mixed', { algorithms: ['HS256', 'RS256'], verifyKey: secret }, 'algorithms'],
    ['RS256 with a secret', { algorithms: ['RS256'], verifyKey: secret }, 'verifyKey'],
    ['HS256 with a public key', { algorithms: ['HS256'], verifyKey: rsa.publicKey }, 'verifyKey'],
    ['a short secret', { algorithms: ['HS256'], verifyKey: new Uint8Array(16) }, 'verifyKey'],
    ['HS512 with 32 bytes', { algorithms: ['HS512'], verifyKey: secret }, 'verifyKey'],
    [
      'a public key to sign',
      { algorithms: ['RS256'], verifyKey: rsa.publicKey, signKey: rsa.publicKey },
      'signKey',
    ],
    [
      'a key set for HS256',
      { algorithms: ['HS256'], verifyKey: () => secret as never },
      'verifyKey',
    ],
    ['no key', { algorithms: ['ES256'] }, 'verifyKey'],
    [
      'a loose clock tolerance',
      { algorithms: ['HS256'], verifyKey: secret, clockTolerance: 300 },
      'clockTolerance',
    ],
    ['no issuer', { algorithms: ['HS256'], verifyKey: secret, issuer: '' }, 'issuer'],
    ['no audience', { algorithms: ['HS256'], verifyKey: secret, audience: [] }, 'audience'],
  ])('refuses %s at once', (_, options, field) => {
    expect(() => createJwtCarrier({ ...base, ...options } as JwtCarrierOptions)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field }),
    );
  });

  it('signs and verifies with Node KeyObjects, JWKs, a key set and several audiences', async () => {
    const sessions = new SessionManager({ store: new MemoryStore() });
    const issued = await sessions.create({ userId: '42' });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256' };
    const carriers = [
      createJwtCarrier({
        ...base,
        algorithms: ['RS256', 'PS256'],
        signKey: rsa.privateKey,
        verifyKey: rsa.publicKey,
      }),
      createJwtCarrier({
        ...base,
        algorithms: ['HS256'],
        verifyKey: createSecretKey(Buffer.alloc(32, 3)),
      }),
      createJwtCarrier({
        ...base,
        audience: ['aud', 'other'],
        algorithms: ['ES256'],
        signKey: await exportJWK(ec.privateKey),
        verifyKey: createLocalJWKSet({ keys: [publicJwk] }),
      }),
      createJwtCarrier({
        ...base,
        algorithms: ['HS384'],
        verifyKey: await generateSecret('HS384'),
      }),
    ];
    for (const carrier of carriers) {
      const jwt = await carrier.sign(issued);
      expect(await carrier.verify(jwt)).toEqual({
        valid: true,
        token: issued.token,
        subject: '42',
      });
    }
  });

  it('refuses to sign without a signing key, and verifies a JWT without sid as invalid', async () => {
    const verifyOnly = createJwtCarrier({
      ...base,
      algorithms: ['RS256'],
      verifyKey: rsa.publicKey,
    });
    await expect(
      verifyOnly.sign({ token: TOKEN, session: { userId: '1', absoluteExpiresAt: new Date() } }),
    ).rejects.toMatchObject({ field: 'signKey' });
    const { SignJWT } = await import('jose');
    const noSid = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('iss')
      .setAudience('aud')
      .setExpirationTime('1h')
      .sign(secret);
    const carrier = createJwtCarrier({ ...base, algorithms: ['HS256'], verifyKey: secret });
    expect(await carrier.verify(noSid)).toMatchObject({ valid: false });
    expect(await carrier.verify('x'.repeat(9000))).toMatchObject({ valid: false });
  });

  it('leaves other Authorization schemes to other mechanisms', async () => {
    const carrier = createJwtCarrier({ ...base, algorithms: ['HS256'], verifyKey: secret });
    expect(await carrier.read(request('GET', { authorization: 'Basic dXNlcjpwYXNz' }))).toEqual({
      status: 'missing',
    });
    expect(await carrier.read(request('GET', { authorization: 'bearer ' }))).toMatchObject({
      status: 'invalid',
    });
  });
});
