// What every framework integration does, written once against a tiny request/response shape:
// read the carrier, validate, decide 401/403 or go on, set the session headers, and start, end
// or renew a session. Each integration file only adapts its framework to these shapes.
import { isIP } from 'node:net';
import type { CarrierHeader, CarrierRequest, SessionCarrier } from '../carriers/carrier.js';
import { createCookieCarrier } from '../carriers/cookie.js';
import { type Aal, checkAal } from '../core/assurance.js';
import { type Duration, parseDuration } from '../core/duration.js';
import type { EndReason } from '../core/end-reason.js';
import { invalidArgument } from '../core/errors.js';
import type {
  ReauthenticateOptions,
  SessionManager,
  SessionValidationResult,
} from '../core/manager.js';
import type { CreateSessionInput, Session } from '../core/session.js';

/**
 * Options shared by every integration's factory.
 *
 * @example
 * ```ts
 * const options: SessionIntegrationOptions = { sessions: new SessionManager({ store }) };
 * ```
 */
export interface SessionIntegrationOptions {
  /** The manager that validates, creates and ends sessions. */
  sessions: SessionManager;
  /** How the token travels; default a `__Host-session` cookie (`createCookieCarrier()`). */
  carrier?: SessionCarrier | undefined;
}

/**
 * Per-route behaviour.
 *
 * @example
 * ```ts
 * const statusPoll: SessionRouteOptions = { touch: false }; // not activity
 * const signIn: SessionRouteOptions = { optional: true };   // no session yet
 * const changePassword: SessionRouteOptions = { maxAge: '5m', minAal: 2 }; // fresh, two factors
 * ```
 */
export interface SessionRouteOptions {
  /** Let requests without a valid session through (the session is then `null`); default `false`. */
  optional?: boolean | undefined;
  /**
   * Record activity (default `true`). A status poll passes `false` so that a tab left open
   * still times out for idleness.
   */
  touch?: boolean | undefined;
  /**
   * Send `Cache-Control: no-store` on the route's authenticated responses (default `true`), so
   * no cache, shared or the browser's own, keeps a user's page. Set `false` only for a response
   * that holds nothing of the user's and that the handler marks cacheable itself.
   */
  noStore?: boolean | undefined;
  /**
   * For a sensitive action: the user must have authenticated at most this long ago (`'5m'`).
   * Otherwise the request gets a 401 step-up challenge (RFC 9470,
   * `error="insufficient_user_authentication"` with `max_age`), the session stays valid, and the
   * app asks the user to prove who they are before calling `reauthenticateSession`.
   */
  maxAge?: Duration | undefined;
  /** For a sensitive action: the session's assurance level must be at least this (RFC 9470 `acr_values`). */
  minAal?: Aal | undefined;
}

/**
 * The request's valid session, as `SessionManager.validate` returned it: the session and its
 * remaining seconds and warning.
 *
 * @example
 * ```ts
 * const current: RequestSession = req.session!;
 * console.log(current.session.userId, current.secondsRemaining, current.warning);
 * ```
 */
export type RequestSession = Extract<SessionValidationResult, { valid: true }>;

/**
 * Why a request has no session: nothing presented (`missing`), a credential that could not be
 * read or verified (`invalid`), or the manager's reason (`not_found`, with `endReason` when the
 * session was ended by logout or revocation; `idle`; `absolute`). On an optional route, the
 * handler gets it to tell the user why they were signed out.
 *
 * @example
 * ```ts
 * if (req.sessionRefusal?.endReason === 'user_revoke') res.send('You were signed out elsewhere.');
 * ```
 */
export interface SessionRefusal {
  readonly reason: 'missing' | 'invalid' | 'not_found' | 'idle' | 'absolute';
  readonly endReason?: EndReason | undefined;
}

/**
 * The `acr_values` name of an assurance level in a step-up challenge: the URIs of the US
 * federal identity profile (`http://idmanagement.gov/ns/assurance/aal/2`), which OpenID
 * providers such as login.gov also use.
 *
 * @example
 * ```ts
 * aalAcrValue(2); // "http://idmanagement.gov/ns/assurance/aal/2"
 * ```
 */
export function aalAcrValue(aal: Aal): string {
  return `http://idmanagement.gov/ns/assurance/aal/${aal}`;
}

