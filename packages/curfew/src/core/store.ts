import type { Aal } from './assurance.js';
import type { EndReason } from './end-reason.js';

/**
 * A session as a store keeps it. Times are epoch milliseconds. `tokenHash` is the lowercase hex
 * SHA-256 of the token; the token itself never reaches a store.
 *
 * A session is active while `endedAt` is `null`. Each session carries its own limits
 * (`idleTimeout`, `absoluteExpiresAt`), set from the policy for its assurance level when it was
 * created or reauthenticated; expiry is decided from them and the `now` passed with each call
 * ({@link findExpiry}), never by the store's own clock.
 */
export interface StoredSession {
  id: string;
  tokenHash: string;
  userId: string;
  tenantId: string | null;
  appType: string;
  ipAddress: string | null;
  userAgent: string | null;
  createdAt: number;
  lastActivityAt: number;
  absoluteExpiresAt: number;
  /** End the session this long after `lastActivityAt`; `null`: no idle limit. */
  idleTimeout: number | null;
  /** The assurance level the session's last authentication reached. */
  aal: Aal;
  /** The authentication methods of that authentication (RFC 8176 `amr` values), in order. */
  methods: string[];
  /** When the user last authenticated: at sign-in, then at each reauthentication. */
  authenticatedAt: number;
  endedAt: number | null;
  endReason: EndReason | null;
}

/**
 * The moment an operation runs, read once by the manager. An active session counts as expired
 * when `now >= absoluteExpiresAt` (absolute), or else when its `idleTimeout` is not `null` and
 * `now >= lastActivityAt + idleTimeout` (idle). Absolute wins when both hold.
 *
 * A store that ends an expired session sets `endReason` to `absolute_timeout` or `idle_timeout`
 * and `endedAt` to the moment it expired (`absoluteExpiresAt`, or `lastActivityAt + idleTimeout`),
 * so the audit trail says when a session really stopped working, not when someone noticed.
 */
export interface ExpiryRule {
  now: number;
}

/** Arguments of {@link SessionStore.validate}. */
export interface StoreValidateInput extends ExpiryRule {
  /** Answer `missing` (and change nothing) unless the session belongs to this owner. */
  owner?: SessionOwner | undefined;
  /**
   * Record activity: when set, and the session is valid, and
   * `now - lastActivityAt >= touchInterval`, set `lastActivityAt = now`. `null`: never write.
   * Because the condition needs `now` to be ahead, `lastActivityAt` never moves backwards.
   */
  touchInterval: number | null;
}

/**
 * What {@link SessionStore.validate} found:
 * - `missing`: no session has that hash;
 * - `ended`: it had ended before this call (`session` as stored);
 * - `expired`: it was active but expired, and this call (`endedNow: true`) or a concurrent one
 *   (`endedNow: false`) ended it; `session` as ended;
 * - `valid`: it is valid; `session` as stored after any activity write; `touched` whether
 *   activity was due (the stored time was at least `touchInterval` old); a due touch at the very
 *   millisecond already stored need not write.
 */
export type StoreValidateResult =
  | { status: 'missing' }
  | { status: 'ended'; session: StoredSession }
  | { status: 'expired'; session: StoredSession; endedNow: boolean }
  | { status: 'valid'; session: StoredSession; touched: boolean };

/** Which sessions an operation applies to: one user's, optionally narrowed to one tenant. */
export interface UserScope {
  userId: string;
  /** `undefined`: every tenant; `null`: only sessions without a tenant; a string: that tenant. */
  tenantId?: string | null | undefined;
}

/** Narrows an operation on one session to an owner; an omitted field matches anything. */
export interface SessionOwner {
  userId?: string | undefined;
  /** `null`: only a session without a tenant. */
  tenantId?: string | null | undefined;
}

/** Arguments of {@link SessionStore.endSession}. */
export interface StoreEndInput extends ExpiryRule {
  reason: EndReason;
}

/**
 * What a reauthentication sets, besides a new token hash: `authenticatedAt` and
 * `lastActivityAt` become `now`, and the session takes these level and limits.
 */
export interface StoreReauthentication {
  aal: Aal;
  methods: string[];
  idleTimeout: number | null;
  absoluteExpiresAt: number;
}

