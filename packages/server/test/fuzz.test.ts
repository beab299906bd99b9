import fc from 'fast-check';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession, createTestApp, KEYS, type TestApp } from './support/test-app.js';

// Malformed requests of every kind through the real app: whatever a client sends, the answer is
// a 2xx for the few that happen to be valid and a 4xx problem for the rest, never a 5xx or a
// crash. Requests go through app.inject(), so no port is opened and nothing sleeps.

let test: TestApp;
let tokens: string[];
let ids: string[];

beforeAll(async () => {
  test = await createTestApp();
  const made = await Promise.all([
    createSession(test, 'admin', { userId: 'u1', tenantId: 'acme' }),
    createSession(test, 'acme', { userId: 'u2' }),
    createSession(test, 'globex', { userId: 'u1' }),
  ]);
  tokens = made.map((s) => s.token);
  ids = made.map((s) => s.id);
});
afterAll(async () => {
  await test.close();
});

const printable = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 80,
});

const anyText = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  printable,
  fc.constantFrom('', ' ', '\u0000', '\uD800', '💥', 'null', '__proto__', 'constructor'),
);

/** Percent-encodes any string, lone surrogates included (encodeURIComponent throws on those). */
function percentEncode(text: string): string {
  return [...Buffer.from(text, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');
}

const segment = fc.oneof(
  anyText.map(percentEncode),
  fc.uuid(),
  fc.constantFrom('%', '%zz', '%E0%A4%A', '%00', '..', '.', '%2F', '%2e%2e', ';', '*', '~'),
  fc.constant('x'.repeat(3000)),
  fc.constant('%41'.repeat(900)),
);

const path = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      '/v1/sessions',
      '/v1/sessions/validate',
      '/v1/sessions/touch',
      '/v1/sessions/revoke',
      '/v1/sessions/rotate',
      '/v1/sweep',
    ),
  },
  fc.constantFrom(
    '/v1/sessions',
    '/v1/sessions/validate',
    '/v1/sessions/touch',
    '/v1/sessions/revoke',
    '/v1/sessions/rotate',
    '/v1/sweep',
    '/healthz',
    '/readyz',
    '/metrics',
    '/openapi.json',
    '/v1',
    '/',
    '//v1//sessions',
    '/v1/sessions/',
  ),
  segment.map((s) => `/v1/sessions/${s}`),
  segment.map((s) => `/v1/users/${s}/sessions`),
  segment.map((s) => `/v1/users/${s}/sessions/revoke`),
  fc.array(segment, { maxLength: 5 }).map((parts) => `/${parts.join('/')}`),
  // An HTTP request line always has a path starting with a slash.
  fc.webPath().map((web) => (web.startsWith('/') ? web : `/${web}`)),
);

const query = fc.oneof(
  fc.constant(''),
  fc
    .dictionary(
      fc.oneof(fc.constantFrom('reason', 'tenantId', 'touch', 'token'), printable),
      fc.oneof(anyText, fc.constant('')),
      { maxKeys: 3 },
    )
    .map((params) => `?${new URLSearchParams(params).toString()}`),
  fc.constantFrom('?', '?&&', '?reason', '?reason=a&reason=b', '?tenantId[]=x', '?%zz=1', '?a=%'),
);

const fieldValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  anyText,
  fc.constantFrom(...['A'.repeat(43), 'x'.repeat(257), '', '203.0.113.7', '::1', 'logout']),
  fc.integer(),
  fc.double(),
  fc.constant(Number.MAX_SAFE_INTEGER + 2),
);

const knownFields = fc.record(
  {
    token: fc.oneof(fieldValue, fc.constant('TOKEN')),
    touch: fieldValue,
    userId: fieldValue,
    tenantId: fieldValue,
    ipAddress: fieldValue,
    userAgent: fieldValue,
    appType: fieldValue,
    reason: fieldValue,
    exceptSessionId: fc.oneof(fieldValue, fc.constant('ID')),
  },
  { requiredKeys: [] },
);

