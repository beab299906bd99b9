/**
 * curfew for Fastify 5: a plugin that gives each request its session as `request.session`, and
 * helpers to start, end and renew sessions. Routes adjust it with `config: { session: … }`.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { MemoryStore, SessionManager } from 'curfew';
 * import { createSessionPlugin, startSession } from 'curfew/fastify';
 *
 * const sessions = new SessionManager({ store: new MemoryStore() });
 * const app = Fastify();
 * await app.register(createSessionPlugin({ sessions }));
 * app.post('/login', { config: { session: { optional: true } } }, async (request, reply) => {
 *   await startSession(request, reply, { userId: '42' });
 *   return { ok: true };
 * });
 * app.get('/me', async (request) => ({ userId: request.session!.session.userId }));
 * ```
 * @packageDocumentation
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { invalidArgument } from '../core/errors.js';
import type { ReauthenticateOptions } from '../core/manager.js';
import type { CreateSessionInput } from '../core/session.js';
import {
  authenticate,
  bindState,
  type EndSessionOptions,
  end,
  type HeaderSink,
  PROBLEM_CONTENT_TYPE,
  type RequestSession,
  type RequestView,
  type ResolvedRoute,
  reauthenticate,
  renew,
  resolveIntegration,
  resolveRoute,
  type SessionIntegrationOptions,
  type SessionRefusal,
  type SessionRouteOptions,
  type SessionStatus,
  type StartedSession,
  sessionStatus,
  start,
  stateOf,
} from './session-flow.js';

export * from './public-api.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The valid session, set by curfew's plugin; `null` without one. */
    session: RequestSession | null;
    /** Why there is no session, on a route with `{ optional: true }`. */
    sessionRefusal: SessionRefusal | null;
  }
  interface FastifyContextConfig {
    /** curfew's options for this route, or `false` to leave the route alone entirely. */
    session?: SessionRouteOptions | false;
  }
}

const REQUIRED: ResolvedRoute = resolveRoute(undefined);

/**
 * Options for {@link createSessionPlugin}.
 *
 * @example
 * ```ts
 * const options: FastifySessionOptions = {
 *   sessions,
 *   routes: { status: '/session/status', keepAlive: '/session/keep-alive' },
 * };
 * ```
 */
export interface FastifySessionOptions extends SessionIntegrationOptions {
  /**
   * Routes the plugin adds for `curfew/browser`: `status` (GET; answers the {@link SessionStatus}
   * without touching the session, so a tab left open still times out) and `keepAlive` (POST;
   * records activity: "Stay signed in"). Default: neither.
   */
  routes?: { status?: string | undefined; keepAlive?: string | undefined } | undefined;
}

function checkRoutes(routes: FastifySessionOptions['routes']) {
  if (routes === undefined) return {};
  if (typeof routes !== 'object' || routes === null) {
    throw invalidArgument('routes', 'expected { status?, keepAlive? } with paths');
  }
  for (const name of ['status', 'keepAlive'] as const) {
    const path = routes[name];
    if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
      throw invalidArgument(`routes.${name}`, 'expected a path starting with /');
    }
  }
  return routes;
}

/**
 * Makes the session plugin. Registered, it applies to every route of the instance it is
 * registered on (register it inside a child plugin to cover only some): it reads the token from
 * the carrier (by default a `__Host-session` cookie), validates it and sets `request.session`.
 * Without a valid session it answers 401 `application/problem+json` with `WWW-Authenticate`,
 * unless the route's `config.session` is `{ optional: true }`; `{ touch: false }` validates
 * without recording activity; `false` skips the route. In cookie mode it answers 403 to a
 * state-changing request from another site. Every response with a session carries
 * `Session-Expires-In`, `Session-Idle-Expires-In`, `Session-Absolute-Expires-In` and, when one
 * is near, `Session-Warning: idle|absolute`.
 *
 * Throws `INVALID_ARGUMENT` at once for bad options, and when a route with a bad
 * `config.session` is added.
 *
 * @example
 * ```ts
 * await app.register(createSessionPlugin({ sessions }));
 * app.get('/api/status', { config: { session: { touch: false } } }, async (request) => ({
 *   secondsRemaining: request.session!.secondsRemaining,
 * }));
 * app.get('/healthz', { config: { session: false } }, async () => 'ok');
 * ```
 */