/**
 * The RFC 9457 problem document of a refused request (`application/problem+json`). It says only
 * what kind of thing happened: no session (`missing`), an unreadable one (`invalid`), expired
 * (`idle`, `absolute`) or ended (`ended`: signed out, revoked, or never known). Why a session
 * ended (logout, an administrator, a password change) stays on the server, in the
 * {@link SessionRefusal}, events and logs: the holder of a stolen token learns nothing from it.
 *
 * @example
 * ```json
 * { "type": "urn:curfew:problem:unauthenticated", "title": "Unauthorized", "status": 401,
 *   "detail": "the session expired after a period of inactivity", "code": "UNAUTHENTICATED",
 *   "reason": "idle" }
 * ```
 */
export interface SessionProblem {
  type:
    | 'urn:curfew:problem:unauthenticated'
    | 'urn:curfew:problem:forbidden'
    | 'urn:curfew:problem:insufficient-user-authentication';
  title: 'Unauthorized' | 'Forbidden';
  status: 401 | 403;
  detail: string;
  code: 'UNAUTHENTICATED' | 'FORBIDDEN' | 'INSUFFICIENT_USER_AUTHENTICATION';
  reason:
    | 'missing'
    | 'invalid'
    | 'idle'
    | 'absolute'
    | 'ended'
    | 'cross_site'
    | 'insufficient_user_authentication';
  /** A step-up challenge only: which requirement the session's authentication misses. */
  missing?: Array<'max_age' | 'aal'>;
  /** A step-up challenge only: the required authentication age, in seconds. */
  maxAge?: number;
  /** A step-up challenge only: the required assurance level. */
  minAal?: Aal;
}

/**
 * What {@link startSession}-style helpers return: the new session, and for a bearer carrier the
 * signed JWT the app must hand to the client (`null` with a cookie, which is already set).
 *
 * @example
 * ```ts
 * const { session, jwt }: StartedSession = await startSession(req, res, { userId: '42' });
 * ```
 */
export interface StartedSession {
  session: Session;
  jwt: string | null;
}

/**
 * Options for the `endSession` helpers.
 *
 * @example
 * ```ts
 * const options: EndSessionOptions = { reason: 'password_change' };
 * ```
 */
export interface EndSessionOptions {
  /** Default `logout`. */
  reason?: EndReason | undefined;
}

/**
 * The media type of refusals.
 *
 * @example
 * ```ts
 * if (response.headers.get('content-type') === PROBLEM_CONTENT_TYPE) showProblem(await response.json());
 * ```
 */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/**
 * The response headers an authenticated response carries: seconds until the session ends by
 * either timeout, by each, and the warning when one is near. Relative seconds need no clock
 * agreement: a front end adds them to its own monotonic time. A front end on another origin
 * must be allowed to read them (`Access-Control-Expose-Headers`).
 *
 * @example
 * ```ts
 * // In the browser:
 * const left = Number(response.headers.get(SESSION_HEADERS.expiresIn));
 * const deadline = performance.now() + left * 1000;
 * if (response.headers.get(SESSION_HEADERS.warning)) showBanner();
 * ```
 */
export const SESSION_HEADERS = {
  expiresIn: 'Session-Expires-In',
  idleExpiresIn: 'Session-Idle-Expires-In',
  absoluteExpiresIn: 'Session-Absolute-Expires-In',
  warning: 'Session-Warning',
} as const;

/**
 * The body of a session status or keep-alive answer: the same numbers as the session headers,
 * in seconds (`idleExpiresIn` is `null` for a session without an idle limit), and which limit is
 * near. What `curfew/browser` reads is the headers; the body is for anything else that asks.
 *
 * @example
 * ```ts
 * const body: SessionStatus = sessionStatus(req.session!);
 * ```
 */
export interface SessionStatus {
  expiresIn: number;
  idleExpiresIn: number | null;
  absoluteExpiresIn: number;
  warning: 'idle' | 'absolute' | null;
}

/**
 * The {@link SessionStatus} of a request's session: what the status and keep-alive routes answer.
 *
 * @example
 * ```ts
 * app.get('/session/status', session.with({ touch: false }), (req, res) => res.json(sessionStatus(req.session!)));
 * ```
 */
export function sessionStatus(current: RequestSession): SessionStatus {
  return {
    expiresIn: current.secondsRemaining,
    idleExpiresIn: current.idleSecondsRemaining,
    absoluteExpiresIn: current.absoluteSecondsRemaining,
    warning: current.warning,
  };
}

/** @internal */
export interface Integration {
  readonly sessions: SessionManager;
  readonly carrier: SessionCarrier;
}

