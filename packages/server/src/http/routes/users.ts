import { callerOf, type RouteDefinition } from '../route.js';
import {
  cursorSchema,
  objectSchema,
  reasonSchema,
  sessionIdSchema,
  sessionSchema,
  tenantIdSchema,
  userIdSchema,
} from '../schemas.js';
import { toSessionView } from '../session-view.js';
import type { RouteContext } from './context.js';
import { tenantFor } from './sessions.js';

const userParams = objectSchema({ userId: userIdSchema }, ['userId']);

/** The routes on all of one user's sessions: list them, end them. */
export function userRoutes({ manager }: RouteContext): RouteDefinition[] {
  return [
    {
      method: 'GET',
      url: '/v1/users/:userId/sessions',
      operationId: 'listUserSessions',
      summary: "A page of a user's valid sessions",
      description:
        'Sessions valid now, most recently active first, ties by id (expired ones not yet swept are left out), a page at a time: pass nextCursor back as cursor for the next page; it is null on the last one. Paging never repeats a session or skips one that stayed valid, while sessions are created and ended in between. A tenant key lists only its own tenant; an admin key lists every tenant unless tenantId is given.',
      tag: 'users',
      access: 'sessions',
      params: userParams,
      query: objectSchema({
        tenantId: tenantIdSchema,
        limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        cursor: cursorSchema,
      }),
      responses: {
        200: {
          description: 'One page of the sessions.',
          schema: objectSchema(
            {
              sessions: { type: 'array', items: sessionSchema },
              nextCursor: {
                type: ['string', 'null'],
                description: 'The cursor of the next page; null when this is the last.',
              },
            },
            ['sessions', 'nextCursor'],
          ),
        },
      },
      errors: [400, 403, 503],
      async handler(request) {
        const { userId } = request.params as { userId: string };
        const query = request.query as { tenantId?: string; limit?: number; cursor?: string };
        const tenantId = tenantFor(callerOf(request), query.tenantId);
        const page = await manager.listUserSessions(userId, {
          limit: query.limit ?? 100,
          ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
          ...(tenantId === undefined ? {} : { tenantId }),
        });
        return { sessions: page.sessions.map(toSessionView), nextCursor: page.nextCursor };
      },
    },
    {
      method: 'POST',
      url: '/v1/users/:userId/sessions/revoke',
      operationId: 'revokeUserSessions',
      summary: "End a user's sessions",
      description:
        '"Sign out everywhere", after a password change. tenantId null ends only sessions without a tenant (admin keys); exceptSessionId keeps the caller’s own session. However many sessions the user has, they are ended in short batches; once this answers, none of the sessions the user had when it was called is valid.',
      tag: 'users',
      access: 'sessions',
      params: userParams,
      body: objectSchema({
        reason: { ...reasonSchema, default: 'password_change' },
        tenantId: { ...tenantIdSchema, type: ['string', 'null'] },
        exceptSessionId: sessionIdSchema,
      }),
      responses: {
        200: {
          description: 'How many valid sessions were ended.',
          schema: objectSchema({ revoked: { type: 'integer', minimum: 0 } }, ['revoked']),
        },
      },
      errors: [400, 403, 413, 415, 503],
      async handler(request) {
        const { userId } = request.params as { userId: string };
        const body = request.body as {
          reason?: string;
          tenantId?: string | null;
          exceptSessionId?: string;
        };
        const tenantId = tenantFor(callerOf(request), body.tenantId);
        const revoked = await manager.revokeUserSessions(userId, {
          reason: body.reason ?? 'password_change',
          ...(tenantId === undefined ? {} : { tenantId }),
          ...(body.exceptSessionId === undefined ? {} : { exceptSessionId: body.exceptSessionId }),
        });
        return { revoked };
      },
    },
  ];
}
