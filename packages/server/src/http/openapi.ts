import { PROBLEM_CONTENT_TYPE } from './problems.js';
import { bodyIsOptional, type RouteDefinition } from './route.js';
import { type JsonSchema, problemSchema, sessionSchema } from './schemas.js';

/** Shared schemas that become `components/schemas` entries, referenced by `$ref`. */
const COMPONENTS = new Map<JsonSchema, string>([
  [sessionSchema, 'Session'],
  [problemSchema, 'Problem'],
]);

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'INVALID_ARGUMENT: a field is missing or malformed; `field` names it.',
  401: 'UNAUTHENTICATED: no API key, or not a valid one (with WWW-Authenticate: Bearer).',
  403: 'FORBIDDEN: the key may not do this (admin only, or another tenant).',
  404: 'NOT_FOUND: no such session, or one this key may not see.',
  409: 'SESSION_LIMIT_REACHED: the user already holds the policy’s maxSessionsPerUser sessions in this tenant (onSessionLimit refuse); end one first.',
  413: 'PAYLOAD_TOO_LARGE: the body is over the limit.',
  415: 'UNSUPPORTED_MEDIA_TYPE: the body is not application/json.',
  500: 'INTERNAL: a bug; STORE_ERROR: the session store answered with something unexpected (a bug, not an outage). The detail says nothing about internals; the server log has the rest.',
  503: 'STORE_UNAVAILABLE: the session store is not answering (with Retry-After).',
};

/**
 * Makes the OpenAPI 3.1 document from the route definitions: the request schemas in it are the
 * very objects Fastify validates with.
 *
 * @example
 * ```ts
 * const document = buildOpenApi(routes, { title: 'curfew', version: '0.1.0' });
 * ```
 */
export function buildOpenApi(
  routes: readonly RouteDefinition[],
  info: { title: string; version: string; description?: string },
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    paths[path] ??= {};
    paths[path][route.method.toLowerCase()] = operation(route);
  }
  const schemas: Record<string, unknown> = {};
  for (const [schema, name] of COMPONENTS) schemas[name] = schema;
  return {
    openapi: '3.1.0',
    info,
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    tags: [
      { name: 'sessions', description: 'One session: create, validate, touch, rotate, end.' },
      { name: 'users', description: "All of one user's sessions." },
      { name: 'tenants', description: "All of one tenant's sessions, or everyone's." },
      { name: 'operations', description: 'Probes, metrics, sweep, this document.' },
    ],
    paths,
    components: {
      schemas,
      securitySchemes: {
        apiKey: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key from CURFEW_API_KEYS, CURFEW_API_KEYS_FILE or `curfew keys create`. A key is bound to one tenant or to every tenant, and its scope (validate, sessions, metrics, admin) says which routes it may call; any other answers 403.',
        },
      },
    },
  };
}

function operation(route: RouteDefinition): Record<string, unknown> {
  const result: Record<string, unknown> = {
    operationId: route.operationId,
    summary: route.summary,
    tags: [route.tag],
    security: route.access === 'public' ? [] : [{ apiKey: [] }],
  };
  if (route.description !== undefined) result.description = route.description;
  const parameters = [...parametersOf(route.params, 'path'), ...parametersOf(route.query, 'query')];
  if (parameters.length > 0) result.parameters = parameters;
  if (route.body !== undefined) {
    result.requestBody = {
      required: !bodyIsOptional(route),
      content: { 'application/json': { schema: withRefs(route.body) } },
    };
  }
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    const contentType = response.contentType ?? 'application/json';
    responses[status] = {
      description: response.description,
      content: {
        [contentType]: response.schema === undefined ? {} : { schema: withRefs(response.schema) },
      },
    };
  }
  const errors = new Set(route.errors);
  if (route.access !== 'public') {
    errors.add(401);
    errors.add(403);
    // Only when CURFEW_RATE_LIMIT is set, but a client should be ready for it.
    errors.add(429);
  }
  if (route.body !== undefined || route.params !== undefined || route.query !== undefined) {
    errors.add(400);
  }
  for (const status of [...errors].sort((a, b) => a - b)) {
    responses[String(status)] = problemResponse(status);
  }
  responses['500'] = problemResponse(500);
  result.responses = responses;
  return result;
}

function problemResponse(status: number): Record<string, unknown> {
  const response: Record<string, unknown> = {
    description: PROBLEM_DESCRIPTIONS[status] ?? 'An error.',
    content: { [PROBLEM_CONTENT_TYPE.split(';')[0]!]: { schema: withRefs(problemSchema) } },
  };
  if (status === 401) {
    response.headers = {
      'WWW-Authenticate': { schema: { type: 'string' }, description: 'Bearer realm="curfew"' },
    };
  }
  if (status === 503) {
    response.headers = {
      'Retry-After': { schema: { type: 'integer' }, description: 'Seconds to wait.' },
    };
  }
  return response;
}

function parametersOf(schema: JsonSchema | undefined, location: 'path' | 'query'): unknown[] {
  if (schema === undefined) return [];
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === 'path' || required.has(name),
    schema: withRefs(property),
  }));
}

/** A deep copy of a schema with shared component schemas replaced by `$ref`s. */
function withRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withRefs);
  if (typeof schema !== 'object' || schema === null) return schema;
  const component = COMPONENTS.get(schema as JsonSchema);
  if (component !== undefined) return { $ref: `#/components/schemas/${component}` };
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = withRefs(value);
  return copy;
}
