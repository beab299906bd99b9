import { isIP } from 'node:net';
import type { Aal } from './assurance.js';
import type { EndReason } from './end-reason.js';
import { invalidArgument } from './errors.js';
import type { StoredSession } from './store.js';

/**
 * A session as curfew shows it anywhere: never with its token or token hash. Times are `Date`s.
 *
 * @example
 * ```ts
 * const { session } = await sessions.create({ userId: '42' });
 * session.absoluteExpiresAt.toISOString(); // "2026-01-01T12:00:00.000Z"
 * ```
 */
export interface Session {
  /** Random UUID: public, safe to show and log, never usable as a credential. */
  readonly id: string;
  readonly userId: string;
  readonly tenantId: string | null;
  readonly appType: string;
  readonly ipAddress: string | null;
  readonly userAgent: string | null;
  readonly createdAt: Date;
  readonly lastActivityAt: Date;
  readonly absoluteExpiresAt: Date;
  /** The idle limit of this session in milliseconds (from its level's policy); `null`: none. */
  readonly idleTimeout: number | null;
  /** The assurance level of the session's last authentication; never more than was proven. */
  readonly aal: Aal;
  /** The authentication methods of that authentication, such as `["pwd", "otp"]`. */
  readonly methods: readonly string[];
  /** When the user last authenticated: sign-in, or the latest reauthentication. */
  readonly authenticatedAt: Date;
  /** `false` once ended (by logout, revocation or a timeout). */
  readonly active: boolean;
  readonly endedAt: Date | null;
  readonly endReason: EndReason | null;
}

/**
 * What to record about a new session.
 *
 * @example
 * ```ts
 * await sessions.create({
 *   userId: '42',
 *   tenantId: 'acme',
 *   ipAddress: req.ip,
 *   userAgent: req.headers['user-agent'],
 *   appType: 'tenant_app',
 *   aal: 2,
 *   methods: ['pwd', 'otp'],
 * });
 * ```
 */
export interface CreateSessionInput {
  /** 1 to 255 characters. */
  userId: string;
  /** 1 to 255 characters, or `null`/omitted for none. */
  tenantId?: string | null | undefined;
  /** A valid IPv4 or IPv6 address, or `null`/omitted. */
  ipAddress?: string | null | undefined;
  /** Kept up to the policy's `userAgentMaxLength`; `null`/omitted for none. */
  userAgent?: string | null | undefined;
  /** A short label, `[A-Za-z0-9_.-]{1,64}`; default `control_panel`. */
  appType?: string | undefined;
  /**
   * The assurance level the user just authenticated at (1, 2 or 3); default the policy's
   * `defaultAal`. The session's limits are that level's. Pass what was proven, never more.
   */
  aal?: Aal | undefined;
  /** How the user authenticated: RFC 8176 `amr` values such as `pwd`, `otp`, `hwk`; default none. */
  methods?: readonly string[] | undefined;
}

/** The usual `appType` when none is given. */
export const DEFAULT_APP_TYPE = 'control_panel';

const APP_TYPE_SHAPE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A lone surrogate cannot be stored as UTF-8 and PostgreSQL refuses NUL in text: refuse both
 * here, as bad input, rather than let one store mangle them and another fail.
 */
function isStorableId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= 255 &&
    value.isWellFormed() &&
    !value.includes('\u0000')
  );
}

/** @internal */
export function checkUserId(value: unknown, field = 'userId'): string {
  if (!isStorableId(value)) {
    throw invalidArgument(field, 'expected a string of 1 to 255 characters');
  }
  return value;
}

/** @internal */
export function checkTenantId(value: unknown, field = 'tenantId'): string | null {
  if (value === undefined || value === null) return null;
  if (!isStorableId(value)) {
    throw invalidArgument(field, 'expected a string of 1 to 255 characters, or null');
  }
  return value;
}

/** @internal Like {@link checkTenantId}, but keeps `undefined` (meaning "every tenant"). */
export function checkTenantFilter(value: unknown): string | null | undefined {
  return value === undefined ? undefined : checkTenantId(value);
}

/** @internal */
export function checkIpAddress(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > 64 || isIP(value) === 0) {
    throw invalidArgument('ipAddress', 'expected a valid IPv4 or IPv6 address, or null');
  }
  return value;
}

/** @internal */
export function checkAppType(value: unknown): string {
  if (value === undefined) return DEFAULT_APP_TYPE;
  if (typeof value !== 'string' || !APP_TYPE_SHAPE.test(value)) {
    throw invalidArgument('appType', 'expected a short label matching [A-Za-z0-9_.-]{1,64}');
  }
  return value;
}

/**
 * Cuts a user agent to `maxLength` UTF-16 code units without leaving half a surrogate pair.
 * @internal
 */
export function truncateUserAgent(value: unknown, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw invalidArgument('userAgent', 'expected a string or null');
  // A user agent is client-supplied text kept for display: mend lone surrogates (to U+FFFD)
  // instead of refusing a sign-in over them, so every store round-trips it exactly.
  const text = value.toWellFormed().replaceAll('\u0000', '\ufffd');
  if (text.length <= maxLength) return text;
  let cut = text.slice(0, maxLength);
  const last = cut.charCodeAt(cut.length - 1);
  // A lone high surrogate at the end would be half a character: drop it.
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut;
}

/** @internal */
export function checkSessionId(value: unknown, field = 'sessionId'): string {
  if (typeof value !== 'string' || value.length < 1 || value.length > 64) {
    throw invalidArgument(field, 'expected a session id');
  }
  return value;
}

/** @internal The public view of a stored session: the hash stays behind. */
export function toSession(stored: StoredSession): Session {
  return {
    id: stored.id,
    userId: stored.userId,
    tenantId: stored.tenantId,
    appType: stored.appType,
    ipAddress: stored.ipAddress,
    userAgent: stored.userAgent,
    createdAt: new Date(stored.createdAt),
    lastActivityAt: new Date(stored.lastActivityAt),
    absoluteExpiresAt: new Date(stored.absoluteExpiresAt),
    idleTimeout: stored.idleTimeout,
    aal: stored.aal,
    methods: [...stored.methods],
    authenticatedAt: new Date(stored.authenticatedAt),
    active: stored.endedAt === null,
    endedAt: stored.endedAt === null ? null : new Date(stored.endedAt),
    endReason: stored.endReason,
  };
}
