import { METRICS_CONTENT_TYPE } from '../../metrics.js';
import { HttpProblem, storeUnavailable } from '../problems.js';
import type { RouteDefinition } from '../route.js';
import { type JsonSchema, objectSchema } from '../schemas.js';
import type { RouteContext } from './context.js';

const statusSchema = objectSchema({ status: { const: 'ok' } }, ['status']);

/**
 * Probes, metrics, the sweep and the API description. `openApi` is called lazily because the
 * document is made from every route, these included.
 */
export function operationRoutes(
  { manager, metrics, unready }: RouteContext,
  openApi: () => Record<string, unknown>,
): RouteDefinition[] {
  return [
    {
      method: 'GET',
      url: '/healthz',
      operationId: 'getHealth',
      summary: 'Liveness: the process is up',
      tag: 'operations',
      access: 'public',
      responses: { 200: { description: 'The process is up.', schema: statusSchema } },
      errors: [],
      async handler() {
        return { status: 'ok' };
      },
    },
    {
      method: 'GET',
      url: '/readyz',
      operationId: 'getReadiness',
      summary: 'Readiness: the store answers and the clocks agree',
      tag: 'operations',
      access: 'public',
      responses: { 200: { description: 'The store answers.', schema: statusSchema } },
      errors: [503],
      async handler() {
        try {
          await manager.ping();
        } catch {
          throw storeUnavailable();
        }
        const reason = unready();
        if (reason !== null) throw new HttpProblem(503, 'CLOCK_SKEW', reason);
        return { status: 'ok' };
      },
    },
    {
      method: 'GET',
      url: '/metrics',
      operationId: 'getMetrics',
      summary: 'Prometheus metrics',
      description:
        'Requests by route and status, validations by result, sessions created and ended by reason, store latency. Counts are per process.',
      tag: 'operations',
      access: 'metrics',
      responses: {
        200: { description: 'Prometheus text exposition format 0.0.4.', contentType: 'text/plain' },
      },
      errors: [],
      async handler(_request, reply) {
        reply.type(METRICS_CONTENT_TYPE);
        return await metrics.render();
      },
    },
    {
      method: 'GET',
      url: '/openapi.json',
      operationId: 'getOpenApi',
      summary: 'This API, as an OpenAPI 3.1 document',
      tag: 'operations',
      access: 'public',
      responses: { 200: { description: 'The OpenAPI document.', schema: { type: 'object' } } },
      errors: [],
      async handler() {
        return openApi();
      },
    },
    {
      method: 'POST',
      url: '/v1/sweep',
      operationId: 'sweepExpired',
      summary: 'End every expired session now',
      description:
        'The service also sweeps on a jittered timer. Safe to run from several instances at once. Admin keys only.',
      tag: 'operations',
      access: 'admin',
      // Nothing to say: an empty object, or no body at all.
      body: objectSchema({}),
      responses: {
        200: {
          description: 'How many sessions were ended, by timeout.',
          schema: objectSchema(
            { absolute: { type: 'integer', minimum: 0 }, idle: { type: 'integer', minimum: 0 } },
            ['absolute', 'idle'],
          ) as JsonSchema,
        },
      },
      errors: [413, 415, 503],
      async handler() {
        return manager.sweepExpired();
      },
    },
  ];
}