/** @internal */
export interface ResolvedRoute {
  readonly optional: boolean;
  readonly touch: boolean;
  readonly noStore: boolean;
  readonly maxAge: number | undefined;
  readonly minAal: Aal | undefined;
}

/** @internal The request as the flow needs it. */
export interface RequestView extends CarrierRequest {
  readonly ip: string | undefined;
}

/** @internal Where the flow writes response headers. */
export interface HeaderSink {
  set(name: string, value: string): void;
  append(name: string, value: string): void;
  remove(name: string): void;
}

/** @internal What one request carried and what the flow made of it. */
export interface RequestState {
  readonly integration: Integration;
  /** The token presented, even if refused: login ends it, logout revokes it. */
  token: string | null;
  session: RequestSession | null;
  refusal: SessionRefusal | null;
}

/** @internal */
export type AuthOutcome =
  | { readonly ok: true; readonly state: RequestState }
  | { readonly ok: false; readonly problem: SessionProblem };

const states = new WeakMap<object, RequestState>();

/** @internal Checks an integration's options at once, so a mistake fails at startup. */
export function resolveIntegration(options: SessionIntegrationOptions): Integration {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'expected an object with at least `sessions`');
  }
  const { sessions } = options;
  if (
    typeof sessions !== 'object' ||
    sessions === null ||
    typeof sessions.validate !== 'function' ||
    typeof sessions.create !== 'function'
  ) {
    throw invalidArgument('sessions', 'expected a SessionManager');
  }
  const carrier = options.carrier ?? createCookieCarrier();
  if (
    typeof carrier !== 'object' ||
    carrier === null ||
    typeof carrier.read !== 'function' ||
    typeof carrier.issue !== 'function'
  ) {
    throw invalidArgument(
      'carrier',
      'expected a carrier from createCookieCarrier or createJwtCarrier',
    );
  }
  return { sessions, carrier };
}

/** @internal */
export function resolveRoute(options: SessionRouteOptions | undefined): ResolvedRoute {
  if (options === undefined) {
    return { optional: false, touch: true, noStore: true, maxAge: undefined, minAal: undefined };
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('route', 'expected { optional?, touch?, noStore?, maxAge?, minAal? }');
  }
  const optional = options.optional ?? false;
  const touch = options.touch ?? true;
  const noStore = options.noStore ?? true;
  if (typeof optional !== 'boolean') throw invalidArgument('optional', 'expected true or false');
  if (typeof touch !== 'boolean') throw invalidArgument('touch', 'expected true or false');
  if (typeof noStore !== 'boolean') throw invalidArgument('noStore', 'expected true or false');
  const maxAge = options.maxAge === undefined ? undefined : parseDuration(options.maxAge, 'maxAge');
  const minAal = options.minAal === undefined ? undefined : checkAal(options.minAal, 'minAal');
  if (optional && (maxAge !== undefined || minAal !== undefined)) {
    // An optional route would let the request through anyway: the requirement would be a no-op.
    throw invalidArgument('optional', 'a route with maxAge or minAal cannot be optional');
  }
  return { optional, touch, noStore, maxAge, minAal };
}

/** @internal Runs the carrier and the manager for one request and sets the response headers. */
export async function authenticate(
  integration: Integration,
  route: ResolvedRoute,
  request: RequestView,
  sink: HeaderSink,
): Promise<AuthOutcome> {
  const { carrier, sessions } = integration;
  const crossSite = carrier.checkRequest(request);
  if (crossSite !== null) {
    sink.set('Cache-Control', 'no-store');
    return { ok: false, problem: crossSiteProblem(crossSite) };
  }
  const state: RequestState = { integration, token: null, session: null, refusal: null };
  const read = await carrier.read(request);
  let description: string | undefined;
  if (read.status === 'missing') {
    state.refusal = { reason: 'missing' };
  } else if (read.status === 'invalid') {
    description = read.description;
    state.refusal = { reason: 'invalid' };
  } else {
    state.token = read.token;
    const result = await sessions.validate(read.token, {
      touch: route.touch,
      maxAge: route.maxAge,
      minAal: route.minAal,
    });
    if (!result.valid && result.reason === 'insufficient_authentication') {
      // The session is fine; this action wants a fresher or stronger sign-in. Keep the cookie.
      state.token = read.token;
      sink.set('Cache-Control', 'no-store');
      sink.set('WWW-Authenticate', stepUpChallenge(carrier.challenge(), route));
      return { ok: false, problem: stepUpProblem(route, result.missing) };
    }
    if (!result.valid) {
      state.refusal =
        result.reason === 'not_found' && result.endReason !== undefined
          ? { reason: 'not_found', endReason: result.endReason }
          : { reason: result.reason };
      description = DETAILS[result.reason];
    } else if (read.subject !== undefined && read.subject !== result.session.userId) {
      state.refusal = { reason: 'invalid' };
      description = 'the token names another user than its session';
    } else {
      state.session = result;
    }
  }
  if (state.session !== null) {
    setSessionHeaders(sink, state.session);
    if (route.noStore) sink.set('Cache-Control', 'no-store');
    return { ok: true, state };
  }
  // A credential that no longer works is dropped at once, so the browser stops sending it; one
  // whose session expired or ended also has the site's data cleared, as on logout. (A new
  // session issued in this same response takes Clear-Site-Data back out: see issue().)
  if (read.status === 'found') appendAll(sink, carrier.clear());
  else if (read.status === 'invalid') appendAll(sink, carrier.clear().filter(isSetCookie));
  if (route.optional) {
    if (route.noStore) sink.set('Cache-Control', 'no-store');
    return { ok: true, state };
  }
  sink.set('Cache-Control', 'no-store');
  sink.set('WWW-Authenticate', carrier.challenge(description));
  return { ok: false, problem: unauthenticatedProblem(state.refusal!) };
}

