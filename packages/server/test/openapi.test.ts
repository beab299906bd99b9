import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSession,
  createTestApp,
  KEYS,
  type KeyName,
  type TestApp,
} from './support/test-app.js';

type Json = Record<string, unknown>;

let test: TestApp;
let document: Json;

beforeAll(async () => {
  test = await createTestApp();
  document = (await test.call(null, 'GET', '/openapi.json')).json();
});
afterAll(async () => {
  await test.close();
});

// Every route the issue asks for, as method and OpenAPI path.
const ROUTES = [
  'post /v1/sessions',
  'post /v1/sessions/validate',
  'post /v1/sessions/touch',
  'post /v1/sessions/revoke',
  'post /v1/sessions/rotate',
  'post /v1/sessions/reauthenticate',
  'get /v1/sessions/{id}',
  'delete /v1/sessions/{id}',
  'get /v1/users/{userId}/sessions',
  'post /v1/users/{userId}/sessions/revoke',
  'post /v1/tenants/{tenantId}/sessions/revoke',
  'post /v1/sessions/revoke-all',
  'post /v1/sweep',
  'get /healthz',
  'get /readyz',
  'get /openapi.json',
  'get /metrics',
];

function operations(doc: Json): string[] {
  const paths = doc.paths as Record<string, Record<string, unknown>>;
  return Object.entries(paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method} ${path}`),
  );
}

function operation(method: string, path: string): Json {
  const paths = document.paths as Record<string, Record<string, Json>>;
  const found = paths[path]?.[method];
  if (found === undefined) throw new Error(`no ${method} ${path} in the document`);
  return found;
}

/** A schema with its `#/components/schemas/…` references replaced by the schemas. */
function inline(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(inline);
  if (typeof schema !== 'object' || schema === null) return schema;
  const ref = (schema as Json).$ref;
  if (typeof ref === 'string') {
    const name = ref.replace('#/components/schemas/', '');
    return inline(((document.components as Json).schemas as Json)[name]);
  }
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, inline(value)]));
}

const ajv = new Ajv2020({ strict: true, allowUnionTypes: true });
addFormats.default(ajv);

function responseSchema(method: string, path: string, status: number, type: string): Json {
  const responses = operation(method, path).responses as Record<string, Json>;
  const response = responses[String(status)];
  if (response === undefined) throw new Error(`${method} ${path} does not document ${status}`);
  const content = (response.content as Record<string, Json>)[type];
  if (content === undefined) throw new Error(`${method} ${path} ${status} has no ${type}`);
  return inline(content.schema ?? {}) as Json;
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await new Validator().validate(structuredClone(document));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('lists every route, and only those', async () => {
    expect(operations(document).sort()).toEqual([...ROUTES].sort());
    // And every listed route is served (a 404 problem would mean it is documented only).
    for (const route of ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      const url = path.replace('{id}', 'x').replace('{userId}', 'u');
      const response = await test.app.inject({ method: method.toUpperCase() as 'GET', url });
      expect(response.json().code, route).not.toBe('NOT_FOUND');
    }
  });

  it('holds schemas that are valid JSON Schema 2020-12', () => {
    for (const route of ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      const op = operation(method, path);
      const body = (op.requestBody as Json | undefined)?.content as
        | Record<string, Json>
        | undefined;
      if (body) ajv.compile(inline(body['application/json']!.schema) as Json);
      for (const response of Object.values(op.responses as Record<string, Json>)) {
        for (const content of Object.values((response.content ?? {}) as Record<string, Json>)) {
          if (content.schema) ajv.compile(inline(content.schema) as Json);
        }
      }
    }
  });

  it('says which bodies may be left out exactly as the server takes them', async () => {
    for (const route of ROUTES.filter((r) => r.startsWith('post '))) {
      const path = route.slice('post '.length);
      const required = (operation('post', path).requestBody as Json | undefined)?.required;
      const url = path.replace('{userId}', 'u').replace('{tenantId}', 't');
      // No body at all, and an empty one sent as JSON (what many HTTP clients do on a POST).
      for (const headers of [{}, { 'content-type': 'application/json' }]) {
        const response = await test.app.inject({
          method: 'POST',
          url,
          headers: { ...headers, authorization: `Bearer ${KEYS.admin}` },
        });
        const refusedBody = response.statusCode === 400 && response.json().field === 'body';
        expect(refusedBody, `${route} ${JSON.stringify(headers)}`).toBe(required === true);
      }
    }
  });

  it('requires a bearer key exactly on /v1 and /metrics', () => {
    for (const route of ROUTES) {
      const [method, path] = route.split(' ') as [string, string];
      const security = operation(method, path).security;
      const open = ['/healthz', '/readyz', '/openapi.json'].includes(path);
      expect(security, route).toEqual(open ? [] : [{ apiKey: [] }]);
    }
  });
});

