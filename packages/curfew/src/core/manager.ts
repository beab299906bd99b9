import { randomUUID } from 'node:crypto';
import { type Aal, checkAal, checkMethods } from './assurance.js';
import { type Duration, parseDuration } from './duration.js';
import { checkEndReason, type EndReason } from './end-reason.js';
import { CurfewError, invalidArgument } from './errors.js';
import type { Logger, SessionEvent, SessionEventListener } from './events.js';
import {
  type Policy,
  type PolicyOptions,
  type PolicyPresetName,
  resolvePolicy,
  sessionLimits,
} from './policy.js';
import {
  type CreateSessionInput,
  checkAppType,
  checkIpAddress,
  checkSessionId,
  checkTenantFilter,
  checkTenantId,
  checkUserId,
  type Session,
  toSession,
  truncateUserAgent,
} from './session.js';
import {
  type EndedSession,
  type ExpiryRule,
  findExpiry,
  type ListPosition,
  matchesOwner,
  type SessionCounts,
  type SessionFilter,
  type SessionOwner,
  type SessionStore,
  type StoredSession,
  type StoreEndUserInput,
  type StoreEndUserResult,
  type StoreValidateResult,
  type UserScope,
} from './store.js';
import { describeStoreError, isStoreUnavailable } from './store-failure.js';
import { generateSessionToken, hashPrefix, hashSessionToken, isWellFormedToken } from './token.js';

/**
 * A function returning the current time in epoch milliseconds. Inject one in tests to move time
 * by hand instead of sleeping.
 *
 * @example
 * ```ts
 * let now = Date.parse('2026-01-01T00:00:00Z');
 * const sessions = new SessionManager({ store, clock: () => now });
 * now += 30 * 60_000; // thirty minutes later
 * ```
 */
export type Clock = () => number;

/**
 * Options for {@link SessionManager}.
 *
 * @example
 * ```ts
 * const options: SessionManagerOptions = { store: new MemoryStore(), policy: 'nist-800-63b-rev3-aal3' };
 * ```
 */
export interface SessionManagerOptions {
  /** Where sessions live: `MemoryStore`, `SqliteStore` or any {@link SessionStore}. */
  store: SessionStore;
  /** A preset name or policy object; default `nist-800-63b-rev3-aal2` (30 min idle, 12 h absolute). */
  policy?: PolicyPresetName | PolicyOptions | Policy | undefined;
  /** Default `Date.now`. Read exactly once per operation. */
  clock?: Clock | undefined;
  /** Where to log; default: nowhere. */
  logger?: Logger | undefined;
  /** Receives `created`, `rotated` and `ended` events. */
  onEvent?: SessionEventListener | undefined;
}

/** Which expiry is near: `'absolute'` takes precedence over `'idle'`. */
export type SessionWarning = 'absolute' | 'idle' | null;

/**
 * The answer of {@link SessionManager.validate}. An invalid session is a result, never an error:
 * `reason` says why (`not_found` also covers malformed tokens and sessions ended by logout or
 * revocation, whose `endReason` is then given).
 *
 * @example
 * ```ts
 * const result = await sessions.validate(token);
 * if (!result.valid) return reply.status(401).send({ reason: result.reason });
 * if (result.warning) reply.header('Session-Warning', result.warning);
 * ```
 */
export type SessionValidationResult =
  | {
      valid: true;
      session: Session;
      /** Whole seconds until the session expires by either timeout, rounded down. */
      secondsRemaining: number;
      /** Whole seconds until the idle timeout; `null` when the policy has none. */
      idleSecondsRemaining: number | null;
      /** Whole seconds until the absolute timeout. */
      absoluteSecondsRemaining: number;
      warning: SessionWarning;
    }
  | { valid: false; reason: 'not_found'; endReason?: EndReason }
  | {
      valid: false;
      reason: 'idle' | 'absolute';
      sessionId: string;
      userId: string;
      tenantId: string | null;
    }
  | {
      /**
       * The session is valid, but its authentication does not meet the call's `maxAge` or
       * `minAal`: ask the user to reauthenticate (or step up), then call
       * {@link SessionManager.reauthenticate}.
       */
      valid: false;
      reason: 'insufficient_authentication';
      /** Which requirement failed: `max_age` (too long ago), `aal` (too low a level), or both. */
      missing: Array<'max_age' | 'aal'>;
      session: Session;
    };

/**
 * What a validation can require of the session's authentication, for sensitive actions
 * (a password change, a payment): how recent it must be, and at what level.
 *
 * @example
 * ```ts
 * const requirement: AuthenticationRequirement = { maxAge: '5m', minAal: 2 };
 * ```
 */
export interface AuthenticationRequirement {
  /** The user must have authenticated at most this long ago (`'5m'`, or milliseconds). */
  maxAge?: Duration | undefined;
  /** The session's level must be at least this. */
  minAal?: Aal | undefined;
}

/**
 * A newly issued token and its session. Hand the token to the client once; it is never stored.
 *
 * @example
 * ```ts
 * const { token, session }: IssuedSession = await sessions.create({ userId: '42' });
 * ```
 */
export interface IssuedSession {
  token: string;
  session: Session;
}

/**
 * Options for {@link SessionManager.validate}.
 *
 * @example
 * ```ts
 * await sessions.validate(token, { touch: false }); // a status poll: not activity
 * ```
 */
