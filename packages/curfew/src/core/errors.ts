/**
 * The stable codes a {@link CurfewError} can carry. Switch on these, never on messages.
 *
 * - `INVALID_ARGUMENT`: a caller passed a value curfew cannot accept; `field` names it.
 * - `INVALID_POLICY`: a policy is malformed, or looser than its preset without `custom: true`.
 * - `STORE_UNAVAILABLE`: the store could not be reached or did not answer in time (retry later);
 *   the driver's error is the `cause`.
 * - `STORE_ERROR`: the store answered with something unexpected: a bug, a constraint violation,
 *   a script error. Retrying will not help; the driver's error is the `cause`.
 * - `SESSION_LIMIT_REACHED`: a create was refused because the user already holds the policy's
 *   `maxSessionsPerUser` valid sessions in that tenant (`onSessionLimit: 'refuse'`).
 */
export type CurfewErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_POLICY'
  | 'STORE_UNAVAILABLE'
  | 'STORE_ERROR'
  | 'SESSION_LIMIT_REACHED';

/** Options for {@link CurfewError}. */
export interface CurfewErrorOptions {
  /** The argument or policy field at fault, in dotted form (`userId`, `policy.idleTimeout`). */
  field?: string;
  /** The underlying error, for example the database driver's. */
  cause?: unknown;
}

/**
 * The one error class curfew throws. An invalid or expired session is never an error; this is
 * only for misconfiguration, bad arguments and store failures.
 *
 * Messages never contain a token or a token hash.
 *
 * @example
 * ```ts
 * import { CurfewError } from 'curfew';
 *
 * try {
 *   await sessions.create({ userId: '' });
 * } catch (error) {
 *   if (error instanceof CurfewError && error.code === 'INVALID_ARGUMENT') {
 *     console.log(`bad field: ${error.field}`); // "bad field: userId"
 *   }
 * }
 * ```
 */
export class CurfewError extends Error {
  /** The stable, machine-readable code. */
  readonly code: CurfewErrorCode;
  /** The field at fault, when there is one. */
  readonly field: string | undefined;

  constructor(code: CurfewErrorCode, message: string, options: CurfewErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.field = options.field;
  }
}

/** @internal */
export function invalidArgument(field: string, message: string): CurfewError {
  return new CurfewError('INVALID_ARGUMENT', `${field}: ${message}`, { field });
}
