/**
 * curfew for Hono 4: a middleware that gives each request its session as `c.get('session')`,
 * and helpers to start, end and renew sessions.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { MemoryStore, SessionManager } from 'curfew';
 * import { createSessionMiddleware, startSession } from 'curfew/hono';
 *
 * const sessions = new SessionManager({ store: new MemoryStore() });
 * const session = createSessionMiddleware({ sessions });
 * const app = new Hono();
 * app.post('/login', session.with({ optional: true }), async (c) => {
 *   await startSession(c, { userId: '42' });
 *   return c.body(null, 204);
 * });
 * app.get('/me', session, (c) => c.json({ userId: c.get('session').session.userId }));
 * ```
 * @packageDocumentation
 */
import type { Context, MiddlewareHandler } from 'hono';
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

/**
 * Options for the Hono {@link createSessionMiddleware}.
 *
 * @example
 * ```ts
 * import { getConnInfo } from '@hono/node-server/conninfo';
 *
 * const options: HonoSessionOptions = { sessions, clientIp: (c) => getConnInfo(c).remote.address };
 * ```
 */
export interface HonoSessionOptions extends SessionIntegrationOptions {
  /**
   * The client's IP address, recorded with a new session. Hono has no runtime-independent way
   * to know it: pass your adapter's `getConnInfo`, or read a header your proxy sets. Default: none.
   */
  clientIp?: ((c: Context) => string | null | undefined) | undefined;
}

/**
 * The context variables on a route that requires a session.
 *
 * @example
 * ```ts
 * app.get('/me', session, (c) => c.json(c.get('session').session));
 * ```
 */
export interface SessionVariables {
  session: RequestSession;
  sessionRefusal: null;
}

/**
 * The context variables on a route with `{ optional: true }`.
 *
 * @example
 * ```ts
 * app.get('/', session.with({ optional: true }), (c) =>
 *   c.text(c.get('session') ? 'welcome back' : `signed out: ${c.get('sessionRefusal')?.reason}`),
 * );
 * ```
 */
export interface OptionalSessionVariables {
  session: RequestSession | null;
  sessionRefusal: SessionRefusal | null;
}

/**
 * The middleware {@link createSessionMiddleware} returns: it requires a session and records
 * activity; `with` makes a variant for routes that differ.
 *
 * @example
 * ```ts
 * app.get('/api/status', session.with({ touch: false }), (c) => c.json({ ok: true }));
 * ```
 */
export interface HonoSessionMiddleware extends MiddlewareHandler<{ Variables: SessionVariables }> {
  /** The same middleware with other route options; checked at once. */
  with(
    route: SessionRouteOptions & { optional?: false | undefined },
  ): MiddlewareHandler<{ Variables: SessionVariables }>;
  with(route: SessionRouteOptions): MiddlewareHandler<{ Variables: OptionalSessionVariables }>;
  /**
   * A whole route answering the session's {@link SessionStatus} without touching it: what
   * `curfew/browser` polls, so a tab left open still times out (`app.get('/session/status', session.status)`).
   */
  status: MiddlewareHandler;
  /**
   * A whole route that records activity and answers the {@link SessionStatus}: "Stay signed in"
   * (`app.post('/session/keep-alive', session.keepAlive)`). A POST: cross-site ones are refused.
   */
  keepAlive: MiddlewareHandler;
}

/**
 * Makes the session middleware. It reads the token from the carrier (by default a
 * `__Host-session` cookie), validates it, and sets `c.get('session')`. Without a valid session
 * it answers 401 `application/problem+json` with `WWW-Authenticate`, unless the route is
 * `{ optional: true }`. In cookie mode it answers 403 to a state-changing request from another
 * site. Every response with a session carries `Session-Expires-In`, `Session-Idle-Expires-In`,
 * `Session-Absolute-Expires-In` and, when one is near, `Session-Warning: idle|absolute`; build
 * responses with the context (`c.json`, `c.body`, …) so these headers reach them.
 *
 * A store failure is thrown as a `CurfewError` with code `STORE_UNAVAILABLE`, for `app.onError`.
 * Throws `INVALID_ARGUMENT` at once for bad options.
 *
 * @example
 * ```ts
 * const session = createSessionMiddleware({ sessions });
 * app.use('/api/*', session);
 * app.get('/api/me', (c) => c.json({ userId: c.get('session').session.userId }));
 * ```
 */