/** @internal */
export function bindState(key: object, state: RequestState): void {
  states.set(key, state);
}

/** @internal */
export function stateOf(key: object, helper: string): RequestState {
  const state = typeof key === 'object' && key !== null ? states.get(key) : undefined;
  if (state === undefined) {
    throw invalidArgument(
      'request',
      `${helper}: curfew's middleware has not run on this request; add it to the route (with { optional: true } for a sign-in route)`,
    );
  }
  return state;
}

/** @internal Ends what the request carried (against fixation), creates a session, sets the carrier. */
export async function start(
  state: RequestState,
  request: RequestView,
  sink: HeaderSink,
  input: CreateSessionInput,
): Promise<StartedSession> {
  const { sessions } = state.integration;
  if (typeof input !== 'object' || input === null) {
    throw invalidArgument('input', 'expected an object with a userId');
  }
  const issued = await sessions.create({
    ipAddress: cleanIp(request.ip),
    userAgent: request.header('user-agent') ?? null,
    ...input,
  });
  // Never keep a token that arrived with the request: an attacker may have planted it. Created
  // first, so a bad input fails before anything is ended.
  if (state.token !== null) await sessions.revoke(state.token, 'rotated');
  const jwt = await issue(state, sink, issued.token);
  return { session: issued.session, jwt };
}

/** @internal Revokes the request's session and makes the client forget it. */
export async function end(
  state: RequestState,
  sink: HeaderSink,
  options: EndSessionOptions = {},
): Promise<boolean> {
  const reason = options?.reason ?? 'logout';
  const { carrier, sessions } = state.integration;
  const ended = state.token === null ? false : await sessions.revoke(state.token, reason);
  state.token = null;
  state.session = null;
  state.refusal = { reason: 'not_found', endReason: reason };
  for (const name of Object.values(SESSION_HEADERS)) sink.remove(name);
  appendAll(sink, carrier.clear());
  sink.set('Cache-Control', 'no-store');
  return ended;
}

/**
 * @internal After the app re-checked the user's credentials: new token, fresh timers, the level
 * given. Like renew, the new credential replaces the old in this response.
 */
export async function reauthenticate(
  state: RequestState,
  sink: HeaderSink,
  options: ReauthenticateOptions,
): Promise<StartedSession | null> {
  if (state.token === null) return null;
  const renewed = await state.integration.sessions.reauthenticate(state.token, options);
  if (renewed === null) return null;
  const jwt = await issue(state, sink, renewed.token);
  return { session: renewed.session, jwt };
}

/** @internal Gives the request's session a new token (after a privilege change). */
export async function renew(state: RequestState, sink: HeaderSink): Promise<StartedSession | null> {
  if (state.token === null || state.session === null) return null;
  const rotated = await state.integration.sessions.rotate(state.token);
  if (rotated === null) return null;
  const jwt = await issue(state, sink, rotated.token);
  return { session: rotated.session, jwt };
}

