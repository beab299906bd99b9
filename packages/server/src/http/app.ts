import { randomUUID } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import {
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { SessionManager } from 'curfew';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ApiKeyring } from '../api-keys.js';
import { type HttpLimits, loadConfig } from '../config.js';
import { type RequestLogFields, requestLineWriter } from '../logger.js';
import { Metrics } from '../metrics.js';
import type { RateLimiter } from '../rate-limit.js';
import { authenticate } from './authenticate.js';
import { buildOpenApi } from './openapi.js';
import { type HttpProblem, methodNotAllowed, sendProblem, toHttpProblem } from './problems.js';
import { allowedMethods, bodyIsOptional, type RouteDefinition } from './route.js';
import type { RouteContext } from './routes/context.js';
import { operationRoutes } from './routes/operations.js';
import { sessionRoutes } from './routes/sessions.js';
import { tenantRoutes } from './routes/tenants.js';
import { userRoutes } from './routes/users.js';
import type { JsonSchema } from './schemas.js';
import { TokenAccess } from './token-access.js';

/**
 * The largest request body accepted: 16 KiB. A session request is a few hundred bytes.
 *
 * @example
 * ```ts
 * if (Buffer.byteLength(body) > BODY_LIMIT) throw new Error('curfew would answer 413');
 * ```
 */
export const BODY_LIMIT = 16 * 1024;

const REQUEST_ID_SHAPE = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Options for {@link buildApp}.
 *
 * @example
 * ```ts
 * const options: BuildAppOptions = { manager, keys, logger: createLogger('info') };
 * ```
 */
export interface BuildAppOptions {
  /** The sessions to serve. Tests give it a controllable clock. */
  manager: SessionManager;
  /** The API keys accepted on `/v1` and `/metrics`. */
  keys: ApiKeyring;
  /** Where request lines go; default: nowhere. */
  logger?: Logger | undefined;
  /** Counters for `/metrics`; pass the same one to `instrumentStore` and the manager's `onEvent`. */
  metrics?: Metrics | undefined;
  /** For `serverTime`; give it the manager's clock. Default `Date.now`. */
  clock?: (() => number) | undefined;
  /** Shown in the OpenAPI document. */
  version?: string | undefined;
  /**
   * Traces each request as a server span (method, route pattern, status; never a path, body,
   * token or key), with the store calls made for it as children when the store was wrapped by
   * `instrumentStore` with the same tracer. Default: no tracing, and no cost.
   */
  tracer?: Tracer | undefined;
  /** Each API key's request budget; default none. */
  rateLimiter?: RateLimiter | undefined;
  /**
   * Asked by `/readyz` after the store answered: a reason this instance should not take
   * traffic (its clock is too far from the store's), or `null`. Default: always ready.
   */
  unready?: (() => string | null) | undefined;
  /**
   * For `listen()`: time and size limits on clients (default: the settings' defaults), and TLS
   * options to serve HTTPS (default: plain HTTP).
   */
  server?: {
    limits?: HttpLimits | undefined;
    https?: SecureContextOptions | undefined;
  };
}

/** The HTTP limits when none are given: the defaults of the `CURFEW_*` settings. */
const DEFAULT_LIMITS: HttpLimits = loadConfig({}).http;

/**
 * The HTTP API as a Fastify instance, not yet listening: call `listen()` to serve, or `inject()`
 * in tests. Every response carries `Cache-Control: no-store` and an `x-request-id`; every error
 * is an `application/problem+json` document; nothing a client sends can produce a 500.
 *
 * @example
 * ```ts
 * import { MemoryStore, SessionManager } from 'curfew';
 * import { ApiKeyring, buildApp, hashApiKey } from '@curfew/server';
 *
 * const key = 'a-key-of-at-least-thirty-two-characters';
 * const app = buildApp({
 *   manager: new SessionManager({ store: new MemoryStore() }),
 *   keys: new ApiKeyring([{ name: 'dev', tenantId: null, scope: 'admin', sha256: hashApiKey(key) }]),
 * });
 * const res = await app.inject({
 *   method: 'POST', url: '/v1/sessions', headers: { authorization: `Bearer ${key}` },
 *   payload: { userId: '42' },
 * });
 * ```
 */
