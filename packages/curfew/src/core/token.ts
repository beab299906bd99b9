import * as crypto from 'node:crypto';

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,256}$/;

/**
 * Makes a new session token: 32 bytes (256 bits) from the operating system's CSPRNG, encoded
 * base64url without padding (43 characters). Give it to the client once; store only
 * {@link hashSessionToken}'s result.
 *
 * @example
 * ```ts
 * import { generateSessionToken } from 'curfew';
 *
 * const token = generateSessionToken(); // "Xq3v…" (43 characters)
 * ```
 */
export function generateSessionToken(): string {
  return crypto.randomBytes(32).toString('base64url');
}

/**
 * The lowercase hex SHA-256 of a token's UTF-8 bytes (64 characters): the only form in which
 * curfew ever stores a token. A plain hash suffices because the token carries 256 bits of
 * entropy; there is nothing to brute-force.
 *
 * @example
 * ```ts
 * import { generateSessionToken, hashSessionToken } from 'curfew';
 *
 * const hash = hashSessionToken(generateSessionToken()); // "9f86d0…" (64 hex characters)
 * ```
 */
export function hashSessionToken(token: string): string {
  return sha256Hex(token);
}

// Every validation hashes its token. One-shot crypto.hash (Node 20.12+) costs about half of
// createHash().update().digest(); a namespace lookup, so that older Node 20 still loads this.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string) => string }).hash;
const sha256Hex: (text: string) => string =
  typeof oneShotHash === 'function'
    ? (text) => oneShotHash('sha256', text)
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Whether a value has the shape of a session token: a string of 16 to 256 base64url characters.
 * Anything else is answered exactly as an unknown token, before any hashing or store call, so
 * garbage costs nothing.
 *
 * @example
 * ```ts
 * import { isWellFormedToken } from 'curfew';
 *
 * isWellFormedToken('not a token!'); // false
 * ```
 */
export function isWellFormedToken(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 16 &&
    value.length <= 256 &&
    TOKEN_SHAPE.test(value)
  );
}

/**
 * The first 8 hex characters of a token's hash: the most of it that may appear in a log line.
 * @internal
 */
export function hashPrefix(tokenHash: string): string {
  return tokenHash.slice(0, 8);
}