async function issue(state: RequestState, sink: HeaderSink, token: string): Promise<string | null> {
  const { carrier, sessions } = state.integration;
  // Read back through validate rather than recompute: its numbers are the ones every later
  // request will see, and Max-Age must not outlive the absolute remainder.
  const result = await sessions.validate(token, { touch: false });
  if (!result.valid) {
    throw invalidArgument('policy', 'the new session expired at once; check the timeouts');
  }
  const credential = await carrier.issue(
    { token, session: result.session },
    result.absoluteSecondsRemaining,
  );
  // The browser would clear the new cookie with the old session's data: only the old cookie's
  // removal (overwritten by the new one's Set-Cookie) stays.
  sink.remove('Clear-Site-Data');
  appendAll(sink, credential.headers);
  setSessionHeaders(sink, result);
  sink.set('Cache-Control', 'no-store');
  state.token = token;
  state.session = result;
  state.refusal = null;
  return credential.jwt;
}

/** @internal */
export function setSessionHeaders(sink: HeaderSink, current: RequestSession): void {
  sink.set(SESSION_HEADERS.expiresIn, String(current.secondsRemaining));
  if (current.idleSecondsRemaining === null) sink.remove(SESSION_HEADERS.idleExpiresIn);
  else sink.set(SESSION_HEADERS.idleExpiresIn, String(current.idleSecondsRemaining));
  sink.set(SESSION_HEADERS.absoluteExpiresIn, String(current.absoluteSecondsRemaining));
  if (current.warning === null) sink.remove(SESSION_HEADERS.warning);
  else sink.set(SESSION_HEADERS.warning, current.warning);
}

const DETAILS: Record<SessionRefusal['reason'], string> = {
  missing: 'this request needs a session; sign in first',
  invalid: 'the session credential could not be read or verified',
  not_found: 'the session has ended; sign in again',
  idle: 'the session expired after a period of inactivity',
  absolute: 'the session reached its maximum lifetime; sign in again',
};

function unauthenticatedProblem(refusal: SessionRefusal): SessionProblem {
  return {
    type: 'urn:curfew:problem:unauthenticated',
    title: 'Unauthorized',
    status: 401,
    detail: DETAILS[refusal.reason],
    code: 'UNAUTHENTICATED',
    // An unknown token and one ended by logout or an administrator read alike from outside.
    reason: refusal.reason === 'not_found' ? 'ended' : refusal.reason,
  };
}

// RFC 9470 §3: the challenge names the error and what would satisfy it. The carrier's own scheme
// (Bearer for a JWT, Cookie for a cookie) carries the parameters.
function stepUpChallenge(base: string, route: ResolvedRoute): string {
  const params = [
    'error="insufficient_user_authentication"',
    'error_description="this action needs a more recent or stronger authentication"',
  ];
  if (route.maxAge !== undefined) params.push(`max_age=${Math.floor(route.maxAge / 1000)}`);
  if (route.minAal !== undefined) params.push(`acr_values="${aalAcrValue(route.minAal)}"`);
  // `Bearer` has no parameters of its own yet; `Cookie cookie-name="…"` has one.
  return `${base}${base.includes(' ') ? ', ' : ' '}${params.join(', ')}`;
}

function stepUpProblem(route: ResolvedRoute, missing: Array<'max_age' | 'aal'>): SessionProblem {
  const problem: SessionProblem = {
    type: 'urn:curfew:problem:insufficient-user-authentication',
    title: 'Unauthorized',
    status: 401,
    detail: missing.includes('aal')
      ? 'this action needs a stronger authentication; sign in again with another factor'
      : 'this action needs a recent authentication; confirm who you are again',
    code: 'INSUFFICIENT_USER_AUTHENTICATION',
    reason: 'insufficient_user_authentication',
    missing,
  };
  if (route.maxAge !== undefined) problem.maxAge = Math.floor(route.maxAge / 1000);
  if (route.minAal !== undefined) problem.minAal = route.minAal;
  return problem;
}

function crossSiteProblem(why: string): SessionProblem {
  return {
    type: 'urn:curfew:problem:forbidden',
    title: 'Forbidden',
    status: 403,
    detail: `cross-site request refused: ${why}`,
    code: 'FORBIDDEN',
    reason: 'cross_site',
  };
}

function appendAll(sink: HeaderSink, headers: readonly CarrierHeader[]): void {
  for (const [name, value] of headers) {
    if (isSetCookie([name, value])) sink.append(name, value);
    else sink.set(name, value);
  }
}

function isSetCookie(header: CarrierHeader): boolean {
  return header[0].toLowerCase() === 'set-cookie';
}

function cleanIp(ip: string | undefined): string | null {
  return typeof ip === 'string' && isIP(ip) !== 0 ? ip : null;
}
