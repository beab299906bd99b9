/**
 * curfew for Express (4.21+ and 5): a middleware that gives each request its session as
 * `req.session`, and helpers to start, end and renew sessions.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { MemoryStore, SessionManager } from 'curfew';
 * import { createSessionMiddleware, endSession, startSession } from 'curfew/express';
 *
 * const sessions = new SessionManager({ store: new MemoryStore() });
 * const session = createSessionMiddleware({ sessions });
 * const app = express();
 * app.post('/login', session.with({ optional: true }), async (req, res) => {
 *   await startSession(req, res, { userId: '42' });
 *   res.sendStatus(204);
 * });
 * app.get('/me', session, (req, res) => res.json({ userId: req.session!.session.userId }));
 * app.post('/logout', session, async (req, res) => {
 *   await endSession(req, res);
 *   res.sendStatus(204);
 * });
 * ```
 * @packageDocumentation
 */
import type { IncomingHttpHeaders } from 'node:http';
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

declare global {
  // Express's own types merge this global interface into its Request.
  namespace Express {
    interface Request {
      /** The valid session, set by curfew's middleware; `undefined` without one. */
      session?: RequestSession | undefined;
      /** Why there is no session, on a route with `{ optional: true }`. */
      sessionRefusal?: SessionRefusal | undefined;
    }
  }
}

/**
 * The request as the middleware reads it: what Express's `Request` has (and Node's
 * `IncomingMessage`, plus `ip`).
 *
 * @example
 * ```ts
 * const req: ExpressRequestLike = { method: 'GET', headers: {}, ip: '203.0.113.7' };
 * ```
 */
export interface ExpressRequestLike {
  method: string;
  headers: IncomingHttpHeaders;
  /** Express's client address, which honours the `trust proxy` setting. */
  ip?: string | undefined;
  session?: RequestSession | undefined;
  sessionRefusal?: SessionRefusal | undefined;
}

/**
 * The response as the middleware writes it: Node's `ServerResponse` methods, which Express's
 * `Response` has.
 *
 * @example
 * ```ts
 * const res: ExpressResponseLike = httpServerResponse;
 * ```
 */
export interface ExpressResponseLike {
  statusCode: number;
  getHeader(name: string): number | string | readonly string[] | undefined;
  setHeader(name: string, value: number | string | readonly string[]): unknown;
  removeHeader(name: string): void;
  end(chunk: string): unknown;
}

/**
 * An Express middleware.
 *
 * @example
 * ```ts
 * const handler: ExpressSessionHandler = createSessionMiddleware({ sessions });
 * ```
 */
export type ExpressSessionHandler = (
  req: ExpressRequestLike,
  res: ExpressResponseLike,
  next: (error?: unknown) => void,
) => void;

/**
 * The middleware {@link createSessionMiddleware} returns: it requires a session and records
 * activity; `with` makes a variant for routes that differ.
 *
 * @example
 * ```ts
 * app.get('/api/status', session.with({ touch: false }), status);
 * ```
 */
export interface ExpressSessionMiddleware extends ExpressSessionHandler {
  /** The same middleware with other route options; checked at once. */
  with(route: SessionRouteOptions): ExpressSessionHandler;
  /**
   * A whole route answering the session's {@link SessionStatus} without touching it: what
   * `curfew/browser` polls, so a tab left open still times out (`app.get('/session/status', session.status)`).
   */
  status: ExpressSessionHandler;
  /**
   * A whole route that records activity and answers the {@link SessionStatus}: "Stay signed in"
   * (`app.post('/session/keep-alive', session.keepAlive)`). A POST: cross-site ones are refused.
   */
  keepAlive: ExpressSessionHandler;
}

/**
 * Makes the session middleware. It reads the token from the carrier (by default a
 * `__Host-session` cookie), validates it, and sets `req.session`. Without a valid session it
 * answers 401 `application/problem+json` with `WWW-Authenticate`, unless the route is
 * `{ optional: true }`. In cookie mode it answers 403 to a state-changing request from another
 * site. Every response with a session carries `Session-Expires-In`, `Session-Idle-Expires-In`,
 * `Session-Absolute-Expires-In` and, when one is near, `Session-Warning: idle|absolute`.
 *
 * A store failure goes to `next(error)` as a `CurfewError` with code `STORE_UNAVAILABLE`.
 * Throws `INVALID_ARGUMENT` at once for bad options.
 *
 * @example
 * ```ts
 * const session = createSessionMiddleware({ sessions });
 * app.get('/account', session, (req, res) => res.json(req.session!.session));
 * app.get('/api/status', session.with({ touch: false }), (req, res) =>
 *   res.json({ secondsRemaining: req.session!.secondsRemaining }),
 * );
 * ```
 */
