import type { ApiCaller } from '../../api-keys.js';
import { HttpProblem, notFound } from '../problems.js';
import { callerOf, type RouteDefinition } from '../route.js';
import {
  aalSchema,
  methodsSchema,
  objectSchema,
  reasonSchema,
  sessionIdSchema,
  sessionSchema,
  tenantIdSchema,
  tokenSchema,
  validationSchema,
} from '../schemas.js';
import { serializeValidationView, toSessionView, toValidationView } from '../session-view.js';
import type { RouteContext } from './context.js';

const issuedSchema = objectSchema({ token: tokenSchema, session: sessionSchema }, [
  'token',
  'session',
]);

interface CreateBody {
  userId: string | number;
  tenantId?: string | null;
  ipAddress?: string | null;
  userAgent?: string | null;
  appType?: string;
  aal?: 1 | 2 | 3;
  methods?: string[];
}

interface ValidateBody {
  token: string;
  touch?: boolean;
  maxAge?: number;
  minAal?: 1 | 2 | 3;
}

/**
 * The routes on one session: create, validate, touch, revoke, rotate, reauthenticate, read and
 * end by id.
 */
export function sessionRoutes(context: RouteContext): RouteDefinition[] {
  const { manager, tokens, metrics, clock } = context;
  return [
    {
      method: 'POST',
      url: '/v1/sessions',
      operationId: 'createSession',
      summary: 'Start a session',
      description:
        'Returns the token once (only its hash is stored). A tenant key creates sessions only in its own tenant, which is the default tenantId. aal (default the policy’s level) sets the session’s limits; under the policy’s maxSessionsPerUser, the least recently active session of the user in that tenant is ended (session_limit), or, with onSessionLimit refuse, the create answers 409 SESSION_LIMIT_REACHED.',
      tag: 'sessions',
      access: 'sessions',
      body: objectSchema(
        {
          userId: {
            type: ['string', 'integer'],
            minLength: 1,
            maxLength: 255,
            minimum: 0,
            maximum: Number.MAX_SAFE_INTEGER,
            description:
              'A string of 1 to 255 characters, or a whole number (kept as its decimal string).',
          },
          tenantId: { ...tenantIdSchema, type: ['string', 'null'] },
          ipAddress: {
            type: ['string', 'null'],
            maxLength: 64,
            description: 'The end user’s IPv4 or IPv6 address.',
          },
          userAgent: {
            type: ['string', 'null'],
            description: 'The end user’s user agent; cut to the policy’s length.',
          },
          appType: {
            type: 'string',
            pattern: '^[A-Za-z0-9_.-]{1,64}$',
            description: 'A short label; default control_panel.',
          },
          aal: aalSchema,
          methods: methodsSchema,
        },
        ['userId'],
      ),
      responses: { 201: { description: 'The new session and its token.', schema: issuedSchema } },
      errors: [400, 403, 409, 413, 415, 503],
      async handler(request, reply) {
        const caller = callerOf(request);
        const body = request.body as CreateBody;
        const tenantId = tenantFor(caller, body.tenantId);
        const issued = await manager.create({
          userId: String(body.userId),
          tenantId,
          ipAddress: body.ipAddress,
          userAgent: body.userAgent,
          appType: body.appType,
          aal: body.aal,
          methods: body.methods,
        });
        reply.status(201);
        return { token: issued.token, session: toSessionView(issued.session) };
      },
    },
    {
      method: 'POST',
      url: '/v1/sessions/validate',
      operationId: 'validateSession',
      summary: 'Check a token',
      description:
        'An invalid token is an answer (valid: false), not an error. touch (default true) records activity; status polls send touch: false so a page left open does not keep its session alive. For a sensitive action, maxAge (seconds since the user authenticated) and minAal ask more of the session: one that falls short answers reason insufficient_authentication with what is missing, and stays valid for other requests.',
      tag: 'sessions',
      access: 'validate',
      body: objectSchema(
        {
          token: tokenSchema,
          touch: { type: 'boolean', default: true, description: 'Record activity.' },
          maxAge: {
            type: 'integer',
            minimum: 0,
            maximum: 31_536_000,
            description:
              'The user must have authenticated at most this many seconds ago (RFC 9470 max_age).',
          },
          minAal: {
            ...aalSchema,
            description: 'The session’s assurance level must be at least this.',
          },
        },
        ['token'],
      ),
      responses: {
        200: {
          description: 'The validation result.',
          schema: validationSchema,
          // The busiest route: a serializer compiled from its schema instead of JSON.stringify.
          serialize: serializeValidationView,
        },
      },
      errors: [400, 413, 415, 503],
      async handler(request) {
        const caller = callerOf(request);
        const body = request.body as ValidateBody;
        const result = await tokens.validate(caller, body.token, {
          touch: body.touch ?? true,
          maxAge: body.maxAge === undefined ? undefined : body.maxAge * 1000,
          minAal: body.minAal,
        });
        metrics.countValidation(result.valid ? 'valid' : result.reason);
        return toValidationView(result, clock());
      },
    },
    {
      method: 'POST',
      url: '/v1/sessions/touch',
      operationId: 'touchSession',
      summary: 'Record activity on a session',
      tag: 'sessions',
      access: 'sessions',
      body: objectSchema({ token: tokenSchema }, ['token']),
      responses: {
        200: {
          description: 'Whether the session is valid (activity recorded).',
          schema: objectSchema({ touched: { type: 'boolean' } }, ['touched']),
        },
      },
      errors: [400, 413, 415, 503],
      async handler(request) {
        const body = request.body as { token: string };
        return { touched: await tokens.touch(callerOf(request), body.token) };
      },
    },
    {
      method: 'POST',
      url: '/v1/sessions/revoke',
      operationId: 'revokeSession',
      summary: 'End the session a token belongs to (logout)',
      tag: 'sessions',
      access: 'sessions',
      body: objectSchema({ token: tokenSchema, reason: { ...reasonSchema, default: 'logout' } }, [
        'token',
      ]),
      responses: {
        200: {
          description: 'Whether a valid session was ended.',
          schema: objectSchema({ revoked: { type: 'boolean' } }, ['revoked']),
        },
      },
      errors: [400, 413, 415, 503],
      async handler(request) {
        const body = request.body as { token: string; reason?: string };
        return {
          revoked: await tokens.revoke(callerOf(request), body.token, body.reason ?? 'logout'),
        };
      },
    },
    {
      method: 'POST',
      url: '/v1/sessions/rotate',
      operationId: 'rotateSession',
      summary: 'Give a session a new token',
      description:
        'After sign-in or a privilege change, against session fixation. The old token stops working at once; the absolute expiry does not move.',
      tag: 'sessions',
      access: 'sessions',
      body: objectSchema({ token: tokenSchema }, ['token']),
      responses: { 200: { description: 'The new token and the session.', schema: issuedSchema } },
      errors: [400, 404, 413, 415, 503],
      async handler(request) {
        const body = request.body as { token: string };
        const issued = await tokens.rotate(callerOf(request), body.token);
        if (issued === null) throw notFound();
        return { token: issued.token, session: toSessionView(issued.session) };
      },
    },
    {
      method: 'POST',
      url: '/v1/sessions/reauthenticate',
      operationId: 'reauthenticateSession',
      summary: 'Record that the user has just authenticated again',
      description:
        'Call after your backend has re-checked the user’s credentials. The session gets a new token (the old one stops at once), authenticatedAt becomes now, the idle and absolute timers restart, and a higher aal steps the session up (its limits follow). The id stays. A lower aal than the session’s is refused (400).',
      tag: 'sessions',
      access: 'sessions',
      body: objectSchema({ token: tokenSchema, aal: aalSchema, methods: methodsSchema }, ['token']),
      responses: { 200: { description: 'The new token and the session.', schema: issuedSchema } },
      errors: [400, 404, 413, 415, 503],
      async handler(request) {
        const body = request.body as { token: string; aal?: 1 | 2 | 3; methods?: string[] };
        const issued = await tokens.reauthenticate(callerOf(request), body.token, {
          ...(body.aal === undefined ? {} : { aal: body.aal }),
          ...(body.methods === undefined ? {} : { methods: body.methods }),
        });
        if (issued === null) throw notFound();
        return { token: issued.token, session: toSessionView(issued.session) };
      },
    },
    {
      method: 'GET',
      url: '/v1/sessions/:id',
      operationId: 'getSession',
      summary: 'Read a session by its public id',
      tag: 'sessions',
      access: 'sessions',
      params: objectSchema({ id: sessionIdSchema }, ['id']),
      responses: { 200: { description: 'The session, in whatever state.', schema: sessionSchema } },
      errors: [400, 404, 503],
      async handler(request) {
        const { id } = request.params as { id: string };
        const session = await manager.getSession(id, scopeOf(callerOf(request)));
        if (session === null) throw notFound();
        return toSessionView(session);
      },
    },
    {
      method: 'DELETE',
      url: '/v1/sessions/:id',
      operationId: 'deleteSession',
      summary: 'End a session by its public id',
      tag: 'sessions',
      access: 'sessions',
      params: objectSchema({ id: sessionIdSchema }, ['id']),
      query: objectSchema({ reason: { ...reasonSchema, default: 'user_revoke' } }),
      responses: {
        200: {
          description: 'Whether a valid session was ended (false when it had already ended).',
          schema: objectSchema({ revoked: { type: 'boolean' } }, ['revoked']),
        },
      },
      errors: [400, 404, 503],
      async handler(request) {
        const { id } = request.params as { id: string };
        const { reason } = request.query as { reason?: string };
        const scope = scopeOf(callerOf(request));
        // The common case ends it in one call; only a `false` needs a read to tell 404 from 200.
        if (await manager.revokeSession(id, { ...scope, reason: reason ?? 'user_revoke' })) {
          return { revoked: true };
        }
        if ((await manager.getSession(id, scope)) === null) throw notFound();
        return { revoked: false };
      },
    },
  ];
}

/** The tenant filter a caller's reads and writes are limited to. */
export function scopeOf(caller: ApiCaller): { tenantId?: string } {
  return caller.tenantId === null ? {} : { tenantId: caller.tenantId };
}

/**
 * The tenant a caller asks for, checked against its key: a tenant key may name only its own
 * tenant (or none, meaning its own); an admin key may name any, or `null` for none.
 */
export function tenantFor(
  caller: ApiCaller,
  requested: string | null | undefined,
): string | null | undefined {
  if (caller.tenantId === null) return requested;
  if (requested === undefined || requested === caller.tenantId) return caller.tenantId;
  throw new HttpProblem(403, 'FORBIDDEN', 'this API key is bound to another tenant');
}