export interface ValidateOptions extends AuthenticationRequirement {
  /** Record activity (default `true`). Status polls pass `false` so an idle tab still times out. */
  touch?: boolean;
  /**
   * Accept only a session of this tenant (`null`: only one without a tenant); any other answers
   * `not_found` and is left untouched. Checked inside the store's atomic step.
   */
  tenantId?: string | null;
}

/**
 * Options for {@link SessionManager.rotate} and {@link SessionManager.revoke}: act only on a
 * session of this owner.
 *
 * @example
 * ```ts
 * await sessions.rotate(token, { tenantId: 'acme' });
 * ```
 */
export interface OwnerOptions {
  userId?: string;
  /** `null`: only a session without a tenant. */
  tenantId?: string | null;
}

/**
 * Options for {@link SessionManager.reauthenticate}.
 *
 * @example
 * ```ts
 * const options: ReauthenticateOptions = { aal: 2, methods: ['pwd', 'otp'] };
 * ```
 */
export interface ReauthenticateOptions extends OwnerOptions {
  /**
   * The level the user has just authenticated at; default the session's. Higher steps the
   * session up (and its limits follow the new level); lower is refused.
   */
  aal?: Aal;
  /** The methods of this authentication (RFC 8176 `amr` values); default none recorded. */
  methods?: readonly string[];
}

/**
 * Options for {@link SessionManager.revokeTenantSessions} and
 * {@link SessionManager.revokeAllSessions}.
 *
 * @example
 * ```ts
 * await sessions.revokeTenantSessions('acme', { reason: 'tenant_suspended' });
 * ```
 */
export interface RevokeManyOptions {
  /** Default `admin_revoke`. */
  reason?: EndReason;
  /** Sessions ended per store call (default 500). */
  batchSize?: number;
}

/** Options for {@link SessionManager.revokeSession}. */
export interface RevokeSessionOptions {
  /** Default `user_revoke`. */
  reason?: EndReason;
  /** End the session only if it belongs to this user. */
  userId?: string;
  /** End the session only if it belongs to this tenant (`null`: only if it has none). */
  tenantId?: string | null;
}

/** Options for {@link SessionManager.revokeUserSessions}. */
export interface RevokeUserSessionsOptions {
  /** Default `password_change`. */
  reason?: EndReason;
  /** Only this tenant's sessions (`null`: only those without a tenant); default: every tenant. */
  tenantId?: string | null;
  /** Keep this session (typically the one that made the request). */
  exceptSessionId?: string;
  /** Sessions ended per store call (default 500); keeps each lock, and each turn, short. */
  batchSize?: number;
}

/** Options for {@link SessionManager.getSession}. */
export interface UserScopeOptions {
  /** Only this tenant (`null`: only sessions without a tenant); default: every tenant. */
  tenantId?: string | null;
}

/**
 * Options for {@link SessionManager.listUserSessions}.
 *
 * @example
 * ```ts
 * const options: ListUserSessionsOptions = { tenantId: 'acme', limit: 20, cursor: page.nextCursor };
 * ```
 */
export interface ListUserSessionsOptions extends UserScopeOptions {
  /** Sessions per page, 1 to 1000 (default 100). */
  limit?: number;
  /** The `nextCursor` of the previous page; omit (or `null`) for the first page. */
  cursor?: string | null;
}

/**
 * One page of a user's sessions. `nextCursor` is `null` on the last page.
 *
 * @example
 * ```ts
 * const { sessions: page, nextCursor }: SessionPage = await sessions.listUserSessions('42');
 * ```
 */
export interface SessionPage {
  sessions: Session[];
  /** Pass it as `cursor` for the next page; opaque, and `null` when there is none. */
  nextCursor: string | null;
}

/** Options for {@link SessionManager.sweepExpired}. */
export interface SweepOptions {
  /** Sessions ended per store call (default 1000); keeps each lock short. */
  batchSize?: number;
  /**
   * A pause between batches (default none), for a sweep that should leave more room to the
   * validations it runs beside: `'50ms'`, or milliseconds.
   */
  pause?: Duration;
}

/**
 * How many sessions a sweep ended, by timeout.
 *
 * @example
 * ```ts
 * const { absolute, idle }: SweepResult = await sessions.sweepExpired();
 * ```
 */
export interface SweepResult {
  absolute: number;
  idle: number;
}

const DEFAULT_BATCH = 1000;
const DEFAULT_REVOKE_BATCH = 500;
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;

/**
 * The session rules, in one place: create, validate (with idle and absolute timeouts enforced to
 * the millisecond), touch, rotate, revoke, list, sweep. It reads its clock once per operation and
 * hands `now` to the store, which does each check-and-change atomically.
 *
 * @example
 * ```ts
 * import { MemoryStore, SessionManager } from 'curfew';
 *
 * const sessions = new SessionManager({ store: new MemoryStore() });
 * const { token } = await sessions.create({ userId: '42', ipAddress: '203.0.113.7' });
 * const result = await sessions.validate(token);
 * if (result.valid) console.log(result.session.userId, result.secondsRemaining);
 * await sessions.revoke(token); // logout
 * ```
 */
export class SessionManager {
  /** The checked policy in force. */
  readonly policy: Policy;
  readonly #store: SessionStore;
  readonly #clock: Clock;
  readonly #logger: Logger | undefined;
  readonly #onEvent: SessionEventListener | undefined;