export function createSessionMiddleware(options: HonoSessionOptions): HonoSessionMiddleware {
  const integration = resolveIntegration(options);
  const clientIp = options.clientIp;
  if (clientIp !== undefined && typeof clientIp !== 'function') {
    throw invalidArgument('clientIp', 'expected a function of the context');
  }
  const make = (route: SessionRouteOptions | undefined): MiddlewareHandler => {
    const resolved = resolveRoute(route);
    return async function curfewSession(c, next) {
      const outcome = await authenticate(integration, resolved, view(c, clientIp), sink(c));
      if (!outcome.ok) {
        return c.body(JSON.stringify(outcome.problem), outcome.problem.status, {
          'Content-Type': PROBLEM_CONTENT_TYPE,
        });
      }
      bindState(c, outcome.state);
      c.set('session', outcome.state.session);
      c.set('sessionRefusal', outcome.state.refusal);
      c.set(CLIENT_IP, clientIp);
      await next();
    };
  };
  const answer =
    (check: MiddlewareHandler): MiddlewareHandler =>
    async (c, _next) => {
      let passed = false;
      const refused = await check(c, async () => {
        passed = true;
      });
      if (!passed) return refused;
      return c.json(sessionStatus(c.get('session') as RequestSession));
    };
  return Object.assign(make(undefined), {
    with: make,
    status: answer(make({ touch: false })),
    keepAlive: answer(make(undefined)),
  }) as HonoSessionMiddleware;
}

/**
 * Signs a user in: ends any session the request already carried (so a planted token can never
 * become the user's session), creates one with the request's user agent (and IP address, with
 * `clientIp`), and sets the carrier (the cookie; for a JWT carrier, returns `jwt` for the app
 * to hand over). The route needs the middleware, usually `{ optional: true }`.
 *
 * @example
 * ```ts
 * app.post('/login', session.with({ optional: true }), async (c) => {
 *   const { jwt } = await startSession(c, { userId: '42' });
 *   return c.json({ accessToken: jwt });
 * });
 * ```
 */
export async function startSession(c: Context, input: CreateSessionInput): Promise<StartedSession> {
  const state = stateOf(c, 'startSession');
  const started = await start(state, view(c, c.get(CLIENT_IP)), sink(c), input);
  c.set('session', state.session);
  c.set('sessionRefusal', null);
  return started;
}

/**
 * Signs out: revokes the request's session (reason `logout` by default) and clears the carrier,
 * in cookie mode also with `Clear-Site-Data: "cookies", "cache"`. Returns whether a valid session ended.
 *
 * @example
 * ```ts
 * app.post('/logout', session, async (c) => {
 *   await endSession(c);
 *   return c.redirect('/signed-out', 303);
 * });
 * ```
 */
export async function endSession(c: Context, options?: EndSessionOptions): Promise<boolean> {
  const state = stateOf(c, 'endSession');
  const ended = await end(state, sink(c), options);
  c.set('session', null);
  c.set('sessionRefusal', state.refusal);
  return ended;
}

/**
 * Gives the request's session a new token after a privilege change (the old one stops working
 * at once) and sets the carrier. Returns `null` when the request has no valid session.
 *
 * @example
 * ```ts
 * app.post('/sudo', session, async (c) => c.json({ renewed: (await renewSession(c)) !== null }));
 * ```
 */
export async function renewSession(c: Context): Promise<StartedSession | null> {
  const state = stateOf(c, 'renewSession');
  const renewed = await renew(state, sink(c));
  c.set('session', state.session);
  return renewed;
}

/**
 * After the app has re-checked the user's credentials (password, passkey, one-time code):
 * records the reauthentication on the request's session, which gets a new token (the old one
 * stops at once), fresh idle and absolute timers, and with `aal` a higher level. Returns `null`
 * when the request has no valid session; throws `INVALID_ARGUMENT` for a level below the
 * session's. Routes with `maxAge`/`minAal` then let the user through.
 *
 * @example
 * ```ts
 * app.post('/reauthenticate', session, async (c) => {
 *   await checkOneTimeCode(c);
 *   const renewed = await reauthenticateSession(c, { aal: 2, methods: ['pwd', 'otp'] });
 *   return c.json({ jwt: renewed?.jwt });
 * });
 * app.post('/password', session.with({ maxAge: '5m' }), changePassword);
 * ```
 */
export async function reauthenticateSession(
  c: Context,
  options: ReauthenticateOptions = {},
): Promise<StartedSession | null> {
  const state = stateOf(c, 'reauthenticateSession');
  const renewed = await reauthenticate(state, sink(c), options);
  c.set('session', state.session);
  return renewed;
}

// Keeps the factory's clientIp with the request for startSession, which has only the context.
const CLIENT_IP = 'curfew.clientIp';

function view(c: Context, clientIp: HonoSessionOptions['clientIp']): RequestView {
  return {
    method: c.req.method,
    ip: clientIp?.(c) ?? undefined,
    header: (name) => c.req.header(name),
  };
}

function sink(c: Context): HeaderSink {
  return {
    set: (name, value) => c.header(name, value),
    append: (name, value) => c.header(name, value, { append: true }),
    remove: (name) => c.header(name, undefined),
  };
}