/** Arguments of {@link SessionStore.rotate}. */
export interface StoreRotateInput extends ExpiryRule {
  /** Change nothing (and return `null`) unless the session belongs to this owner. */
  owner?: SessionOwner | undefined;
  /** Set when the user has just reauthenticated; a plain rotation keeps level and limits. */
  reauthentication?: StoreReauthentication | undefined;
}

/**
 * A concurrent-session cap for {@link SessionStore.insert}: before adding, the user (within the
 * new session's tenant, `null` being its own scope) may hold at most `max - 1` valid sessions.
 */
export interface StoreSessionCap extends ExpiryRule {
  max: number;
  /** `evict-oldest`: end the least recently active (reason `session_limit`); `refuse`: add nothing. */
  action: 'evict-oldest' | 'refuse';
}

/** What {@link SessionStore.insert} did under a cap. */
export interface StoreInsertResult {
  /** `false` only when the cap refused the new session: nothing was written then. */
  inserted: boolean;
  /**
   * Sessions of the scope this call ended: evicted ones (`session_limit`) and expired ones met
   * on the way (their timeout reason).
   */
  ended: EndedSession[];
}

/** Which sessions {@link SessionStore.endSessions} ends: one tenant's, or everyone's. */
export interface SessionFilter {
  /** `undefined`: every session; `null`: sessions without a tenant; a string: that tenant's. */
  tenantId?: string | null | undefined;
}

/** The identity of a session that an operation ended, for events and counts. */
export interface EndedSession {
  id: string;
  userId: string;
  tenantId: string | null;
  endReason: EndReason;
  endedAt: number;
}

/**
 * A place in the listing order of {@link SessionStore.listUserSessions}: most recently active
 * first, ties broken by id, descending (byte order). A page that starts after a position holds
 * the sessions that sort strictly after it.
 */
export interface ListPosition {
  lastActivityAt: number;
  id: string;
}

/** Arguments of {@link SessionStore.listUserSessions}. */
export interface StoreListInput extends ExpiryRule {
  /** Return at most this many sessions. */
  limit: number;
  /** Start after this position; `undefined` starts at the most recently active session. */
  after?: ListPosition | undefined;
}

/** Arguments of {@link SessionStore.endUserSessions}. */
export interface StoreEndUserInput extends StoreEndInput {
  /** Leave this session alone (typically the caller's own). */
  exceptId?: string | undefined;
  /** End at most this many sessions in this call. */
  limit: number;
}

/** What one call of {@link SessionStore.endUserSessions} did. */
export interface StoreEndUserResult {
  /** The sessions this call ended (expired ones with their timeout reason). */
  ended: EndedSession[];
  /**
   * `true` when no session of the scope (but `exceptId`) that was active when the call began is
   * still active: this call or a concurrent one ended them all. `false` means "call again".
   */
  done: boolean;
}

/** Arguments of {@link SessionStore.sweep}. */
export interface StoreSweepInput extends ExpiryRule {
  /** End at most this many sessions in this call. */
  limit: number;
}

/**
 * Where curfew keeps sessions. It is shaped around sessions rather than generic rows, so that
 * every check-and-change happens inside the store in one atomic step: that is what makes
 * "two processes validating the same expired session end it once" and "a revoke that returned
 * is never followed by a successful validation" hold across processes.
 *
 * Rules every store keeps:
 * - It stores `tokenHash` only, and `tokenHash` is unique.
 * - It never reads a clock: every `now` comes from the caller.
 * - Each method is atomic with respect to every other method, in this process and in any other
 *   process sharing the same database.
 * - A method that ends sessions applies the {@link ExpiryRule} first: an active session that has
 *   already expired is ended with its timeout reason (and its expiry moment as `endedAt`), never
 *   with the caller's reason; such sessions are not reported as ended by the caller.
 * - Work whose size grows with a user's sessions is done in calls bounded by a `limit`, so no
 *   single call holds a lock or blocks the engine for long however many sessions a user has.
 * - Failures are thrown. The manager reports a failure as `STORE_UNAVAILABLE` when
 *   {@link SessionStore.isUnavailable} says the store could not be reached or did not answer in
 *   time, and as `STORE_ERROR` (a bug, a constraint violation, a script error) otherwise.
 *
 * Run `runStoreConformance` from `curfew/testing` against a new store: it checks all of this.
 *
 * @example
 * ```ts
 * import { SessionManager, type SessionStore } from 'curfew';
 *
 * class MyStore implements SessionStore {
 *   // …the methods below…
 * }
 * const sessions = new SessionManager({ store: new MyStore() });
 * ```
 */