  constructor(options: SessionManagerOptions) {
    if (typeof options !== 'object' || options === null) {
      throw invalidArgument('options', 'expected an object with at least a store');
    }
    const { store, clock, logger, onEvent } = options;
    if (typeof store !== 'object' || store === null || typeof store.validate !== 'function') {
      throw invalidArgument('store', 'expected a SessionStore such as new MemoryStore()');
    }
    if (clock !== undefined && typeof clock !== 'function') {
      throw invalidArgument('clock', 'expected a function returning epoch milliseconds');
    }
    if (onEvent !== undefined && typeof onEvent !== 'function') {
      throw invalidArgument('onEvent', 'expected a function');
    }
    this.policy = resolvePolicy(options.policy);
    this.#store = store;
    this.#clock = clock ?? Date.now;
    this.#logger = logger;
    this.#onEvent = onEvent;
  }

  /**
   * Starts a session and returns its token (once; only its hash is stored) and its view.
   * `absoluteExpiresAt` is creation time plus the absolute timeout, and nothing ever moves it.
   *
   * Throws `INVALID_ARGUMENT` naming the field for bad input, before anything is written.
   *
   * @example
   * ```ts
   * const { token, session } = await sessions.create({ userId: '42', tenantId: 'acme' });
   * res.cookie('__Host-session', token, { httpOnly: true, secure: true, sameSite: 'lax' });
   * ```
   */
  async create(input: CreateSessionInput): Promise<IssuedSession> {
    if (typeof input !== 'object' || input === null) {
      throw invalidArgument('input', 'expected an object with a userId');
    }
    const userId = checkUserId(input.userId);
    const tenantId = checkTenantId(input.tenantId);
    const ipAddress = checkIpAddress(input.ipAddress);
    const userAgent = truncateUserAgent(input.userAgent, this.policy.userAgentMaxLength);
    const appType = checkAppType(input.appType);
    const aal = input.aal === undefined ? this.policy.defaultAal : checkAal(input.aal);
    const methods = checkMethods(input.methods);
    const limits = sessionLimits(this.policy, aal, tenantId, appType);
    const now = this.#now();
    const token = generateSessionToken();
    const stored: StoredSession = {
      id: randomUUID(),
      tokenHash: hashSessionToken(token),
      userId,
      tenantId,
      appType,
      ipAddress,
      userAgent,
      createdAt: now,
      lastActivityAt: now,
      absoluteExpiresAt: now + limits.absoluteTimeout,
      idleTimeout: limits.idleTimeout,
      aal,
      methods,
      authenticatedAt: now,
      endedAt: null,
      endReason: null,
    };
    const max = this.policy.maxSessionsPerUser;
    const cap = max === null ? undefined : { now, max, action: this.policy.onSessionLimit };
    const result = await this.#call('create', () => this.#store.insert({ ...stored }, cap));
    for (const ended of result.ended) this.#ended(ended);
    if (!result.inserted) {
      this.#log('info', { userId, tenantId, max }, 'session refused at the session limit');
      throw new CurfewError(
        'SESSION_LIMIT_REACHED',
        `the user already has the ${max} sessions the policy allows in this tenant; end one first`,
      );
    }
    this.#log('debug', { sessionId: stored.id }, 'session created');
    this.#emit({ type: 'created', sessionId: stored.id, userId, tenantId, aal, at: new Date(now) });
    return { token, session: toSession(stored) };
  }

