import { Writable } from 'node:stream';
import { MemoryStore, type PolicyOptions, SessionManager, type SessionStore } from 'curfew';
import { ManualClock } from 'curfew/testing';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { ApiKeyring, hashApiKey } from '../../src/api-keys.js';
import { buildApp } from '../../src/http/app.js';
import { instrumentStore } from '../../src/instrument-store.js';
import { createLogger } from '../../src/logger.js';
import { Metrics } from '../../src/metrics.js';

/**
 * Keys every test app accepts: one admin key, two tenant keys (scope `sessions`), a validate-only
 * key for acme, a metrics key, and a `sessions` key for every tenant.
 */
export const KEYS = {
  admin: 'admin-key-0123456789abcdefghijklmnopqrstuv',
  acme: 'acme-key-0123456789abcdefghijklmnopqrstuvw',
  globex: 'globex-key-0123456789abcdefghijklmnopqrstu',
  acmeValidator: 'acme-validator-key-0123456789abcdefghijklm',
  metrics: 'metrics-key-0123456789abcdefghijklmnopqrst',
  everyTenant: 'every-tenant-key-0123456789abcdefghijklmno',
} as const;

export type KeyName = keyof typeof KEYS;

export interface TestApp {
  app: FastifyInstance;
  clock: ManualClock;
  manager: SessionManager;
  metrics: Metrics;
  /** Every log line written so far, raw. */
  logs: string[];
  /** Sends a request with the named key (or none). */
  call(
    key: KeyName | null,
    method: InjectOptions['method'],
    url: string,
    payload?: unknown,
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/**
 * The real app on a MemoryStore (or the given store) with a controllable clock, so tests move
 * time by hand and never sleep. Logs go to an array, at debug level, for the no-secrets checks.
 */
export async function createTestApp(
  options: { policy?: PolicyOptions; store?: SessionStore } = {},
): Promise<TestApp> {
  const clock = new ManualClock(Date.parse('2026-03-01T09:00:00.000Z'));
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger('debug', sink);
  const metrics = new Metrics({ store: 'memory' });
  const manager = new SessionManager({
    store: instrumentStore(options.store ?? new MemoryStore(), metrics),
    policy: options.policy ?? 'nist-800-63b-rev3-aal2',
    clock: clock.now,
    logger: logger.child({ component: 'sessions' }),
    onEvent: metrics.onEvent,
  });
  const keys = new ApiKeyring([
    { name: 'admin', tenantId: null, scope: 'admin', sha256: hashApiKey(KEYS.admin) },
    { name: 'acme', tenantId: 'acme', scope: 'sessions', sha256: hashApiKey(KEYS.acme) },
    { name: 'globex', tenantId: 'globex', scope: 'sessions', sha256: hashApiKey(KEYS.globex) },
    {
      name: 'acme-validator',
      tenantId: 'acme',
      scope: 'validate',
      sha256: hashApiKey(KEYS.acmeValidator),
    },
    { name: 'metrics', tenantId: null, scope: 'metrics', sha256: hashApiKey(KEYS.metrics) },
    {
      name: 'every-tenant',
      tenantId: null,
      scope: 'sessions',
      sha256: hashApiKey(KEYS.everyTenant),
    },
  ]);
  const app = buildApp({ manager, keys, logger, metrics, clock: clock.now });
  await app.ready();
  return {
    app,
    clock,
    manager,
    metrics,
    logs,
    call(key, method, url, payload) {
      return app.inject({
        method,
        url,
        headers: key === null ? {} : { authorization: `Bearer ${KEYS[key]}` },
        ...(payload === undefined ? {} : { payload: payload as InjectOptions['payload'] }),
      });
    },
    close: () => app.close(),
  };
}

/** Creates a session through the API and returns its token and id. */
export async function createSession(
  test: TestApp,
  key: KeyName,
  body: Record<string, unknown> = { userId: 'u1' },
): Promise<{ token: string; id: string; session: Record<string, unknown> }> {
  const response = await test.call(key, 'POST', '/v1/sessions', body);
  if (response.statusCode !== 201) {
    throw new Error(`create failed: ${response.statusCode} ${response.body}`);
  }
  const { token, session } = response.json() as { token: string; session: { id: string } };
  return { token, id: session.id, session };
}
