import { callerOf, type RouteDefinition } from '../route.js';
import { objectSchema, reasonSchema, tenantIdSchema } from '../schemas.js';
import type { RouteContext } from './context.js';
import { tenantFor } from './sessions.js';

const revokedSchema = objectSchema(
  { revoked: { type: 'integer', minimum: 0, description: 'How many valid sessions were ended.' } },
  ['revoked'],
);
const reasonBody = objectSchema({ reason: { ...reasonSchema, default: 'admin_revoke' } });

/** The routes that end many users' sessions at once: a tenant's, or everyone's. */
export function tenantRoutes({ manager }: RouteContext): RouteDefinition[] {
  return [
    {
      method: 'POST',
      url: '/v1/tenants/:tenantId/sessions/revoke',
      operationId: 'revokeTenantSessions',
      summary: 'End every session of a tenant',
      description:
        'After a tenant is suspended or its sign-in settings change. A tenant key may end only its own tenant’s sessions. The sessions are ended in short batches, each with the reason (default admin_revoke) and an ended event; once this answers, none of the tenant’s sessions that existed when it was called is valid.',
      tag: 'tenants',
      access: 'sessions',
      params: objectSchema({ tenantId: tenantIdSchema }, ['tenantId']),
      body: reasonBody,
      responses: { 200: { description: 'How many were ended.', schema: revokedSchema } },
      errors: [400, 403, 413, 415, 503],
      async handler(request, reply) {
        const { tenantId } = request.params as { tenantId: string };
        const { reason } = (request.body ?? {}) as { reason?: string };
        // A tenant key naming another tenant is refused before anything is read.
        const allowed = tenantFor(callerOf(request), tenantId) ?? tenantId;
        const revoked = await manager.revokeTenantSessions(allowed, {
          reason: reason ?? 'admin_revoke',
        });
        request.log.info({ tenantId: allowed, revoked, reason }, 'tenant sessions revoked');
        reply.header('cache-control', 'no-store');
        return { revoked };
      },
    },
    {
      method: 'POST',
      url: '/v1/sessions/revoke-all',
      operationId: 'revokeAllSessions',
      summary: 'End every session of every user and tenant',
      description:
        'After a compromise, or to make everyone sign in again under a new policy. Admin keys only. Ended in short batches, each session with the reason (default admin_revoke) and an ended event; once this answers, no session that existed when it was called is valid.',
      tag: 'tenants',
      access: 'admin',
      body: reasonBody,
      responses: { 200: { description: 'How many were ended.', schema: revokedSchema } },
      errors: [400, 413, 415, 503],
      async handler(request) {
        const { reason } = (request.body ?? {}) as { reason?: string };
        const revoked = await manager.revokeAllSessions({ reason: reason ?? 'admin_revoke' });
        request.log.warn({ revoked, reason }, 'all sessions revoked');
        return { revoked };
      },
    },
  ];
}
