import type { EndReason, IssuedSession, SessionManager, SessionValidationResult } from 'curfew';
import type { ApiCaller } from '../api-keys.js';

/**
 * Token operations as one API key may perform them. An admin key acts on any session. A tenant
 * key acts only on its own tenant's sessions: another tenant's token is answered exactly like an
 * unknown one, and the other tenant's session is not touched, rotated or revoked.
 *
 * How a tenant key's check stays free of side effects on other tenants: it first validates with
 * `touch: false` (a read), compares tenants, and only then records activity, rotates or revokes.
 * A session's tenant never changes, so nothing can slip in between the check and the act; if the
 * session ends in between, the second call reports that. Recording activity costs a second store
 * call only when the coalescing rule would write anyway (the stored activity is older than the
 * policy's write interval), so a burst of validations costs one extra read per interval, not one
 * per request. The one write a check can cause is the library's ending of an already expired
 * session, which changes nothing a caller could observe: it was already invalid, and its end
 * time is its expiry moment, whoever noticed.
 *
 * @example
 * ```ts
 * const access = new TokenAccess(sessions, Date.now);
 * const result = await access.validate(caller, token, true);
 * ```
 */
export class TokenAccess {
  readonly #manager: SessionManager;
  readonly #clock: () => number;

  constructor(manager: SessionManager, clock: () => number) {
    this.#manager = manager;
    this.#clock = clock;
  }

  /** `SessionManager.validate`, limited to the caller's tenant. */
  validate(caller: ApiCaller, token: string, touch: boolean): Promise<SessionValidationResult> {
    // An admin key gets the manager's own promise: an async frame here would add a promise and
    // two turns to every validation.
    if (caller.tenantId === null) return this.#manager.validate(token, { touch });
    return this.#validateInTenant(caller.tenantId, token, touch);
  }

  /** `SessionManager.touch`, limited to the caller's tenant. */
  async touch(caller: ApiCaller, token: string): Promise<boolean> {
    return (await this.validate(caller, token, true)).valid;
  }

  /** `SessionManager.revoke`, limited to the caller's tenant. */
  async revoke(caller: ApiCaller, token: string, reason: EndReason): Promise<boolean> {
    if (caller.tenantId === null) return this.#manager.revoke(token, reason);
    const peek = await this.#manager.validate(token, { touch: false });
    if (!peek.valid || peek.session.tenantId !== caller.tenantId) return false;
    return this.#manager.revokeSession(peek.session.id, { tenantId: caller.tenantId, reason });
  }

  /** `SessionManager.rotate`, limited to the caller's tenant. */
  async rotate(caller: ApiCaller, token: string): Promise<IssuedSession | null> {
    if (caller.tenantId !== null) {
      const peek = await this.#manager.validate(token, { touch: false });
      if (!peek.valid || peek.session.tenantId !== caller.tenantId) return null;
    }
    return this.#manager.rotate(token);
  }

  async #validateInTenant(
    tenantId: string,
    token: string,
    touch: boolean,
  ): Promise<SessionValidationResult> {
    const peek = await this.#manager.validate(token, { touch: false });
    if (!belongsTo(peek, tenantId)) return { valid: false, reason: 'not_found' };
    if (!touch || !peek.valid || !this.#wouldWrite(peek.session.lastActivityAt)) return peek;
    return this.#manager.validate(token, { touch: true });
  }

  #wouldWrite(lastActivityAt: Date): boolean {
    return this.#clock() - lastActivityAt.getTime() >= this.#manager.policy.activityWriteInterval;
  }
}

function belongsTo(result: SessionValidationResult, tenantId: string): boolean {
  if (result.valid) return result.session.tenantId === tenantId;
  // An ended session's result carries no tenant, and not_found is the same answer either way.
  if (result.reason === 'not_found') return false;
  return result.tenantId === tenantId;
}
