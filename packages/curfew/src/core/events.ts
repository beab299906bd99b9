import type { Aal } from './assurance.js';
import type { EndReason } from './end-reason.js';

/**
 * Something that happened to a session. Events carry ids, never tokens or hashes, so they can be
 * shipped to an audit log or a message bus as they are.
 *
 * @example
 * ```ts
 * const sessions = new SessionManager({
 *   store,
 *   onEvent(event) {
 *     if (event.type === 'ended') audit.write({ session: event.sessionId, why: event.reason });
 *   },
 * });
 * ```
 */
export type SessionEvent =
  | {
      type: 'created';
      sessionId: string;
      userId: string;
      tenantId: string | null;
      aal: Aal;
      at: Date;
    }
  | { type: 'rotated'; sessionId: string; userId: string; tenantId: string | null; at: Date }
  | {
      /** The user proved who they are again: new token, timers reset, level as given. */
      type: 'reauthenticated';
      sessionId: string;
      userId: string;
      tenantId: string | null;
      aal: Aal;
      /** The level before, to tell a step-up from a plain reauthentication. */
      previousAal: Aal;
      at: Date;
    }
  | {
      type: 'ended';
      sessionId: string;
      userId: string;
      tenantId: string | null;
      reason: EndReason;
      /** When the session stopped working: its expiry moment for timeouts. */
      at: Date;
    };

/** A function that receives {@link SessionEvent}s. Errors it throws are logged and ignored. */
export type SessionEventListener = (event: SessionEvent) => void;

/**
 * The logger curfew writes to: any object with pino-style methods `(fields, message)`, such as
 * a pino or a Fastify logger. Missing levels are skipped. Fields never hold a token, and at most
 * the first 8 hex characters of a token's hash.
 *
 * @example
 * ```ts
 * import pino from 'pino';
 * const sessions = new SessionManager({ store, logger: pino() });
 * // or, with no dependency:
 * const logger = { warn: (fields, msg) => console.warn(msg, fields) };
 * ```
 */
export interface Logger {
  debug?(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
  warn?(fields: Record<string, unknown>, message: string): void;
  error?(fields: Record<string, unknown>, message: string): void;
}
