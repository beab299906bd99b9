import type {
  AuthenticationRequirement,
  EndReason,
  IssuedSession,
  ReauthenticateOptions,
  SessionManager,
  SessionValidationResult,
} from 'curfew';
import type { ApiCaller } from '../api-keys.js';

/**
 * Token operations as one API key may perform them. An admin key acts on any session. A tenant
 * key acts only on its own tenant's sessions: another tenant's token is answered exactly like an
 * unknown one, and the other tenant's session is not touched, rotated, reauthenticated or
 * revoked. The tenant is checked inside the store's own atomic step (the manager's `tenantId`
 * option), so a tenant key costs the same single store call as an admin key.
 *
 * @example
 * ```ts
 * const access = new TokenAccess(sessions);
 * const result = await access.validate(caller, token, { touch: true });
 * ```
 */
export class TokenAccess {
  readonly #manager: SessionManager;

  constructor(manager: SessionManager) {
    this.#manager = manager;
  }

  /** `SessionManager.validate`, limited to the caller's tenant. */
  validate(
    caller: ApiCaller,
    token: string,
    options: AuthenticationRequirement & { touch: boolean },
  ): Promise<SessionValidationResult> {
    return this.#manager.validate(
      token,
      caller.tenantId === null ? options : { ...options, tenantId: caller.tenantId },
    );
  }

  /** `SessionManager.touch`, limited to the caller's tenant. */
  async touch(caller: ApiCaller, token: string): Promise<boolean> {
    return (await this.validate(caller, token, { touch: true })).valid;
  }

  /** `SessionManager.revoke`, limited to the caller's tenant. */
  revoke(caller: ApiCaller, token: string, reason: EndReason): Promise<boolean> {
    return this.#manager.revoke(token, { reason, ...ownerOf(caller) });
  }

  /** `SessionManager.rotate`, limited to the caller's tenant. */
  rotate(caller: ApiCaller, token: string): Promise<IssuedSession | null> {
    return this.#manager.rotate(token, ownerOf(caller));
  }

  /** `SessionManager.reauthenticate`, limited to the caller's tenant. */
  reauthenticate(
    caller: ApiCaller,
    token: string,
    options: Omit<ReauthenticateOptions, 'userId' | 'tenantId'>,
  ): Promise<IssuedSession | null> {
    return this.#manager.reauthenticate(token, { ...options, ...ownerOf(caller) });
  }
}

function ownerOf(caller: ApiCaller): { tenantId?: string } {
  return caller.tenantId === null ? {} : { tenantId: caller.tenantId };
}
