import { invalidArgument } from './errors.js';

/**
 * An authenticator assurance level of NIST SP 800-63B: 1 (one factor), 2 (two factors),
 * 3 (two factors, one of them a hardware-bound, phishing-resistant key).
 *
 * @example
 * ```ts
 * const aal: Aal = 2;
 * await sessions.create({ userId: '42', aal, methods: ['pwd', 'otp'] });
 * ```
 */
export type Aal = 1 | 2 | 3;

/** The levels, lowest first. */
export const AAL_LEVELS: readonly Aal[] = Object.freeze([1, 2, 3]);

/** At most this many authentication methods are kept per session. */
export const MAX_METHODS = 8;

const METHOD_SHAPE = /^[A-Za-z0-9_.:-]{1,32}$/;

/** @internal */
export function isAal(value: unknown): value is Aal {
  return value === 1 || value === 2 || value === 3;
}

/** @internal */
export function checkAal(value: unknown, field = 'aal'): Aal {
  if (!isAal(value)) throw invalidArgument(field, 'expected an assurance level: 1, 2 or 3');
  return value;
}

/**
 * Checks the authentication methods behind a session (RFC 8176 `amr` values such as `pwd`,
 * `otp`, `hwk`, `swk`, `face`, or the application's own short labels). Duplicates are dropped and
 * the order of first use kept, so the stored list reads as the user authenticated.
 * @internal
 */
export function checkMethods(value: unknown, field = 'methods'): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > MAX_METHODS) {
    throw invalidArgument(field, `expected an array of at most ${MAX_METHODS} method names`);
  }
  const methods: string[] = [];
  for (const method of value) {
    if (typeof method !== 'string' || !METHOD_SHAPE.test(method)) {
      throw invalidArgument(
        field,
        'expected method names such as "pwd", "otp" or "hwk" (RFC 8176), matching [A-Za-z0-9_.:-]{1,32}',
      );
    }
    if (!methods.includes(method)) methods.push(method);
  }
  return methods;
}