  /**
   * Checks a token. The absolute timeout is checked first: a session is expired when
   * `now >= absoluteExpiresAt`, or `now >= lastActivityAt + idleTimeout`; an expired session is
   * ended in the store right then. With `touch` (the default), activity is recorded, but the store
   * is written only when the stored `lastActivityAt` is older than the policy's
   * `activityWriteInterval`, so the idle timeout can end a session up to one interval early,
   * never late.
   *
   * A value that is not a string of 16 to 256 base64url characters is answered as `not_found`
   * without hashing it or calling the store.
   *
   * @example
   * ```ts
   * const result = await sessions.validate(token);
   * if (result.valid) {
   *   console.log(result.session.userId, result.secondsRemaining, result.warning);
   * } else {
   *   console.log(result.reason); // 'not_found' | 'idle' | 'absolute'
   * }
   * ```
   */
  async validate(token: string, options: ValidateOptions = {}): Promise<SessionValidationResult> {
    const touch = options.touch ?? true;
    if (typeof touch !== 'boolean') throw invalidArgument('touch', 'expected true or false');
    const owner = checkOwner(undefined, options.tenantId);
    const maxAge =
      options.maxAge === undefined ? undefined : parseDuration(options.maxAge, 'maxAge');
    const minAal = options.minAal === undefined ? undefined : checkAal(options.minAal, 'minAal');
    if (!isWellFormedToken(token)) return { valid: false, reason: 'not_found' };
    const now = this.#now();
    const hash = hashSessionToken(token);
    // #call's work written out: validate is the call every request makes, and the closure and
    // async frame of #call are a measurable share of it.
    let found: StoreValidateResult;
    try {
      found = await this.#store.validate(hash, {
        now,
        touchInterval: touch ? this.policy.activityWriteInterval : null,
        owner,
      });
    } catch (error) {
      throw this.#storeFailure('validate', error, hash);
    }
    switch (found.status) {
      case 'missing':
        return { valid: false, reason: 'not_found' };
      case 'ended':
        return this.#invalid(found.session);
      case 'expired':
        if (found.endedNow) this.#ended(found.session);
        return this.#invalid(found.session);
      case 'valid': {
        if (maxAge === undefined && minAal === undefined) return this.#valid(found.session, now);
        return this.#checkAuthentication(found.session, now, maxAge, minAal);
      }
    }
  }

  #checkAuthentication(
    row: StoredSession,
    now: number,
    maxAge: number | undefined,
    minAal: Aal | undefined,
  ): SessionValidationResult {
    const missing: Array<'max_age' | 'aal'> = [];
    if (maxAge !== undefined && now - row.authenticatedAt > maxAge) missing.push('max_age');
    if (minAal !== undefined && row.aal < minAal) missing.push('aal');
    if (missing.length === 0) return this.#valid(row, now);
    return {
      valid: false,
      reason: 'insufficient_authentication',
      missing,
      session: toSession(row),
    };
  }

  /**
   * Records activity on a valid session (coalesced as in {@link validate}) and returns `true`,
   * or `false` when the token is not valid. It never revives an expired session and never moves
   * `lastActivityAt` backwards.
   *
   * @example
   * ```ts
   * // "Stay signed in" button
   * if (!(await sessions.touch(token))) redirectToLogin();
   * ```
   */
  async touch(token: string): Promise<boolean> {
    const result = await this.validate(token, { touch: true });
    return result.valid;
  }

  /**
   * Ends the session a token belongs to (logout). Returns whether a valid session was ended;
   * an already expired one is ended with its timeout reason instead, and `false` is returned.
   *
   * @example
   * ```ts
   * await sessions.revoke(token); // reason 'logout'
   * ```
   */
  async revoke(
    token: string,
    reason: EndReason | (OwnerOptions & { reason?: EndReason }) = 'logout',
  ): Promise<boolean> {
    const options = typeof reason === 'object' && reason !== null ? reason : { reason };
    const endReason = checkEndReason(options.reason ?? 'logout');
    const owner = checkOwner(options.userId, options.tenantId);
    if (!isWellFormedToken(token)) return false;
    const now = this.#now();
    const hash = hashSessionToken(token);
    const target = owner === undefined ? { tokenHash: hash } : { tokenHash: hash, owner };
    const ended = await this.#call(
      'revoke',
      () => this.#store.endSession(target, this.#endInput(now, endReason)),
      hash,
    );
    return this.#countEnded(ended === null ? [] : [ended], endReason) === 1;
  }

  /**
   * Ends one session by its public id: what an "active sessions" page calls. With `userId`
   * and/or `tenantId`, ends it only if it belongs to them, so a user cannot end another's session.
   * Returns whether a valid session was ended.
   *
   * @example
   * ```ts
   * await sessions.revokeSession(req.params.id, { userId: currentUser.id, reason: 'user_revoke' });
   * ```
   */
  async revokeSession(sessionId: string, options: RevokeSessionOptions = {}): Promise<boolean> {
    const id = checkSessionId(sessionId);
    const endReason = checkEndReason(options.reason ?? 'user_revoke');
    const owner = checkOwner(options.userId, options.tenantId);
    const now = this.#now();
    const ended = await this.#call('revokeSession', () =>
      this.#store.endSession(
        owner === undefined ? { id } : { id, owner },
        this.#endInput(now, endReason),
      ),
    );
    return this.#countEnded(ended === null ? [] : [ended], endReason) === 1;
  }

  /**
   * Ends every session of a user ("sign out everywhere", after a password change, or when an
   * account is disabled), optionally within one tenant and keeping the caller's own session.
   * Returns how many valid sessions were ended; each ended session gets an `ended` event.
   *
   * However many sessions the user has, the work is done in store calls of `batchSize`, with a
   * turn of the event loop for other requests between them, so no call holds a lock for long.
   * Once it returns, no session of the user that existed when it was called is valid; sessions
   * created while it runs may or may not be ended.
   *
   * @example
   * ```ts
   * await sessions.revokeUserSessions(user.id, { exceptSessionId: current.session.id });
   * ```
   */
  async revokeUserSessions(
    userId: string,
    options: RevokeUserSessionsOptions = {},
  ): Promise<number> {
    const scope: UserScope = {
      userId: checkUserId(userId),
      tenantId: checkTenantFilter(options.tenantId),
    };
    const endReason = checkEndReason(options.reason ?? 'password_change');
    const exceptId =
      options.exceptSessionId === undefined
        ? undefined
        : checkSessionId(options.exceptSessionId, 'exceptSessionId');
    const limit = checkBatchSize(options.batchSize, DEFAULT_REVOKE_BATCH);
    const now = this.#now();
    const input = { ...this.#endInput(now, endReason), exceptId, limit };
    const count = await this.#endInBatches('revokeUserSessions', endReason, () =>
      this.#store.endUserSessions(scope, input),
    );
    if (count > 0) this.#log('info', { count, reason: endReason }, 'user sessions revoked');
    return count;
  }

  /**
   * Ends every session of a tenant (the tenant was suspended, or its sign-in settings changed),
   * or with `null` every session without a tenant, in store calls of `batchSize` as
   * {@link revokeUserSessions} does. Returns how many valid sessions were ended; each gets an
   * `ended` event, and the whole is logged once.
   *
   * @example
   * ```ts
   * const ended = await sessions.revokeTenantSessions('acme', { reason: 'tenant_suspended' });
   * ```
   */
  async revokeTenantSessions(
    tenantId: string | null,
    options: RevokeManyOptions = {},
  ): Promise<number> {
    return this.#revokeMatching(
      'revokeTenantSessions',
      { tenantId: checkTenantId(tenantId) },
      options,
    );
  }

  /**
   * Ends every session of every user and tenant: after a signing-key or database compromise, or
   * to force everyone to sign in again under a new policy. Chunked as {@link revokeUserSessions};
   * returns how many valid sessions were ended.
   *
   * @example
   * ```ts
   * await sessions.revokeAllSessions({ reason: 'security_incident' });
   * ```
   */
  async revokeAllSessions(options: RevokeManyOptions = {}): Promise<number> {
    return this.#revokeMatching('revokeAllSessions', {}, options);
  }

  async #revokeMatching(
    operation: string,
    filter: SessionFilter,
    options: RevokeManyOptions,
  ): Promise<number> {
    const endReason = checkEndReason(options?.reason ?? 'admin_revoke');
    const limit = checkBatchSize(options?.batchSize, DEFAULT_REVOKE_BATCH);
    const now = this.#now();
    const input: StoreEndUserInput = { ...this.#endInput(now, endReason), limit };
    const count = await this.#endInBatches(operation, endReason, () =>
      this.#store.endSessions(filter, input),
    );
    this.#log(
      'info',
      { operation, tenantId: filter.tenantId, count, reason: endReason },
      filter.tenantId === undefined ? 'all sessions revoked' : 'tenant sessions revoked',
    );
    return count;
  }

  async #endInBatches(
    operation: string,
    reason: EndReason,
    step: () => Promise<StoreEndUserResult>,
  ): Promise<number> {
    let count = 0;
    for (let first = true; ; first = false) {
      // A real turn between batches, not a resolved promise: a synchronous store (SQLite)
      // would otherwise keep every other request waiting until the last batch.
      if (!first) await nextTurn();
      const result = await this.#call(operation, step);
      count += this.#countEnded(result.ended, reason);
      if (result.done) return count;
    }
  }

  /**
   * One page of a user's sessions that are valid now (not those expired but not yet swept), most
   * recently active first (ties by id): what an "active sessions" page shows. Pass the page's
   * `nextCursor` back as `cursor` for the next one. Paging never returns a session twice or skips
   * one that was valid throughout, while sessions are created and ended between pages; a session
   * whose activity is recorded between pages moves to the front and is not listed again.
   *
   * Throws `INVALID_ARGUMENT` (field `limit` or `cursor`) for a bad page size or cursor.
   *
   * @example
   * ```ts
   * let cursor: string | null = null;
   * do {
   *   const page = await sessions.listUserSessions('42', { tenantId: 'acme', cursor });
   *   for (const s of page.sessions) console.log(s.id, s.userAgent, s.lastActivityAt);
   *   cursor = page.nextCursor;
   * } while (cursor !== null);
   * ```
   */
  async listUserSessions(
    userId: string,
    options: ListUserSessionsOptions = {},
  ): Promise<SessionPage> {
    const scope: UserScope = {
      userId: checkUserId(userId),
      tenantId: checkTenantFilter(options.tenantId),
    };
    const limit = checkPageSize(options.limit);
    const after = decodeCursor(options.cursor);
    const now = this.#now();
    // One more than asked, to know whether a next page exists without a second call.
    const rows = await this.#call('listUserSessions', () =>
      this.#store.listUserSessions(scope, { ...this.#rule(now), limit: limit + 1, after }),
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      sessions: page.map(toSession),
      nextCursor: rows.length > limit && last !== undefined ? encodeCursor(last) : null,
    };
  }

  /**
   * One session by its public id, in whatever state, or `null`; with `userId`/`tenantId`, `null`
   * unless it belongs to them. A session found expired but not yet swept is ended first, so the
   * view is never "active" past its expiry.
   *
   * @example
   * ```ts
   * const session = await sessions.getSession(id, { tenantId: 'acme' });
   * ```
   */
  async getSession(
    sessionId: string,
    options: UserScopeOptions & { userId?: string } = {},
  ): Promise<Session | null> {
    const id = checkSessionId(sessionId);
    const owner = checkOwner(options.userId, options.tenantId);
    const now = this.#now();
    const row = await this.#call('getSession', () => this.#store.findById(id));
    if (row === null || !matchesOwner(row, owner)) return null;
    if (row.endedAt !== null || findExpiry(row, this.#rule(now)) === null) return toSession(row);
    // Ending goes through the store's atomic check, so only one caller ends it and emits the event.
    const found = await this.#call('getSession', () =>
      this.#store.validate(row.tokenHash, { ...this.#rule(now), touchInterval: null }),
    );
    if (found.status === 'missing') {
      // Rotated between the two reads: the id still names the session, under a new hash.
      const rotated = await this.#call('getSession', () => this.#store.findById(id));
      return rotated === null ? null : toSession(rotated);
    }
    if (found.status === 'expired' && found.endedNow) this.#ended(found.session);
    return toSession(found.session);
  }

  /**
   * Gives a valid session a new token (after sign-in or a privilege change, against session
   * fixation). The old token stops working at once; the session keeps its id and its absolute
   * expiry. Returns `null` when the token is not valid.
   *
   * @example
   * ```ts
   * const renewed = await sessions.rotate(oldToken);
   * if (renewed) setCookie(renewed.token);
   * ```
   */
  async rotate(token: string, options: OwnerOptions = {}): Promise<IssuedSession | null> {
    const owner = checkOwner(options?.userId, options?.tenantId);
    if (!isWellFormedToken(token)) return null;
    const now = this.#now();
    const oldHash = hashSessionToken(token);
    const newToken = generateSessionToken();
    const row = await this.#call(
      'rotate',
      () => this.#store.rotate(oldHash, hashSessionToken(newToken), { now, owner }),
      oldHash,
    );
    if (row === null) return null;
    this.#log('debug', { sessionId: row.id }, 'session token rotated');
    this.#emit({
      type: 'rotated',
      sessionId: row.id,
      userId: row.userId,
      tenantId: row.tenantId,
      at: new Date(now),
    });
    return { token: newToken, session: toSession(row) };
  }

  /**
   * Records that the user of a valid session has just proven who they are again (the app has
   * re-checked their password, passkey or second factor): issues a new token (the old one stops
   * at once), sets `authenticatedAt` to now, restarts both the idle and the absolute timer
   * (NIST SP 800-63B rev. 3 §7.2, rev. 4 §5.2), and with a higher `aal` steps the session up,
   * its limits following the new level. The session keeps its id. Returns `null` when the token
   * is not valid; throws `INVALID_ARGUMENT` (field `aal`) for a level below the session's.
   * Emits a `reauthenticated` event.
   *
   * @example
   * ```ts
   * // After checking the password and a one-time code again:
   * const renewed = await sessions.reauthenticate(token, { aal: 2, methods: ['pwd', 'otp'] });
   * if (renewed) setCookie(renewed.token);
   * ```
   */
  async reauthenticate(
    token: string,
    options: ReauthenticateOptions = {},
  ): Promise<IssuedSession | null> {
    const owner = checkOwner(options?.userId, options?.tenantId);
    const wanted = options?.aal === undefined ? undefined : checkAal(options.aal);
    const methods = checkMethods(options?.methods);
    if (!isWellFormedToken(token)) return null;
    const now = this.#now();
    const oldHash = hashSessionToken(token);
    // The new limits depend on the session's tenant and app type, which never change, and its
    // level, which the rotate below only accepts if still valid: read first, then act atomically.
    const found = await this.#call(
      'reauthenticate',
      () => this.#store.validate(oldHash, { now, touchInterval: null, owner }),
      oldHash,
    );
    if (found.status === 'expired' && found.endedNow) this.#ended(found.session);
    if (found.status !== 'valid') return null;
    const current = found.session;
    const aal = wanted ?? current.aal;
    if (aal < current.aal) {
      throw invalidArgument(
        'aal',
        `the session is at AAL${current.aal}; a reauthentication at AAL${aal} cannot refresh it. Reauthenticate at AAL${current.aal} or higher, or start a new session`,
      );
    }
    const limits = sessionLimits(this.policy, aal, current.tenantId, current.appType);
    const newToken = generateSessionToken();
    const reauthentication = {
      aal,
      methods,
      idleTimeout: limits.idleTimeout,
      absoluteExpiresAt: now + limits.absoluteTimeout,
    };
    const row = await this.#call(
      'reauthenticate',
      () =>
        this.#store.rotate(oldHash, hashSessionToken(newToken), { now, owner, reauthentication }),
      oldHash,
    );
    if (row === null) return null;
    this.#log(
      'info',
      { sessionId: row.id, aal, previousAal: current.aal },
      'session reauthenticated',
    );
    this.#emit({
      type: 'reauthenticated',
      sessionId: row.id,
      userId: row.userId,
      tenantId: row.tenantId,
      aal,
      previousAal: current.aal,
      at: new Date(now),
    });
    return { token: newToken, session: toSession(row) };
  }

  /**
   * Ends every active session that has expired, in batches of `batchSize` so no store call holds
   * a long lock, until a batch comes back empty: sessions a concurrent sweeper held are looked at
   * again, never left behind. Safe to run from several processes at once: nothing is ended or
   * counted twice. Ended sessions stay in the store as the audit trail. With `pause`, it waits
   * that long between batches.
   *
   * @example
   * ```ts
   * setInterval(() => void sessions.sweepExpired().catch(console.error), 60_000).unref();
   * ```
   */
  async sweepExpired(options: SweepOptions = {}): Promise<SweepResult> {
    const limit = checkBatchSize(options.batchSize);
    const pause = options.pause === undefined ? 0 : parseDuration(options.pause, 'pause');
    const now = this.#now();
    const result: SweepResult = { absolute: 0, idle: 0 };
    for (let first = true; ; first = false) {
      if (!first) await (pause > 0 ? sleep(pause) : nextTurn());
      const ended = await this.#call('sweepExpired', () =>
        this.#store.sweep({ ...this.#rule(now), limit }),
      );
      for (const session of ended) {
        if (session.endReason === 'absolute_timeout') result.absolute += 1;
        else result.idle += 1;
        this.#ended(session);
      }
      if (ended.length === 0) break;
    }
    if (result.absolute + result.idle > 0)
      this.#log('info', { ...result }, 'expired sessions swept');
    return result;
  }

  /**
   * Deletes ended sessions that ended before `endedBefore`, or more than `olderThan` ago (by the
   * manager's clock), in batches, for those whose retention rules require it: an ended session
   * still holds an IP address and a user agent, which are personal data. Returns how many were
   * deleted. Active sessions are never touched, however old.
   *
   * @example
   * ```ts
   * await sessions.purgeEnded({ olderThan: '30d' }); // on a timer: the retention period
   * await sessions.purgeEnded({ endedBefore: new Date('2026-01-01T00:00:00Z') });
   * ```
   */
  async purgeEnded(
    options:
      | { endedBefore: Date | number; olderThan?: undefined; batchSize?: number }
      | { olderThan: Duration; endedBefore?: undefined; batchSize?: number },
  ): Promise<number> {
    let endedBefore: number | undefined;
    if (options?.olderThan !== undefined) {
      if (options.endedBefore !== undefined) {
        throw invalidArgument('olderThan', 'give endedBefore or olderThan, not both');
      }
      endedBefore = this.#clock() - parseDuration(options.olderThan, 'olderThan');
    } else {
      endedBefore =
        options?.endedBefore instanceof Date ? options.endedBefore.getTime() : options?.endedBefore;
    }
    if (typeof endedBefore !== 'number' || !Number.isFinite(endedBefore)) {
      throw invalidArgument('endedBefore', 'expected a Date or epoch milliseconds');
    }
    const limit = checkBatchSize(options.batchSize);
    let total = 0;
    for (;;) {
      const deleted = await this.#call('purgeEnded', () =>
        this.#store.purgeEnded({ endedBefore, limit }),
      );
      total += deleted;
      if (deleted < limit) break;
    }
    if (total > 0) this.#log('info', { purged: total, endedBefore }, 'ended sessions purged');
    return total;
  }

  /**
   * How far this manager's clock is from the store server's, for stores that have a clock of
   * their own (PostgreSQL, MySQL, Redis; `null` for in-memory and SQLite, which share this
   * machine's). `skew` is this clock minus the store's, in milliseconds (positive: this process
   * is ahead), to within `roundTrip / 2`.
   *
   * Why it matters: every instance decides expiry by its own clock. One that runs 25 minutes
   * fast records activity 25 minutes in the future, and a 30-minute idle session it touches
   * lives 55 minutes; one that runs slow accepts sessions that have already expired. Comparing
   * each instance with the store's clock finds the one that is off.
   *
   * @example
   * ```ts
   * const measured = await sessions.measureClockSkew();
   * if (measured && Math.abs(measured.skew) > 1_000) console.warn(`clock off by ${measured.skew} ms`);
   * ```
   */
  async measureClockSkew(): Promise<{ skew: number; roundTrip: number } | null> {
    const store = this.#store;
    if (typeof store.storeTime !== 'function') return null;
    // The round trip is timed on the monotonic clock; the wall clock is read once, after it.
    const started = performance.now();
    const storeNow = await this.#call('measureClockSkew', () => store.storeTime!());
    const roundTrip = performance.now() - started;
    const now = this.#clock();
    if (!Number.isFinite(storeNow)) {
      throw new CurfewError('STORE_ERROR', 'the store answered its time with something not a time');
    }
    // The server read its clock somewhere within the round trip; halfway is the best guess.
    return { skew: now - roundTrip / 2 - storeNow, roundTrip };
  }

  /**
   * Counts for an operator's report: sessions valid now, and sessions that ended within the last
   * `endedWithin` (default 24 h), by end reason. It may scan the store, so call it from a report
   * or a periodic job, not per request. Throws `INVALID_ARGUMENT` (field `store`) for a custom
   * store without `countSessions`.
   *
   * @example
   * ```ts
   * const { active, endedByReason } = await sessions.countSessions({ endedWithin: '24h' });
   * console.log(`${active} active; ${endedByReason.logout ?? 0} logouts today`);
   * ```
   */
  async countSessions(
    options: { endedWithin?: Duration } = {},
  ): Promise<SessionCounts & { endedSince: Date }> {
    const store = this.#store;
    if (typeof store.countSessions !== 'function') {
      throw invalidArgument('store', 'this store cannot count sessions (no countSessions method)');
    }
    const window = parseDuration(options?.endedWithin ?? '24h', 'endedWithin');
    const now = this.#now();
    const endedSince = now - window;
    const counts = await this.#call('countSessions', () =>
      store.countSessions!({ ...this.#rule(now), endedSince }),
    );
    return { ...counts, endedSince: new Date(endedSince) };
  }

  /**
   * Whether an absolute remainder (in seconds) is within the policy's absolute warning threshold.
   *
   * @example
   * ```ts
   * if (sessions.shouldWarn(result.absoluteSecondsRemaining)) showBanner();
   * ```
   */
  shouldWarn(absoluteSecondsRemaining: number): boolean {
    return absoluteSecondsRemaining * 1000 <= this.policy.absoluteWarning;
  }

  /**
   * Resolves when the store answers; throws `STORE_UNAVAILABLE` otherwise. For readiness probes.
   *
   * @example
   * ```ts
   * app.get('/readyz', async () => { await sessions.ping(); return 'ok'; });
   * ```
   */
  async ping(): Promise<void> {
    const store = this.#store;
    if (typeof store.ping === 'function') await this.#call('ping', () => store.ping!());
  }

  #now(): number {
    const now = this.#clock();
    if (!Number.isFinite(now)) throw invalidArgument('clock', 'returned a non-finite time');
    return Math.floor(now);
  }

  #rule(now: number): ExpiryRule {
    return { now };
  }

  #endInput(now: number, reason: EndReason) {
    return { ...this.#rule(now), reason };
  }

  #countEnded(ended: EndedSession[], reason: EndReason): number {
    let count = 0;
    for (const session of ended) {
      this.#ended(session);
      if (session.endReason === reason) count += 1;
    }
    return count;
  }

  #valid(row: StoredSession, now: number): SessionValidationResult {
    const absoluteMs = row.absoluteExpiresAt - now;
    const idle = row.idleTimeout;
    const idleMs = idle === null ? null : row.lastActivityAt + idle - now;
    const soonest = idleMs === null ? absoluteMs : Math.min(absoluteMs, idleMs);
    let warning: SessionWarning = null;
    if (absoluteMs <= this.policy.absoluteWarning) warning = 'absolute';
    else if (idleMs !== null && idleMs <= this.policy.idleWarning) warning = 'idle';
    return {
      valid: true,
      session: toSession(row),
      secondsRemaining: Math.floor(soonest / 1000),
      idleSecondsRemaining: idleMs === null ? null : Math.floor(idleMs / 1000),
      absoluteSecondsRemaining: Math.floor(absoluteMs / 1000),
      warning,
    };
  }

  #invalid(row: StoredSession): SessionValidationResult {
    if (row.endReason === 'absolute_timeout' || row.endReason === 'idle_timeout') {
      return {
        valid: false,
        reason: row.endReason === 'absolute_timeout' ? 'absolute' : 'idle',
        sessionId: row.id,
        userId: row.userId,
        tenantId: row.tenantId,
      };
    }
    return row.endReason === null
      ? { valid: false, reason: 'not_found' }
      : { valid: false, reason: 'not_found', endReason: row.endReason };
  }

  #ended(
    session: Pick<EndedSession, 'id' | 'userId' | 'tenantId'> & {
      endReason: EndReason | null;
      endedAt: number | null;
    },
  ): void {
    const reason = session.endReason ?? 'logout';
    this.#log('debug', { sessionId: session.id, reason }, 'session ended');
    this.#emit({
      type: 'ended',
      sessionId: session.id,
      userId: session.userId,
      tenantId: session.tenantId,
      reason,
      at: new Date(session.endedAt ?? 0),
    });
  }

  #emit(event: SessionEvent): void {
    if (this.#onEvent === undefined) return;
    try {
      this.#onEvent(event);
    } catch (error) {
      this.#log(
        'warn',
        { event: event.type, sessionId: event.sessionId, err: describe(error) },
        'session event listener threw',
      );
    }
  }

  #log(level: keyof Logger, fields: Record<string, unknown>, message: string): void {
    const logger = this.#logger;
    const write = logger?.[level];
    if (typeof write !== 'function') return;
    try {
      write.call(logger, fields, message);
    } catch {
      // A broken logger must not break a session operation.
    }
  }

  async #call<T>(operation: string, run: () => Promise<T>, tokenHash?: string): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw this.#storeFailure(operation, error, tokenHash);
    }
  }

  /**
   * What a store call's failure is thrown as: a CurfewError as it is; otherwise
   * `STORE_UNAVAILABLE` when the store could not be reached or answer in time, `STORE_ERROR` when
   * it answered with something unexpected. Both are logged, secrets redacted.
   */
  #storeFailure(operation: string, error: unknown, tokenHash?: string): unknown {
    if (error instanceof CurfewError) return error;
    const unavailable = isStoreUnavailable(this.#store, error);
    const hashPrefixField =
      tokenHash === undefined ? {} : { tokenHashPrefix: hashPrefix(tokenHash) };
    if (unavailable) {
      // An outage needs no stack, and its message can quote row data (a lock error can name the
      // row): the error's name and code say what happened.
      this.#log(
        'warn',
        { operation, err: describe(error), ...hashPrefixField },
        'session store unavailable',
      );
      return new CurfewError('STORE_UNAVAILABLE', `session store unavailable during ${operation}`, {
        cause: error,
      });
    }
    // Unexpected: a bug to look at, so the message and stack, with any hash cut to its prefix.
    this.#log(
      'error',
      { operation, err: describeStoreError(error), ...hashPrefixField },
      'session store failed',
    );
    return new CurfewError('STORE_ERROR', `session store failed during ${operation}`, {
      cause: error,
    });
  }
}

