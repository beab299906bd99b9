import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiCaller, ApiKeyScope } from '../api-keys.js';
import { HttpProblem } from './problems.js';
import type { JsonSchema } from './schemas.js';

/**
 * Who may call a route: anyone (`public`), or a key whose scope allows the one named here (see
 * `scopeAllows`; any other key gets 403).
 */
export type RouteAccess = 'public' | ApiKeyScope;

/** One documented success response of a route. */
export interface RouteResponse {
  description: string;
  /** JSON Schema of the body; omitted for non-JSON bodies described by `contentType`. */
  schema?: JsonSchema;
  /** Default `application/json`. */
  contentType?: string;
  /**
   * Writes the JSON body; default `JSON.stringify`. For a hot route, a serializer compiled from
   * `schema`: it must give the same text `JSON.stringify` would.
   */
  serialize?: (body: never) => string;
}

/**
 * Everything about a route in one place: how Fastify registers and validates it, and how the
 * OpenAPI document describes it. Route files return lists of these.
 *
 * @example
 * ```ts
 * const healthz: RouteDefinition = {
 *   method: 'GET', url: '/healthz', operationId: 'getHealth', summary: 'The process is up',
 *   tag: 'operations', access: 'public', errors: [],
 *   responses: { 200: { description: 'up', schema: statusSchema } },
 *   handler: async () => ({ status: 'ok' }),
 * };
 * ```
 */
export interface RouteDefinition {
  method: 'GET' | 'POST' | 'DELETE';
  /** Fastify path pattern (`/v1/sessions/:id`). */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: RouteAccess;
  body?: JsonSchema;
  query?: JsonSchema;
  params?: JsonSchema;
  /** Success responses by status. */
  responses: Record<number, RouteResponse>;
  /** Problem statuses the route can answer (401/403 are added from `access`). */
  errors: readonly number[];
  /** Returns the response body; sets the status on `reply` when it is not 200. */
  handler(request: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API key's caller; `null` on public routes. */
    caller: ApiCaller | null;
    /** The route pattern, set when the handler runs; `null` before. */
    routeUrl: string | null;
    /** `performance.now()` when the onRequest hook ran; 0 if it did not. */
    startedAt: number;
    /** The request's server span while it is open, when tracing is on; else `null`. */
    span: import('@opentelemetry/api').Span | null;
  }
}

/**
 * The authenticated caller of a key-protected route. The auth hook has already run, so a missing
 * caller is a wiring bug and answers 401 rather than falling through with admin rights.
 *
 * @example
 * ```ts
 * const caller = callerOf(request);
 * if (caller.tenantId !== null) options.tenantId = caller.tenantId;
 * ```
 */
export function callerOf(request: FastifyRequest): ApiCaller {
  if (request.caller === null) {
    throw new HttpProblem(401, 'UNAUTHENTICATED', 'an API key is required', {
      headers: { 'www-authenticate': 'Bearer realm="curfew"' },
    });
  }
  return request.caller;
}

/**
 * Whether a route's body may be left out (or sent empty): it has one whose fields are all
 * optional, such as a bulk revoke's `{ reason }`. Such a body is then taken as `{}`. The server
 * and the OpenAPI document (`requestBody.required`) both ask this.
 *
 * @example
 * ```ts
 * bodyIsOptional({ ...route, body: objectSchema({ reason: reasonSchema }) }); // true
 * ```
 */
export function bodyIsOptional(route: Pick<RouteDefinition, 'body'>): boolean {
  return route.body !== undefined && !(route.body.required as string[] | undefined)?.length;
}

/**
 * The methods each route path answers to, for the 405 that a request to a known path with
 * another method gets. A GET route answers HEAD as well (Fastify adds it).
 *
 * @example
 * ```ts
 * const allowed = allowedMethods(routes);
 * allowed('/v1/sessions/validate?x=1'); // ['POST']
 * ```
 */
export function allowedMethods(
  routes: readonly Pick<RouteDefinition, 'method' | 'url'>[],
): (url: string) => string[] {
  const byPattern = new Map<string, { path: RegExp; methods: Set<string> }>();
  for (const route of routes) {
    let entry = byPattern.get(route.url);
    if (entry === undefined) {
      const segments = route.url
        .split('/')
        .map((segment) =>
          segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        );
      entry = { path: new RegExp(`^${segments.join('/')}$`), methods: new Set() };
      byPattern.set(route.url, entry);
    }
    entry.methods.add(route.method);
    if (route.method === 'GET') entry.methods.add('HEAD');
  }
  const order = ['GET', 'HEAD', 'POST', 'DELETE'];
  return (url) => {
    const path = url.split('?', 1)[0]!;
    const methods = new Set<string>();
    for (const entry of byPattern.values()) {
      if (entry.path.test(path)) for (const method of entry.methods) methods.add(method);
    }
    return order.filter((method) => methods.has(method));
  };
}
