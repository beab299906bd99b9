import type { Session, SessionValidationResult } from 'curfew';
import fastJson from 'fast-json-stringify';
import { formatIsoTime, rememberingIsoFormatter } from '../iso-time.js';
import { invalidAnswerSchema, validAnswerSchema } from './schemas.js';

const formatServerTime = rememberingIsoFormatter();

/** A session as JSON: times as ISO 8601 UTC strings, no hash, nothing not listed here. */
export interface SessionView {
  id: string;
  userId: string;
  tenantId: string | null;
  appType: string;
  ipAddress: string | null;
  userAgent: string | null;
  createdAt: string;
  lastActivityAt: string;
  absoluteExpiresAt: string;
  idleTimeoutSeconds: number | null;
  aal: 1 | 2 | 3;
  methods: string[];
  authenticatedAt: string;
  active: boolean;
  endedAt: string | null;
  endReason: string | null;
}

/**
 * The JSON view of a session. Fields are copied one by one, so a field added to the library's
 * `Session` later never reaches the API without being added here (and to the schema).
 *
 * @example
 * ```ts
 * reply.send(toSessionView(session));
 * ```
 */
export function toSessionView(session: Session): SessionView {
  return {
    id: session.id,
    userId: session.userId,
    tenantId: session.tenantId,
    appType: session.appType,
    ipAddress: session.ipAddress,
    userAgent: session.userAgent,
    createdAt: formatIsoTime(session.createdAt.getTime()),
    lastActivityAt: formatIsoTime(session.lastActivityAt.getTime()),
    absoluteExpiresAt: formatIsoTime(session.absoluteExpiresAt.getTime()),
    idleTimeoutSeconds:
      session.idleTimeout === null ? null : Math.floor(session.idleTimeout / 1000),
    aal: session.aal,
    methods: [...session.methods],
    authenticatedAt: formatIsoTime(session.authenticatedAt.getTime()),
    active: session.active,
    endedAt: session.endedAt === null ? null : formatIsoTime(session.endedAt.getTime()),
    endReason: session.endReason,
  };
}

/**
 * The JSON answer of a validation. An invalid result says only why (`reason`), not whose session
 * it was: the same answer for every caller, whichever tenant the session belonged to.
 * `serverTime` is epoch milliseconds.
 *
 * @example
 * ```ts
 * return toValidationView(await sessions.validate(token), Date.now());
 * ```
 */
export function toValidationView(result: SessionValidationResult, serverTime: number) {
  if (!result.valid) {
    // Whose session it was stays out of the answer, for this reason too: only what is missing.
    if (result.reason === 'insufficient_authentication') {
      return {
        valid: false as const,
        reason: result.reason,
        serverTime: formatServerTime(serverTime),
        missing: result.missing,
      };
    }
    return {
      valid: false as const,
      reason: result.reason,
      serverTime: formatServerTime(serverTime),
    };
  }
  return {
    valid: true as const,
    session: toSessionView(result.session),
    secondsRemaining: result.secondsRemaining,
    idleSecondsRemaining: result.idleSecondsRemaining,
    absoluteSecondsRemaining: result.absoluteSecondsRemaining,
    warning: result.warning,
    serverTime: formatServerTime(serverTime),
  };
}

// Compiled once from the schemas that document the answer: validation is the route every request
// of a calling backend goes through, and a compiled serializer writes this shape in about half
// the time JSON.stringify takes. It also writes only the properties the schema names.
const serializeValid = fastJson(withPlainTimes(validAnswerSchema));
const serializeInvalid = fastJson(withPlainTimes(invalidAnswerSchema));

/**
 * The schema with its `date-time` strings marked `unsafe` for fast-json-stringify, which then
 * writes them between quotes without looking for characters to escape. Every time in an answer
 * comes from formatIsoTime (digits and `-:.TZ`, or toISOString's `+`), so there are none; the
 * check was a third of the serializer's work. The documented schema keeps `date-time`.
 */
function withPlainTimes<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(withPlainTimes) as T;
  if (typeof schema !== 'object' || schema === null) return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = withPlainTimes(value);
  if (copy.format === 'date-time') copy.format = 'unsafe';
  return copy as T;
}

/**
 * Serializes a {@link toValidationView} answer to JSON, with the serializer compiled from its
 * branch of the documented schema. Gives the same text as `JSON.stringify`.
 *
 * @example
 * ```ts
 * reply.serializer(serializeValidationView);
 * return toValidationView(result, now);
 * ```
 */
export function serializeValidationView(view: ReturnType<typeof toValidationView>): string {
  return view.valid ? serializeValid(view) : serializeInvalid(view);
}