export interface SessionStore {
  /**
   * Adds a new session. Throws if `id` or `tokenHash` already exists. With a `cap`, the count,
   * the eviction and the insert are one atomic step: however many creates for one user run at
   * once, no moment sees more than `cap.max` valid sessions in the scope.
   */
  insert(session: StoredSession, cap?: StoreSessionCap): Promise<StoreInsertResult>;

  /**
   * The atomic check-and-touch behind every validation: find the session by hash, end it if it
   * has expired, else record activity when asked. See {@link StoreValidateResult}.
   */
  validate(tokenHash: string, input: StoreValidateInput): Promise<StoreValidateResult>;

  /**
   * Replaces the token hash of a valid session (and records activity at `now` if that is newer),
   * atomically, so the old hash stops working the moment this returns; with `reauthentication`,
   * also sets what it names. Returns the session after the change, or `null` when no valid
   * session has `oldHash` (an expired one is left for {@link validate} or {@link sweep} to end).
   */
  rotate(oldHash: string, newHash: string, input: StoreRotateInput): Promise<StoredSession | null>;

  /** Reads one session by its public id, whatever its state; `null` when there is none. */
  findById(id: string): Promise<StoredSession | null>;

  /**
   * Ends one active session found by token hash or by id (and, when given, only if it belongs to
   * the owner's user and tenant). Returns the session as ended, or `null` when nothing active
   * matched. An expired one is ended with its timeout reason and returned as such.
   */
  endSession(
    target: { tokenHash: string; owner?: SessionOwner } | { id: string; owner?: SessionOwner },
    input: StoreEndInput,
  ): Promise<EndedSession | null>;

  /**
   * Ends up to `limit` active sessions in the scope, except `exceptId`; each session is ended
   * atomically, and none twice. Returns those it ended (expired ones with their timeout reason)
   * and whether any that were active when the call began are still active. The manager calls it
   * until `done`, so "sign out everywhere" is a series of short steps however many sessions a
   * user has, and once the series returns, no session that existed when it began is valid.
   */
  endUserSessions(scope: UserScope, input: StoreEndUserInput): Promise<StoreEndUserResult>;

  /**
   * As {@link endUserSessions}, for every session of a tenant, or every session there is: up to
   * `limit` per call, `done` once none that were active when the call began are still active.
   */
  endSessions(filter: SessionFilter, input: StoreEndUserInput): Promise<StoreEndUserResult>;

  /**
   * One page of the scope's sessions that are valid under the rule (active and not expired), in
   * the order of {@link ListPosition}: at most `limit`, starting after `after`. Read only. Its
   * cost must not grow with the number of sessions the user has beyond the page.
   */
  listUserSessions(scope: UserScope, input: StoreListInput): Promise<StoredSession[]>;

  /**
   * Ends up to `limit` expired active sessions, absolute expiries first, and returns them. Safe to run from several
   * processes at once: no session is ended, or returned, twice. A call may return fewer than
   * `limit` while expired sessions are left (a concurrent sweeper holds them, or the store stops
   * early to keep the call short): the manager calls it again until a call returns none. One
   * call must not hold a lock or block the engine for long.
   */
  sweep(input: StoreSweepInput): Promise<EndedSession[]>;

  /**
   * Deletes up to `limit` sessions that ended before `endedBefore`; returns how many. As with
   * {@link sweep}, fewer than `limit` means none are left.
   */
  purgeEnded(input: { endedBefore: number; limit: number }): Promise<number>;

  /**
   * Counts for an operator's report: sessions valid under the rule, and sessions that ended in
   * `[endedSince, now]`, by end reason. Read only; it may scan, so it is not for request paths.
   * Optional for custom stores; every store curfew ships has it.
   */
  countSessions?(input: ExpiryRule & { endedSince: number }): Promise<SessionCounts>;

