/**
 * curfew: server-side sessions that meet NIST SP 800-63B and the OWASP session guidance.
 *
 * @example
 * ```ts
 * import { MemoryStore, SessionManager } from 'curfew';
 *
 * const sessions = new SessionManager({ store: new MemoryStore() });
 * const { token } = await sessions.create({ userId: '42' });
 * console.log(await sessions.validate(token));
 * ```
 * @packageDocumentation
 */
export { AAL_LEVELS, type Aal } from './core/assurance.js';
export { type Duration, formatDuration, parseDuration } from './core/duration.js';
export { type EndReason, KNOWN_END_REASONS, type KnownEndReason } from './core/end-reason.js';
export { CurfewError, type CurfewErrorCode, type CurfewErrorOptions } from './core/errors.js';
export type { Logger, SessionEvent, SessionEventListener } from './core/events.js';
export {
  type AuthenticationRequirement,
  type Clock,
  type IssuedSession,
  type ListUserSessionsOptions,
  type OwnerOptions,
  type ReauthenticateOptions,
  type RevokeManyOptions,
  type RevokeSessionOptions,
  type RevokeUserSessionsOptions,
  SessionManager,
  type SessionManagerOptions,
  type SessionPage,
  type SessionValidationResult,
  type SessionWarning,
  type SweepOptions,
  type SweepResult,
  type UserScopeOptions,
  type ValidateOptions,
} from './core/manager.js';
export {
  DEFAULT_POLICY_PRESET,
  type LimitOptions,
  type LimitOverride,
  POLICY_PRESETS,
  type Policy,
  type PolicyOptions,
  type PolicyPresetName,
  resolvePolicy,
  type SessionLimitAction,
  type SessionLimits,
  sessionLimits,
} from './core/policy.js';
export { type CreateSessionInput, DEFAULT_APP_TYPE, type Session } from './core/session.js';
export {
  compareListOrder,
  type EndedSession,
  type ExpiryRule,
  findExpiry,
  idleDeadline,
  type ListPosition,
  matchesOwner,
  type SessionCounts,
  type SessionFilter,
  type SessionOwner,
  type SessionStore,
  type StoredSession,
  type StoreEndInput,
  type StoreEndUserInput,
  type StoreEndUserResult,
  type StoreInsertResult,
  type StoreListInput,
  type StoreReauthentication,
  type StoreRotateInput,
  type StoreSessionCap,
  type StoreSweepInput,
  type StoreValidateInput,
  type StoreValidateResult,
  type UserScope,
} from './core/store.js';
export { generateSessionToken, hashSessionToken, isWellFormedToken } from './core/token.js';
export { MemoryStore } from './stores/memory.js';
