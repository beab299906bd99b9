/**
 * The JSON Schemas shared by the routes. The same objects validate requests (through Fastify's
 * Ajv) and become the OpenAPI document, so the two cannot drift apart. Every object schema is
 * closed (`additionalProperties: false`): a misspelt field such as `tenantID` would otherwise be
 * dropped silently and create a session outside its tenant.
 */
import { PROBLEM_CODES } from './problems.js';

export type JsonSchema = Record<string, unknown>;

const dateTime = { type: 'string', format: 'date-time' } as const;
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const;

/** A session as the API shows it: never its token or token hash. */
export const sessionSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'id',
    'userId',
    'tenantId',
    'appType',
    'ipAddress',
    'userAgent',
    'createdAt',
    'lastActivityAt',
    'absoluteExpiresAt',
    'idleTimeoutSeconds',
    'aal',
    'methods',
    'authenticatedAt',
    'active',
    'endedAt',
    'endReason',
  ],
  properties: {
    id: { type: 'string', description: 'Public session id (a UUID); never a credential.' },
    userId: { type: 'string' },
    tenantId: { type: ['string', 'null'] },
    appType: { type: 'string' },
    ipAddress: { type: ['string', 'null'] },
    userAgent: { type: ['string', 'null'] },
    createdAt: dateTime,
    lastActivityAt: dateTime,
    absoluteExpiresAt: dateTime,
    idleTimeoutSeconds: {
      type: ['integer', 'null'],
      description:
        'This session’s idle limit (from the policy for its level, tenant and app type); null for none.',
    },
    aal: {
      type: 'integer',
      enum: [1, 2, 3],
      description: 'The assurance level of its last authentication.',
    },
    methods: {
      type: 'array',
      items: { type: 'string' },
      description: 'How the user last authenticated (RFC 8176 amr values).',
    },
    authenticatedAt: { ...dateTime, description: 'Sign-in, or the latest reauthentication.' },
    active: { type: 'boolean', description: 'false once ended by logout, revocation or a timeout' },
    endedAt: nullableDateTime,
    endReason: { type: ['string', 'null'] },
  },
};

/** An RFC 9457 problem document. */
export const problemSchema: JsonSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: [...PROBLEM_CODES] },
    field: { type: 'string', description: 'For INVALID_ARGUMENT: the field at fault.' },
  },
};

/**
 * A session token in a body. Any string is accepted: one that is not a well-formed token is
 * answered exactly as an unknown one (an answer, not an error), as the library does.
 */
export const tokenSchema: JsonSchema = {
  type: 'string',
  maxLength: 1024,
  description: 'The session token (43 base64url characters when issued by curfew).',
};

/** A caller-chosen end reason, as the library accepts them. */
export const reasonSchema: JsonSchema = {
  type: 'string',
  pattern: '^[a-z0-9_]{1,64}$',
  description:
    'logout, password_change, admin_revoke, user_revoke, account_disabled, or your own [a-z0-9_]{1,64}',
};

/** An assurance level in a body. */
export const aalSchema: JsonSchema = {
  type: 'integer',
  enum: [1, 2, 3],
  description: 'NIST SP 800-63B authenticator assurance level: 1, 2 or 3.',
};

/** Authentication methods in a body. */
export const methodsSchema: JsonSchema = {
  type: 'array',
  maxItems: 8,
  items: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,32}$' },
  description: 'How the user authenticated: RFC 8176 amr values such as pwd, otp, hwk.',
};

/** A tenant id: 1 to 255 characters. */
export const tenantIdSchema: JsonSchema = { type: 'string', minLength: 1, maxLength: 255 };

/** A session id in a path or body. */
export const sessionIdSchema: JsonSchema = { type: 'string', minLength: 1, maxLength: 64 };

/** A page cursor, as `nextCursor` gave it: opaque base64url. */
export const cursorSchema: JsonSchema = {
  type: 'string',
  minLength: 1,
  maxLength: 400,
  pattern: '^[A-Za-z0-9_-]+$',
  description: 'The nextCursor of the previous page.',
};

/** A user id in a path. */
export const userIdSchema: JsonSchema = { type: 'string', minLength: 1, maxLength: 255 };

/** The time on the server when it answered, so clients can correct for their own clock. */
export const serverTimeSchema: JsonSchema = {
  ...dateTime,
  description: 'The server clock when it answered.',
};

/** A JSON object with the given properties and no others. */
export function objectSchema(
  properties: Record<string, JsonSchema>,
  required: readonly string[] = [],
): JsonSchema {
  return { type: 'object', additionalProperties: false, required: [...required], properties };
}

/** The answer to a valid token: the session, its remaining times and any warning. */
export const validAnswerSchema: JsonSchema = objectSchema(
  {
    valid: { type: 'boolean', const: true },
    session: sessionSchema,
    secondsRemaining: { type: 'integer', description: 'the smaller of the two remainders' },
    idleSecondsRemaining: {
      type: ['integer', 'null'],
      description: 'null when the policy has no idle timeout',
    },
    absoluteSecondsRemaining: { type: 'integer' },
    warning: {
      type: ['string', 'null'],
      enum: ['absolute', 'idle', null],
      description: 'which expiry is within its warning threshold, absolute first',
    },
    serverTime: serverTimeSchema,
  },
  [
    'valid',
    'session',
    'secondsRemaining',
    'idleSecondsRemaining',
    'absoluteSecondsRemaining',
    'warning',
    'serverTime',
  ],
);

/** The answer to a token that is not valid: only why, never whose session it was. */
export const invalidAnswerSchema: JsonSchema = objectSchema(
  {
    valid: { type: 'boolean', const: false },
    reason: {
      type: 'string',
      enum: ['not_found', 'idle', 'absolute', 'insufficient_authentication'],
      description:
        'insufficient_authentication: the session is valid but its authentication is older than maxAge or below minAal; reauthenticate, then retry.',
    },
    missing: {
      type: 'array',
      items: { type: 'string', enum: ['max_age', 'aal'] },
      description: 'For insufficient_authentication: which requirement is not met.',
    },
    serverTime: serverTimeSchema,
  },
  ['valid', 'reason', 'serverTime'],
);

/** The answer of `POST /v1/sessions/validate`: an invalid token is an answer, not an error. */
export const validationSchema: JsonSchema = { oneOf: [validAnswerSchema, invalidAnswerSchema] };