  /** Resolves when the store can serve requests; throws otherwise. Used by readiness checks. */
  ping?(): Promise<void>;

  /**
   * The store server's own clock, epoch milliseconds, read on the server (PostgreSQL
   * `clock_timestamp()`, MySQL `NOW(6)`, Redis `TIME`). Stores that share the process's clock
   * (in memory, SQLite) leave it out. Only for {@link SessionManager.measureClockSkew}: no
   * session decision ever reads it.
   */
  storeTime?(): Promise<number>;

  /**
   * Whether an error this store threw means it could not be reached or did not answer in time
   * (a refused or dropped connection, a timeout, a server starting up or full), as opposed to
   * answering with something unexpected. The manager reports the first as `STORE_UNAVAILABLE`
   * (retry later) and the second as `STORE_ERROR` (a bug to look at). Without it, only Node's
   * own network errors (`ECONNREFUSED`, `ETIMEDOUT`, …) count as unavailable.
   */
  isUnavailable?(error: unknown): boolean;
}

/**
 * What {@link SessionStore.countSessions} reports.
 *
 * @example
 * ```ts
 * const counts: SessionCounts = { active: 12, endedByReason: { logout: 3, idle_timeout: 1 } };
 * ```
 */
export interface SessionCounts {
  /** Sessions valid now: active and within both timeouts. */
  active: number;
  /** Sessions ended in the window, by end reason; reasons with none are left out. */
  endedByReason: Partial<Record<EndReason, number>>;
}

/**
 * Applies an {@link ExpiryRule} to an active session: which timeout has ended it, if any, and
 * the moment it expired. For stores that decide in JavaScript (SQL stores say the same in SQL).
 *
 * @example
 * ```ts
 * const expiry = findExpiry(row, { now });
 * if (expiry) end(row, expiry.reason, expiry.at);
 * ```
 */
export function findExpiry(
  session: Pick<StoredSession, 'absoluteExpiresAt' | 'lastActivityAt' | 'idleTimeout'>,
  rule: ExpiryRule,
): { reason: 'absolute_timeout' | 'idle_timeout'; at: number } | null {
  if (rule.now >= session.absoluteExpiresAt) {
    return { reason: 'absolute_timeout', at: session.absoluteExpiresAt };
  }
  const idle = session.idleTimeout;
  if (idle !== null && rule.now >= session.lastActivityAt + idle) {
    return { reason: 'idle_timeout', at: session.lastActivityAt + idle };
  }
  return null;
}

/**
 * When an active session idles out if nothing touches it: `lastActivityAt + idleTimeout`, or
 * `null` without an idle limit. Stores that index expiry keep this next to the row.
 *
 * @example
 * ```ts
 * idleDeadline({ lastActivityAt: 0, idleTimeout: 1_800_000 }); // 1_800_000
 * ```
 */
export function idleDeadline(
  session: Pick<StoredSession, 'lastActivityAt' | 'idleTimeout'>,
): number | null {
  return session.idleTimeout === null ? null : session.lastActivityAt + session.idleTimeout;
}

/**
 * Whether a session matches a {@link UserScope} or {@link SessionOwner}.
 *
 * @example
 * ```ts
 * matchesOwner(row, { userId: '42', tenantId: null }); // only 42's sessions without a tenant
 * ```
 */
export function matchesOwner(
  session: Pick<StoredSession, 'userId' | 'tenantId'>,
  owner: SessionOwner | UserScope | undefined,
): boolean {
  if (owner === undefined) return true;
  if (owner.userId !== undefined && session.userId !== owner.userId) return false;
  if (owner.tenantId !== undefined && session.tenantId !== owner.tenantId) return false;
  return true;
}

/**
 * Sorts sessions into the listing order of {@link ListPosition}: an `Array.prototype.sort`
 * comparator.
 *
 * @example
 * ```ts
 * rows.sort(compareListOrder);
 * ```
 */
export function compareListOrder(
  a: Pick<StoredSession, 'lastActivityAt' | 'id'>,
  b: Pick<StoredSession, 'lastActivityAt' | 'id'>,
): number {
  if (a.lastActivityAt !== b.lastActivityAt) return b.lastActivityAt - a.lastActivityAt;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}