export function buildApp(options: BuildAppOptions): FastifyInstance {
  const metrics = options.metrics ?? new Metrics();
  const clock = options.clock ?? Date.now;
  // Fastify gets no logger: it would make a child logger per request and write its own lines.
  // The app writes one line per request itself, from chosen fields: never a body, token or key.
  const logger = options.logger;
  const writeRequestLine = logger === undefined ? undefined : requestLineWriter(logger);
  const limits = options.server?.limits ?? DEFAULT_LIMITS;
  // Node's own server options, for http.createServer or https.createServer alike. Node checks
  // the request and header deadlines on a timer (30 s by default); checked each second, a client
  // that trickles its request is cut off close to the deadline rather than up to 30 s after it.
  const nodeServer = {
    requestTimeout: limits.requestTimeout,
    headersTimeout: limits.headersTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    maxHeaderSize: limits.maxHeaderSize,
    connectionsCheckingInterval: 1000,
  };
  const app = Fastify({
    ...(options.server?.https === undefined
      ? { http: nodeServer }
      : { https: { ...options.server.https, ...nodeServer } }),
    // Fastify sets these two on the server after creating it: the same values.
    requestTimeout: limits.requestTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID_SHAPE.test(given) ? given : randomUUID();
    },
    bodyLimit: BODY_LIMIT,
    // Requests that arrive while draining are served (with Connection: close), not refused.
    return503OnClosing: false,
    routerOptions: { maxParamLength: 2048 },
    // Fastify's own answer to a malformed URL echoes the path, which may hold anything.
    // Fastify answers these before routing, so no hook runs: log and count them here.
    frameworkErrors: (error, request, reply) => {
      sendProblem(reply, toHttpProblem(error, BODY_LIMIT));
      logRequest(writeRequestLine, request, reply, metrics);
    },
    ajv: {
      customOptions: {
        // JSON bodies keep their types: `{"touch":"false"}` is an error, not `false`.
        coerceTypes: false,
        removeAdditional: false,
        useDefaults: true,
        allErrors: false,
        // `userId` is a string or an integer: a union type, which strict Ajv asks to allow.
        allowUnionTypes: true,
      },
    },
  }) as unknown as FastifyInstance;

  // Only JSON bodies: anything else (text/plain included) is a 415.
  app.removeContentTypeParser('text/plain');
  // Fastify's own JSON parser (prototype poisoning refused), except that an empty body is no
  // body: many clients send Content-Type: application/json on every POST, and a route whose body
  // is optional should not refuse them. A route that needs a body still answers 400 naming it.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else void parseJson(request, body as string, done);
  });
  // Responses are built field by field by the handlers; the schemas document them.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.decorateRequest('caller', null);
  app.decorateRequest('routeUrl', null);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('span', null);
  const tracer = options.tracer;
  if (tracer !== undefined) {
    app.addHook('onRequest', (request, _reply, done) => {
      // Routing is done by now: the pattern is known, and the raw path never enters the span.
      const route = request.routeOptions?.url ?? '(unmatched)';
      request.span = tracer.startSpan(`${request.method} ${route}`, {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'http.route': route,
          'curfew.request_id': request.id,
        },
      });
      done();
    });
    // A request cut off before its answer (a timeout, a client gone) still ends its span.
    app.addHook('onRequestAbort', (request, done) => {
      endSpan(request.span, 499);
      request.span = null;
      done();
    });
  }

  // Callback-style hooks: these run on every request, and an async hook costs a promise each.
  app.addHook('onRequest', (request, reply, done) => {
    request.startedAt = performance.now();
    reply.header('cache-control', 'no-store');
    reply.header('x-request-id', request.id);
    done();
  });

  // Node's server.close() drops only the connections idle at that moment; a keep-alive
  // connection whose request was in flight would then hold the shutdown open until its idle
  // timeout. Answering those requests with Connection: close lets them go as soon as they finish.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // The request line is written here, as the answer leaves, rather than from an onResponse hook:
  // any onResponse hook makes Fastify listen for every response's 'finish' and 'error' events,
  // which cost more than the line itself. The status is final here.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    logRequest(writeRequestLine, request, reply, metrics);
    if (request.span !== null) {
      endSpan(request.span, reply.statusCode);
      request.span = null;
    }
    done(null, payload);
  });

  app.setErrorHandler((error, request, reply) => {
    const problem = toHttpProblem(error, BODY_LIMIT);
    logFailure(logger, request, problem, error);
    return sendProblem(reply, problem);
  });

  const context: RouteContext = {
    manager: options.manager,
    tokens: new TokenAccess(options.manager),
    metrics,
    clock,
    unready: options.unready ?? (() => null),
  };
  let openApiDocument: Record<string, unknown> | undefined;
  const routes: RouteDefinition[] = [
    ...sessionRoutes(context),
    ...userRoutes(context),
    ...tenantRoutes(context),
    ...operationRoutes(context, () => {
      openApiDocument ??= buildOpenApi(routes, {
        title: 'curfew',
        version: options.version ?? '0.1.0',
        description:
          'Server-side sessions with NIST SP 800-63B idle and absolute timeouts. Tokens travel only in bodies; every response is Cache-Control: no-store.',
      });
      return openApiDocument;
    }),
  ];
  for (const route of routes) {
    registerRoute(app, route, options.keys, options.rateLimiter, clock);
  }
  // A path known under other methods answers 405 with Allow, not 404: the client has the path
  // right and the method wrong.
  const allowed = allowedMethods(routes);
  app.setNotFoundHandler((request, reply) => {
    const methods = allowed(request.url);
    if (methods.length > 0) return sendProblem(reply, methodNotAllowed(methods));
    return sendProblem(reply, toHttpProblem({ code: 'FST_ERR_NOT_FOUND' }, BODY_LIMIT));
  });
  return app;
}

