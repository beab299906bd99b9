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