export function createSessionPlugin(options: FastifySessionOptions): FastifyPluginAsync {
  const integration = resolveIntegration(options);
  const { status, keepAlive } = checkRoutes(options.routes);
  const routes = new WeakMap<object, ResolvedRoute>();
  const plugin: FastifyPluginAsync = async (app) => {
    app.decorateRequest('session', null);
    app.decorateRequest('sessionRefusal', null);
    app.addHook('onRoute', (route) => {
      const config = route.config?.session;
      if (config !== undefined && config !== false) routes.set(config, resolveRoute(config));
    });
    app.addHook('onRequest', async (request, reply) => {
      const config = request.routeOptions.config?.session;
      if (config === false) return;
      const route = config === undefined ? REQUIRED : (routes.get(config) ?? resolveRoute(config));
      const outcome = await authenticate(integration, route, view(request), sink(reply));
      if (!outcome.ok) {
        return reply
          .code(outcome.problem.status)
          .header('content-type', PROBLEM_CONTENT_TYPE)
          .send(JSON.stringify(outcome.problem));
      }
      bindState(request, outcome.state);
      request.session = outcome.state.session;
      request.sessionRefusal = outcome.state.refusal;
    });
    // The routes curfew/browser calls. The status route never counts as activity.
    const answer = async (request: FastifyRequest) => sessionStatus(request.session!);
    if (status !== undefined) app.get(status, { config: { session: { touch: false } } }, answer);
    if (keepAlive !== undefined) app.post(keepAlive, answer);
  };
  // What fastify-plugin does: hooks and decorators then reach the instance that registers it.
  Object.assign(plugin, {
    [Symbol.for('skip-override')]: true,
    [Symbol.for('fastify.display-name')]: 'curfew',
    [Symbol.for('plugin-meta')]: { name: 'curfew', fastify: '5.x' },
  });
  return plugin;
}

/**
 * Signs a user in: ends any session the request already carried (so a planted token can never
 * become the user's session), creates one with the request's IP address and user agent, and
 * sets the carrier (the cookie; for a JWT carrier, returns `jwt` for the app to hand over).
 * The route needs `config: { session: { optional: true } }` in general.
 *
 * @example
 * ```ts
 * app.post('/login', { config: { session: { optional: true } } }, async (request, reply) => {
 *   const { jwt } = await startSession(request, reply, { userId: '42' });
 *   return { accessToken: jwt };
 * });
 * ```
 */
export async function startSession(
  request: FastifyRequest,
  reply: FastifyReply,
  input: CreateSessionInput,
): Promise<StartedSession> {
  const state = stateOf(request, 'startSession');
  const started = await start(state, view(request), sink(reply), input);
  request.session = state.session;
  request.sessionRefusal = null;
  return started;
}

/**
 * Signs out: revokes the request's session (reason `logout` by default) and clears the carrier,
 * in cookie mode also with `Clear-Site-Data: "cookies", "cache"`. Returns whether a valid session ended.
 *
 * @example
 * ```ts
 * app.post('/logout', async (request, reply) => {
 *   await endSession(request, reply);
 *   return reply.code(204).send();
 * });
 * ```
 */
export async function endSession(
  request: FastifyRequest,
  reply: FastifyReply,
  options?: EndSessionOptions,
): Promise<boolean> {
  const state = stateOf(request, 'endSession');
  const ended = await end(state, sink(reply), options);
  request.session = null;
  request.sessionRefusal = state.refusal;
  return ended;
}

/**
 * Gives the request's session a new token after a privilege change (the old one stops working
 * at once) and sets the carrier. Returns `null` when the request has no valid session.
 *
 * @example
 * ```ts
 * app.post('/sudo', async (request, reply) => {
 *   const renewed = await renewSession(request, reply);
 *   return { renewed: renewed !== null };
 * });
 * ```
 */
export async function renewSession(
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<StartedSession | null> {
  const state = stateOf(request, 'renewSession');
  const renewed = await renew(state, sink(reply));
  request.session = state.session;
  return renewed;
}

/**
 * After the app has re-checked the user's credentials (password, passkey, one-time code):
 * records the reauthentication on the request's session, which gets a new token (set on the
 * reply; the old one stops at once), fresh idle and absolute timers, and with `aal` a higher
 * level. Returns `null` when the request has no valid session; throws `INVALID_ARGUMENT` for a
 * level below the session's. Routes with `config: { session: { maxAge, minAal } }` then let the
 * user through.
 *
 * @example
 * ```ts
 * app.post('/reauthenticate', async (request, reply) => {
 *   await verifyPasskey(request);
 *   await reauthenticateSession(request, reply, { aal: 2, methods: ['hwk', 'user'] });
 *   return reply.code(204).send();
 * });
 * app.post('/password', { config: { session: { maxAge: '5m' } } }, changePassword);
 * ```
 */
export async function reauthenticateSession(
  request: FastifyRequest,
  reply: FastifyReply,
  options: ReauthenticateOptions = {},
): Promise<StartedSession | null> {
  const state = stateOf(request, 'reauthenticateSession');
  const renewed = await reauthenticate(state, sink(reply), options);
  request.session = state.session;
  return renewed;
}

function view(request: FastifyRequest): RequestView {
  return {
    method: request.method,
    ip: request.ip,
    header: (name) => {
      const value = request.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
  };
}

function sink(reply: FastifyReply): HeaderSink {
  return {
    set: (name, value) => void reply.header(name, value),
    append: (name, value) => {
      // Fastify keeps every Set-Cookie given to reply.header; other headers are joined by hand.
      if (name.toLowerCase() === 'set-cookie') return void reply.header(name, value);
      const existing = reply.getHeader(name);
      reply.header(name, existing === undefined ? value : `${String(existing)}, ${value}`);
    },
    remove: (name) => void reply.removeHeader(name),
  };
}
