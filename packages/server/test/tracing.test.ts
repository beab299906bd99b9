import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { hashSessionToken, MemoryStore, SessionManager } from 'curfew';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ApiKeyring, hashApiKey } from '../src/api-keys.js';
import { buildApp } from '../src/http/app.js';
import { instrumentStore } from '../src/instrument-store.js';
import { Metrics } from '../src/metrics.js';
import { startTracing, type Tracing, tracingFromEnv } from '../src/tracing.js';
import { KEYS } from './support/test-app.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
beforeAll(async () => {
  tracing = await startTracing({ exporter, batch: false, version: 'test' });
});
afterAll(() => tracing.shutdown());

it('makes one span per request with a child per store call, and never carries a token or a hash', async () => {
  const metrics = new Metrics({ store: 'memory', defaultMetrics: false });
  const store = new MemoryStore();
  const manager = new SessionManager({
    store: instrumentStore(store, metrics, { tracer: tracing.tracer, store: 'memory' }),
  });
  const app = buildApp({
    manager,
    keys: new ApiKeyring([
      { name: 'admin', tenantId: null, scope: 'admin', sha256: hashApiKey(KEYS.admin) },
    ]),
    metrics,
    tracer: tracing.tracer,
  });
  const call = (url: string, payload?: Record<string, unknown>) =>
    app.inject({
      method: payload === undefined ? 'GET' : 'POST',
      url,
      headers: { authorization: `Bearer ${KEYS.admin}` },
      ...(payload === undefined ? {} : { payload }),
    });
  exporter.reset();
  const created = (await call('/v1/sessions', { userId: 'u1' })).json();
  await call('/v1/sessions/validate', { token: created.token });
  await call(`/v1/sessions/${created.session.id}`);
  await call('/v1/sessions/revoke', { token: created.token });
  await call('/v1/sessions/validate', { token: 'A'.repeat(43) });
  await call('/v1/no/such/route');
  const spans = exporter.getFinishedSpans();

  const servers = spans.filter((span) => span.kind === SpanKind.SERVER);
  expect(servers.map((span) => span.name)).toEqual([
    'POST /v1/sessions',
    'POST /v1/sessions/validate',
    'GET /v1/sessions/:id',
    'POST /v1/sessions/revoke',
    'POST /v1/sessions/validate',
    'GET (unmatched)',
  ]);
  expect(servers.map((span) => span.attributes['http.response.status_code'])).toEqual([
    201, 200, 200, 200, 200, 404,
  ]);
  // A 404 is an answer, not a server error.
  expect(servers.every((span) => span.status.code !== SpanStatusCode.ERROR)).toBe(true);

  const childrenOf = (parent: ReadableSpan) =>
    spans.filter(
      (span) =>
        span.parentSpanContext?.spanId === parent.spanContext().spanId &&
        span.spanContext().traceId === parent.spanContext().traceId,
    );
  expect(childrenOf(servers[0]!).map((span) => span.name)).toEqual(['curfew.store insert']);
  expect(childrenOf(servers[1]!).map((span) => span.name)).toEqual(['curfew.store validate']);
  expect(childrenOf(servers[2]!).map((span) => span.name)).toEqual(['curfew.store findById']);
  const store_ = childrenOf(servers[1]!)[0]!;
  expect(store_.kind).toBe(SpanKind.CLIENT);
  expect(store_.attributes).toEqual({
    'db.system.name': 'memory',
    'curfew.store.operation': 'validate',
  });
  // Every store span belongs to a request.
  const clients = spans.filter((span) => span.kind === SpanKind.CLIENT);
  expect(clients.every((span) => servers.some((s) => childrenOf(s).includes(span)))).toBe(true);

  // Nothing secret anywhere in what would be exported: names, attributes, events, status.
  const exported = JSON.stringify(
    spans.map((span) => ({
      name: span.name,
      attributes: span.attributes,
      events: span.events,
      status: span.status,
      resource: span.resource.attributes,
    })),
  );
  const hash = hashSessionToken(created.token);
  expect(exported).not.toContain(created.token);
  expect(exported).not.toContain(hash);
  expect(exported).not.toContain(hash.slice(0, 16));
  expect(exported).not.toContain(KEYS.admin);
  expect(exported).not.toContain(created.session.id); // paths stay patterns
});

it('marks a store call that failed, with its code and not its message', async () => {
  const store = new MemoryStore();
  store.validate = async () => {
    throw Object.assign(new Error('row 6c6f6e67 of user 42 unreadable'), { code: 'EPROTO' });
  };
  const manager = new SessionManager({
    store: instrumentStore(store, new Metrics({ defaultMetrics: false }), {
      tracer: tracing.tracer,
      store: 'memory',
    }),
  });
  exporter.reset();
  await expect(manager.validate('A'.repeat(43))).rejects.toMatchObject({ code: 'STORE_ERROR' });
  const [span] = exporter.getFinishedSpans();
  expect(span).toMatchObject({
    name: 'curfew.store validate',
    status: { code: SpanStatusCode.ERROR },
    attributes: { 'error.type': 'EPROTO' },
  });
  expect(JSON.stringify(span!.attributes)).not.toContain('6c6f6e67');
});

it('is off unless the OTEL_* variables ask for it', async () => {
  expect(await tracingFromEnv({}, '1')).toBeNull();
  expect(await tracingFromEnv({ OTEL_SERVICE_NAME: 'x' }, '1')).toBeNull();
  expect(
    await tracingFromEnv(
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_SDK_DISABLED: 'true' },
      '1',
    ),
  ).toBeNull();
  expect(
    await tracingFromEnv(
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1', OTEL_TRACES_EXPORTER: 'none' },
      '1',
    ),
  ).toBeNull();
  await expect(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin' }, '1')).rejects.toThrow(
    /^OTEL_TRACES_EXPORTER: curfew exports traces with otlp/,
  );
  const on = await tracingFromEnv(
    { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:secret@127.0.0.1:4318' },
    '1',
  );
  expect(on?.description).toBe('OTLP over HTTP to http://127.0.0.1:4318/');
  await on?.tracing.shutdown();
});