function checkOwner(userId: unknown, tenantId: unknown): SessionOwner | undefined {
  if (userId === undefined && tenantId === undefined) return undefined;
  return {
    userId: userId === undefined ? undefined : checkUserId(userId),
    tenantId: checkTenantFilter(tenantId),
  };
}

function checkBatchSize(value: unknown, fallback = DEFAULT_BATCH): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 100_000) {
    throw invalidArgument('batchSize', 'expected a whole number from 1 to 100000');
  }
  return value;
}

function checkPageSize(value: unknown): number {
  if (value === undefined) return DEFAULT_PAGE;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_PAGE) {
    throw invalidArgument('limit', `expected a whole number from 1 to ${MAX_PAGE}`);
  }
  return value;
}

// A cursor is the last listed session's place in the order, base64url-encoded so that callers
// treat it as opaque. It names nothing they could not see on the page it came from.
function encodeCursor(session: StoredSession): string {
  return Buffer.from(`${session.lastActivityAt}.${session.id}`, 'utf8').toString('base64url');
}

function decodeCursor(value: unknown): ListPosition | undefined {
  if (value === undefined || value === null) return undefined;
  const bad = () => invalidArgument('cursor', 'expected the nextCursor of a previous page');
  if (typeof value !== 'string' || value.length > 400 || !/^[A-Za-z0-9_-]+$/.test(value)) {
    throw bad();
  }
  const text = Buffer.from(value, 'base64url').toString('utf8');
  const dot = text.indexOf('.');
  const time = text.slice(0, dot);
  if (dot < 1 || !/^\d{1,16}$/.test(time)) throw bad();
  const lastActivityAt = Number(time);
  if (!Number.isSafeInteger(lastActivityAt)) throw bad();
  let id: string;
  try {
    id = checkSessionId(text.slice(dot + 1), 'cursor');
  } catch {
    throw bad();
  }
  return { lastActivityAt, id };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function describe(error: unknown): { name: string; code?: unknown } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code === undefined ? { name: error.name } : { name: error.name, code };
  }
  return { name: typeof error };
}
