import type { SessionStore } from './store.js';

// Node's own codes for a peer that cannot be reached or stopped answering, whatever the driver.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOTCONN',
]);

/**
 * Whether a store's error means the store could not be reached or did not answer in time: the
 * store's own {@link SessionStore.isUnavailable} when it has one, else Node's network error codes
 * anywhere in the error's `cause` chain.
 * @internal
 */
export function isStoreUnavailable(store: SessionStore, error: unknown): boolean {
  if (typeof store.isUnavailable === 'function') {
    try {
      if (store.isUnavailable(error)) return true;
    } catch {
      // A classifier that throws cannot decide: fall back to the network codes.
    }
  }
  return hasNetworkCode(error);
}

/**
 * Whether an error, its `cause` chain or an `AggregateError`'s members carry one of Node's
 * network error codes. Exported for stores whose own classifier starts from it.
 * @internal
 */
export function hasNetworkCode(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 5) return false;
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
  if (Array.isArray(errors) && errors.some((inner) => hasNetworkCode(inner, depth + 1))) {
    return true;
  }
  return hasNetworkCode(cause, depth + 1);
}

// A full SHA-256 in hex (a token hash), or a run long enough to be a token (43 base64url
// characters hold 256 bits): driver messages can quote a row, and a unique violation quotes the
// hash it refused.
const HEX_HASH = /\b[0-9a-fA-F]{64}\b/g;
const TOKEN_LIKE = /(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{40,}(?![A-Za-z0-9_-])/g;

/**
 * A driver's text with anything that could be a token hash cut to its first 8 characters and
 * anything that could be a token removed, so it can go to a log.
 * @internal
 */
export function redactSecrets(text: string): string {
  return text.replace(HEX_HASH, (hash) => `${hash.slice(0, 8)}…`).replace(TOKEN_LIKE, '[redacted]');
}

/**
 * What a log line may say about a store's error: its name, code, message and stack (the cause's
 * too), each with secrets redacted.
 * @internal
 */
export function describeStoreError(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { name: typeof error };
  const described: Record<string, unknown> = { name: error.name };
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' || typeof code === 'number') described.code = code;
  described.message = redactSecrets(error.message);
  if (typeof error.stack === 'string') described.stack = redactSecrets(error.stack);
  if (error.cause instanceof Error) described.cause = describeStoreError(error.cause);
  return described;
}