describe('responses match the document', () => {
  async function check(
    key: KeyName | null,
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    path: string,
    payload?: unknown,
    headers: Record<string, string> = {},
  ) {
    const response = await test.app.inject({
      method,
      url,
      headers: { ...headers, ...(key === null ? {} : { authorization: `Bearer ${KEYS[key]}` }) },
      ...(payload === undefined ? {} : { payload: payload as string }),
    });
    const type = String(response.headers['content-type']).split(';')[0]!;
    const schema = responseSchema(method.toLowerCase(), path, response.statusCode, type);
    if (type.endsWith('json')) {
      const validate = ajv.compile(schema);
      const ok = validate(response.json());
      expect(validate.errors ?? [], `${method} ${url} → ${response.statusCode}`).toEqual([]);
      expect(ok).toBe(true);
    }
    return response;
  }

  it('for every success response', async () => {
    const { token, id } = await createSession(test, 'acme', { userId: 'zed' });
    await check('acme', 'POST', '/v1/sessions', '/v1/sessions', { userId: 7, ipAddress: '::1' });
    await check('acme', 'POST', '/v1/sessions/validate', '/v1/sessions/validate', { token });
    await check('acme', 'POST', '/v1/sessions/validate', '/v1/sessions/validate', {
      token: 'nope',
    });
    await check('acme', 'POST', '/v1/sessions/touch', '/v1/sessions/touch', { token });
    const rotated = await check('acme', 'POST', '/v1/sessions/rotate', '/v1/sessions/rotate', {
      token,
    });
    await check('acme', 'GET', `/v1/sessions/${id}`, '/v1/sessions/{id}');
    await check('acme', 'GET', '/v1/users/zed/sessions', '/v1/users/{userId}/sessions');
    await check('acme', 'POST', '/v1/sessions/revoke', '/v1/sessions/revoke', {
      token: rotated.json().token,
    });
    await check('acme', 'DELETE', `/v1/sessions/${id}`, '/v1/sessions/{id}');
    await check(
      'acme',
      'POST',
      '/v1/users/zed/sessions/revoke',
      '/v1/users/{userId}/sessions/revoke',
      {},
    );
    await check('admin', 'POST', '/v1/sweep', '/v1/sweep');
    await check(null, 'GET', '/healthz', '/healthz');
    await check(null, 'GET', '/readyz', '/readyz');
    await check(null, 'GET', '/openapi.json', '/openapi.json');
    await check('admin', 'GET', '/metrics', '/metrics');
  });

  it('for every error response', async () => {
    await check('admin', 'POST', '/v1/sessions', '/v1/sessions', { userId: '' });
    await check(null, 'POST', '/v1/sessions', '/v1/sessions', { userId: 'u' });
    await check('acme', 'POST', '/v1/sessions', '/v1/sessions', { userId: 'u', tenantId: 'x' });
    await check('acme', 'POST', '/v1/sweep', '/v1/sweep');
    await check('acme', 'GET', '/v1/sessions/missing', '/v1/sessions/{id}');
    await check('acme', 'POST', '/v1/sessions/rotate', '/v1/sessions/rotate', { token: 'nope' });
    await check('acme', 'POST', '/v1/sessions', '/v1/sessions', 'x'.repeat(20_000), {
      'content-type': 'application/json',
    });
    await check('acme', 'POST', '/v1/sessions', '/v1/sessions', 'userId=1', {
      'content-type': 'text/plain',
    });
  });
});