/**
 * A query string holds only strings, and types are not coerced anywhere (a JSON body's
 * `"touch": "false"` must stay an error): so the query parameters a route declares as integers
 * are turned from decimal digits into numbers before validation, and anything else is left for
 * the schema to refuse.
 */
function queryCoercion(query: JsonSchema | undefined): PreValidationHook | null {
  const properties = (query?.properties ?? {}) as Record<string, JsonSchema>;
  const integers = Object.keys(properties).filter((name) => properties[name]!.type === 'integer');
  if (integers.length === 0) return null;
  return (request, _reply, done) => {
    const values = request.query as Record<string, unknown>;
    for (const name of integers) {
      const value = values[name];
      if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) values[name] = Number(value);
    }
    done();
  };
}

type PreValidationHook = (request: FastifyRequest, reply: FastifyReply, done: () => void) => void;

function registerRoute(
  app: FastifyInstance,
  route: RouteDefinition,
  keys: ApiKeyring,
  limiter: RateLimiter | undefined,
  clock: () => number,
): void {
  const schema: Record<string, unknown> = {};
  if (route.body !== undefined) schema.body = route.body;
  if (route.query !== undefined) schema.querystring = route.query;
  if (route.params !== undefined) schema.params = route.params;
  // Fastify serializes a status with a response schema through the route's serializer compiler;
  // every other answer (problems included) goes through the app's JSON.stringify.
  const serialized = Object.entries(route.responses).filter(([, r]) => r.serialize !== undefined);
  if (serialized.length > 0) {
    schema.response = Object.fromEntries(serialized.map(([status, r]) => [status, r.schema]));
  }
  const preValidation: PreValidationHook[] = [];
  // A POST without a body (or with an empty one) is taken as `{}` where every field is optional
  // (a bulk revoke); elsewhere it answers 400 naming the body.
  if (bodyIsOptional(route)) {
    preValidation.push((request, _reply, done) => {
      if (request.body === undefined) request.body = {};
      done();
    });
  }
  const coerce = queryCoercion(route.query);
  if (coerce !== null) preValidation.push(coerce);
  app.route({
    method: route.method,
    url: route.url,
    schema,
    ...(serialized.length === 0
      ? {}
      : {
          // Called only for the statuses in schema.response, each of which has a serializer.
          serializerCompiler: ({ httpStatus }: { httpStatus?: string | undefined }) =>
            route.responses[Number(httpStatus)]!.serialize as (data: unknown) => string,
        }),
    ...(route.access === 'public'
      ? {}
      : { onRequest: authenticate(keys, route.access, limiter, clock) }),
    ...(preValidation.length === 0 ? {} : { preValidation }),
    handler: (request: FastifyRequest, reply: FastifyReply) => {
      // Fastify's routeOptions getter builds a fresh object each time; the log line only needs this.
      request.routeUrl = route.url;
      // With tracing, the handler runs in its request span's context, so that the store calls it
      // makes are that span's children.
      if (request.span !== null) {
        return context.with(trace.setSpan(context.active(), request.span), () =>
          route.handler(request, reply),
        );
      }
      return route.handler(request, reply);
    },
  });
}

function endSpan(span: Span | null, status: number): void {
  if (span === null) return;
  span.setAttribute('http.response.status_code', status);
  // Server spans are errors for 5xx only: a 4xx is the client's mistake, answered correctly.
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}

/**
 * The one log line per request, from chosen fields only. The route is the pattern, never the
 * raw path: raw paths may hold anything a client typed, a token included.
 */
function logRequest(
  write: ((fields: RequestLogFields) => void) | undefined,
  request: FastifyRequest,
  reply: FastifyReply,
  metrics: Metrics,
): void {
  const route = request.routeUrl ?? request.routeOptions?.url ?? '(unmatched)';
  metrics.countRequest(request.method, route, reply.statusCode);
  write?.({
    requestId: request.id,
    method: request.method,
    route,
    status: reply.statusCode,
    // No onRequest hook ran for a request Fastify refused before routing (a malformed URL).
    ms: request.startedAt > 0 ? Math.round((performance.now() - request.startedAt) * 100) / 100 : 0,
    key: request.caller?.name,
    remote: request.ip,
  });
}

function logFailure(
  logger: Logger | undefined,
  request: FastifyRequest,
  problem: HttpProblem,
  error: unknown,
): void {
  if (problem.status < 500 || logger === undefined) return;
  if (problem.code === 'STORE_UNAVAILABLE' || problem.code === 'STORE_ERROR') {
    // The library has logged the store's error, its message and stack with any token hash cut
    // to its prefix; the driver's own message can quote row data, so only its name and code
    // here, to tie the request to that line.
    const cause = (error as { cause?: { name?: unknown; code?: unknown } }).cause;
    const fields = { requestId: request.id, cause: { name: cause?.name, code: cause?.code } };
    if (problem.code === 'STORE_ERROR') logger.error(fields, 'store error');
    else logger.warn(fields, 'store unavailable');
    return;
  }
  logger.error({ requestId: request.id, err: error }, 'request failed');
}
