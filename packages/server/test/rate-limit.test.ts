import { MemoryStore, SessionManager } from 'curfew';
import { expect, it } from 'vitest';
import { ApiKeyring, hashApiKey } from '../src/api-keys.js';
import { loadConfig } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { RateLimiter } from '../src/rate-limit.js';
import { KEYS } from './support/test-app.js';

it('gives each key its own budget, answers 429 with Retry-After past it, and refills over time', async () => {
  let now = 1_000;
  const app = buildApp({
    manager: new SessionManager({ store: new MemoryStore() }),
    keys: new ApiKeyring([
      { name: 'acme', tenantId: 'acme', scope: 'sessions', sha256: hashApiKey(KEYS.acme) },
      { name: 'globex', tenantId: 'globex', scope: 'sessions', sha256: hashApiKey(KEYS.globex) },
    ]),
    rateLimiter: new RateLimiter({ limit: 3, window: 3_000, now: () => now }),
  });
  const validate = (key: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/sessions/validate',
      headers: { authorization: `Bearer ${key}` },
      payload: { token: 'A'.repeat(43) },
    });
  // A burst up to the limit, then refused before the body is even parsed.
  for (let i = 0; i < 3; i += 1) expect((await validate(KEYS.acme)).statusCode).toBe(200);
  const refused = await validate(KEYS.acme);
  expect(refused.statusCode).toBe(429);
  expect(refused.headers['retry-after']).toBe('1');
  expect(refused.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(refused.json()).toMatchObject({
    status: 429,
    code: 'RATE_LIMITED',
    title: 'Too Many Requests',
  });
  // Another key is not affected.
  expect((await validate(KEYS.globex)).statusCode).toBe(200);
  // One request a second comes back.
  now += 999;
  expect((await validate(KEYS.acme)).statusCode).toBe(429);
  now += 1;
  expect((await validate(KEYS.acme)).statusCode).toBe(200);
  expect((await validate(KEYS.acme)).statusCode).toBe(429);
  // A wrong key is refused as unauthenticated, and spends nobody's budget.
  expect((await validate('wrong-key-0123456789abcdefghijklmnopqrstuv')).statusCode).toBe(401);
  // Idle keys refill to the limit, no further.
  now += 60_000;
  for (let i = 0; i < 3; i += 1) expect((await validate(KEYS.acme)).statusCode).toBe(200);
  expect((await validate(KEYS.acme)).statusCode).toBe(429);
});

it('reads CURFEW_RATE_LIMIT as N/DURATION', () => {
  expect(loadConfig({}).rateLimit).toBeNull();
  expect(loadConfig({ CURFEW_RATE_LIMIT: '100/1s' }).rateLimit).toEqual({
    limit: 100,
    window: 1000,
  });
  expect(loadConfig({ CURFEW_RATE_LIMIT: '6000/1m' }).rateLimit).toEqual({
    limit: 6000,
    window: 60_000,
  });
  for (const bad of ['100', '0/1s', '100/0', '100/soon', '/1s']) {
    expect(() => loadConfig({ CURFEW_RATE_LIMIT: bad })).toThrow(
      /^CURFEW_RATE_LIMIT: expected N\/DURATION/,
    );
  }
});