const body = fc.oneof(
  { weight: 4, arbitrary: knownFields.map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '{"__proto__":{"admin":true},"token":"TOKEN"}',
      '{"constructor":{"prototype":{"x":1}},"userId":"u"}',
      '{"userId":"u","userId":"v"}',
      '['.repeat(8000),
      `{"userAgent":"${'a'.repeat(17_000)}","userId":"u"}`,
      `{"token":"${'A'.repeat(16_500)}"}`,
      '{"token":"TOKEN"',
      '\uFEFF{"token":"TOKEN"}',
      'null',
      '',
    ),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
);

const authorization = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      `Bearer ${KEYS.admin}`,
      `Bearer ${KEYS.acme}`,
      `Bearer ${KEYS.globex}`,
    ),
  },
  fc.constant(undefined),
  fc.constantFrom(
    `Bearer ${KEYS.admin}`,
    `Bearer ${KEYS.acme}`,
    `bearer ${KEYS.globex}`,
    `Bearer  ${KEYS.admin}`,
    `Basic ${KEYS.admin}`,
    'Bearer',
    'Bearer ',
    `Bearer ${'k'.repeat(4000)}`,
  ),
  printable.map((text) => `Bearer ${text}`),
  printable,
);

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  fc.constant(undefined),
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/json; charset=latin1',
    'application/json;;',
    'text/plain',
    'text/plain; charset=utf-8',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/problem+json',
    'application/octet-stream',
    '',
    ';',
    '*/*',
  ),
  printable,
);

const request = fc.record({
  method: fc.oneof(
    { weight: 4, arbitrary: fc.constant('POST') },
    fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'),
  ),
  path,
  query,
  body,
  authorization,
  contentType,
  requestId: fc.option(printable, { nil: undefined }),
  extraHeader: fc.option(
    fc.tuple(fc.constantFrom('accept', 'x-forwarded-for', 'cookie', 'expect'), printable),
    {
      nil: undefined,
    },
  ),
});

type GeneratedRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

function toInject(generated: GeneratedRequest, run: number): InjectOptions {
  const headers: Record<string, string> = {};
  if (generated.authorization !== undefined) headers.authorization = generated.authorization;
  if (generated.contentType !== undefined) headers['content-type'] = generated.contentType;
  if (generated.requestId !== undefined) headers['x-request-id'] = generated.requestId;
  if (generated.extraHeader !== undefined)
    headers[generated.extraHeader[0]] = generated.extraHeader[1];
  let payload = generated.body;
  // Some bodies carry a real token or id, so that requests also reach the deeper code paths.
  if (typeof payload === 'string') {
    payload = payload
      .replaceAll('TOKEN', tokens[run % tokens.length]!)
      .replaceAll('"ID"', `"${ids[run % ids.length]}"`);
  }
  return {
    method: generated.method as InjectOptions['method'],
    url: `${generated.path}${generated.query}`,
    headers,
    ...(payload === undefined || generated.method === 'GET' || generated.method === 'HEAD'
      ? {}
      : { payload }),
  };
}

describe('malformed requests', () => {
  it('get only 2xx or 4xx problem answers, never a 5xx (2,500 generated requests)', async () => {
    let run = 0;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(request, async (generated) => {
        run += 1;
        const options = toInject(generated, run);
        const response = await test.app.inject(options);
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        expect(response.statusCode, `${options.method} ${options.url}`).toBeGreaterThanOrEqual(200);
        expect(
          response.statusCode,
          `${options.method} ${options.url}: ${response.body}`,
        ).toBeLessThan(500);
        expect(response.headers['cache-control']).toBe('no-store');
        expect(response.headers['x-request-id']).toEqual(expect.any(String));
        if (response.statusCode >= 400 && options.method !== 'HEAD') {
          expect(response.headers['content-type']).toBe('application/problem+json; charset=utf-8');
          const problem = response.json() as { status: number; code: string };
          expect(problem.status).toBe(response.statusCode);
          expect(problem.code).toMatch(/^[A-Z_]+$/);
        }
      }),
      { numRuns: 2500 },
    );
    // The generator must reach the interesting answers, not only one kind of rejection.
    for (const status of [200, 400, 401, 404, 413, 415]) {
      expect(statuses.get(status) ?? 0, `status ${status}`).toBeGreaterThan(0);
    }
    // The service is still healthy and its sessions intact.
    const valid = await test.call('admin', 'POST', '/v1/sessions/validate', { token: tokens[0] });
    expect(valid.statusCode).toBe(200);
  }, 60_000);
});
