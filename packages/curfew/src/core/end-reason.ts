import { invalidArgument } from './errors.js';

/**
 * The end reasons curfew knows. Callers may add their own matching `[a-z0-9_]{1,64}`.
 *
 * - `logout`: the user signed out.
 * - `password_change`: ended with the rest of the user's sessions after a credential change.
 * - `admin_revoke`: an operator ended it.
 * - `idle_timeout`, `absolute_timeout`: set only by curfew, when a session expires.
 * - `rotated`: the token was replaced by a new session.
 * - `user_revoke`: the user ended it from an "active sessions" page.
 * - `account_disabled`: the account was disabled.
 * - `session_limit`: set only by curfew, when a new session of the same user and tenant pushed
 *   it out under the policy's `maxSessionsPerUser`.
 */
export type KnownEndReason =
  | 'logout'
  | 'password_change'
  | 'admin_revoke'
  | 'idle_timeout'
  | 'absolute_timeout'
  | 'rotated'
  | 'user_revoke'
  | 'account_disabled'
  | 'session_limit';

/**
 * Why a session ended: one of {@link KnownEndReason} or a caller-defined `[a-z0-9_]{1,64}`.
 *
 * @example
 * ```ts
 * const reason: EndReason = 'suspicious_activity';
 * await sessions.revoke(token, reason);
 * ```
 */
// The `string & {}` keeps editor completion for the known reasons while allowing others.
export type EndReason = KnownEndReason | (string & {});

/** The known end reasons, in a stable order. */
export const KNOWN_END_REASONS: readonly KnownEndReason[] = Object.freeze([
  'logout',
  'password_change',
  'admin_revoke',
  'idle_timeout',
  'absolute_timeout',
  'rotated',
  'user_revoke',
  'account_disabled',
  'session_limit',
]);

const END_REASON_SHAPE = /^[a-z0-9_]{1,64}$/;

/**
 * Checks a reason given by a caller. The timeout and session-limit reasons are curfew's alone: a revoke
 * labelled `idle_timeout` would make the audit trail claim an expiry that never happened.
 * @internal
 */
export function checkEndReason(value: unknown, field = 'reason'): EndReason {
  if (typeof value !== 'string' || !END_REASON_SHAPE.test(value)) {
    throw invalidArgument(
      field,
      `expected one of ${KNOWN_END_REASONS.join(', ')}, or your own reason matching [a-z0-9_]{1,64}`,
    );
  }
  if (value === 'idle_timeout' || value === 'absolute_timeout' || value === 'session_limit') {
    throw invalidArgument(
      field,
      `${value} is set only by curfew, when a session expires or is pushed out by the session cap`,
    );
  }
  return value;
}