export function createSessionMiddleware(
  options: SessionIntegrationOptions,
): ExpressSessionMiddleware {
  const integration = resolveIntegration(options);
  const make = (route: SessionRouteOptions | undefined): ExpressSessionHandler => {
    const resolved = resolveRoute(route);
    return function curfewSession(req, res, next) {
      authenticate(integration, resolved, view(req), sink(res))
        .then((outcome) => {
          if (!outcome.ok) {
            res.statusCode = outcome.problem.status;
            res.setHeader('Content-Type', PROBLEM_CONTENT_TYPE);
            res.end(JSON.stringify(outcome.problem));
            return;
          }
          bindState(req, outcome.state);
          req.session = outcome.state.session ?? undefined;
          req.sessionRefusal = outcome.state.refusal ?? undefined;
          next();
        })
        // Express 4 does not catch a rejected promise; nothing here may become an unhandled one.
        .catch(next);
    };
  };
  const answer = (check: ExpressSessionHandler): ExpressSessionHandler =>
    function curfewSessionStatus(req, res, next) {
      check(req, res, (error?: unknown) => {
        if (error !== undefined) return next(error);
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(sessionStatus(req.session!)));
      });
    };
  return Object.assign(make(undefined), {
    with: make,
    status: answer(make({ touch: false })),
    keepAlive: answer(make(undefined)),
  });
}

/**
 * Signs a user in: ends any session the request already carried (so a planted token can never
 * become the user's session), creates one with the request's IP address and user agent, and
 * sets the carrier (the cookie; for a JWT carrier, returns `jwt` for the app to hand over).
 * The route needs the middleware, usually `{ optional: true }`.
 *
 * @example
 * ```ts
 * app.post('/login', session.with({ optional: true }), async (req, res) => {
 *   const user = await checkPassword(req.body);
 *   await startSession(req, res, { userId: user.id });
 *   res.redirect(303, '/');
 * });
 * ```
 */
export async function startSession(
  req: ExpressRequestLike,
  res: ExpressResponseLike,
  input: CreateSessionInput,
): Promise<StartedSession> {
  const state = stateOf(req, 'startSession');
  const started = await start(state, view(req), sink(res), input);
  req.session = state.session ?? undefined;
  req.sessionRefusal = undefined;
  return started;
}

/**
 * Signs out: revokes the request's session (reason `logout` by default) and clears the carrier,
 * in cookie mode also with `Clear-Site-Data: "cookies", "cache"`. Returns whether a valid session ended.
 *
 * @example
 * ```ts
 * app.post('/logout', session, async (req, res) => {
 *   await endSession(req, res);
 *   res.redirect(303, '/signed-out');
 * });
 * ```
 */
export async function endSession(
  req: ExpressRequestLike,
  res: ExpressResponseLike,
  options?: EndSessionOptions,
): Promise<boolean> {
  const state = stateOf(req, 'endSession');
  const ended = await end(state, sink(res), options);
  req.session = undefined;
  req.sessionRefusal = state.refusal ?? undefined;
  return ended;
}

/**
 * Gives the request's session a new token after a privilege change (the old one stops working
 * at once) and sets the carrier. Returns `null` when the request has no valid session.
 *
 * @example
 * ```ts
 * app.post('/sudo', session, async (req, res) => {
 *   await confirmPassword(req);
 *   await renewSession(req, res);
 *   res.sendStatus(204);
 * });
 * ```
 */
export async function renewSession(
  req: ExpressRequestLike,
  res: ExpressResponseLike,
): Promise<StartedSession | null> {
  const state = stateOf(req, 'renewSession');
  const renewed = await renew(state, sink(res));
  req.session = state.session ?? undefined;
  return renewed;
}

/**
 * After the app has re-checked the user's credentials (password, passkey, one-time code):
 * records the reauthentication on the request's session, which gets a new token (set on the
 * response; the old one stops at once), fresh idle and absolute timers, and with `aal` a higher
 * level. Returns `null` when the request has no valid session; throws `INVALID_ARGUMENT` for a
 * level below the session's. Routes with `maxAge`/`minAal` then let the user through.
 *
 * @example
 * ```ts
 * app.post('/reauthenticate', session, async (req, res) => {
 *   if (!(await checkPassword(req.session!.session.userId, req.body.password))) return res.sendStatus(403);
 *   await reauthenticateSession(req, res, { aal: 1, methods: ['pwd'] });
 *   res.sendStatus(204);
 * });
 * app.post('/password', session.with({ maxAge: '5m' }), changePassword);
 * ```
 */
export async function reauthenticateSession(
  req: ExpressRequestLike,
  res: ExpressResponseLike,
  options: ReauthenticateOptions = {},
): Promise<StartedSession | null> {
  const state = stateOf(req, 'reauthenticateSession');
  const renewed = await reauthenticate(state, sink(res), options);
  req.session = state.session ?? undefined;
  return renewed;
}

function view(req: ExpressRequestLike): RequestView {
  return {
    method: req.method,
    ip: req.ip,
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    },
  };
}

function sink(res: ExpressResponseLike): HeaderSink {
  return {
    set: (name, value) => void res.setHeader(name, value),
    append: (name, value) => {
      const existing = res.getHeader(name);
      const list =
        existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
      res.setHeader(name, [...list, value]);
    },
    remove: (name) => res.removeHeader(name),
  };
}
