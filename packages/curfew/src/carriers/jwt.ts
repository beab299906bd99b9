/**
 * The JWT carrier: the session token travels as the `sid` claim of a signed JWT in
 * `Authorization: Bearer <jwt>`. Needs `jose` (v6), an optional peer dependency of curfew.
 *
 * A good signature never lets a request in by itself: every request's session is validated on
 * the server too, so a revoked or timed-out session is refused on its very next request.
 *
 * @example
 * ```ts
 * import { createJwtCarrier } from 'curfew/jwt';
 * import { createSessionMiddleware } from 'curfew/express';
 *
 * const carrier = createJwtCarrier({
 *   issuer: 'https://auth.example.com',
 *   audience: 'https://api.example.com',
 *   algorithms: ['ES256'],
 *   signKey: privateKey,
 *   verifyKey: publicKey,
 * });
 * app.use(createSessionMiddleware({ sessions, carrier }));
 * ```
 * @packageDocumentation
 */
import { KeyObject } from 'node:crypto';
import { type CryptoKey, errors, type JWK, type JWTVerifyGetKey, jwtVerify, SignJWT } from 'jose';
import { invalidArgument } from '../core/errors.js';
import type { Clock } from '../core/manager.js';
import type { Session } from '../core/session.js';
import { isWellFormedToken } from '../core/token.js';
import type { CarrierReadResult, CarrierRequest, SessionCarrier } from './carrier.js';

export type {
  CarrierHeader,
  CarrierIssue,
  CarrierReadResult,
  CarrierRequest,
  SessionCarrier,
} from './carrier.js';

/**
 * The signature algorithms the JWT carrier accepts. `none` is not one of them, ever.
 *
 * @example
 * ```ts
 * const algorithms: JwtAlgorithm[] = ['EdDSA'];
 * ```
 */
export type JwtAlgorithm =
  | 'HS256'
  | 'HS384'
  | 'HS512'
  | 'RS256'
  | 'RS384'
  | 'RS512'
  | 'PS256'
  | 'PS384'
  | 'PS512'
  | 'ES256'
  | 'ES384'
  | 'ES512'
  | 'EdDSA'
  | 'Ed25519';

/**
 * A key: a Web Crypto `CryptoKey`, a Node `KeyObject`, a JWK, or for `HS*` the secret's bytes.
 *
 * @example
 * ```ts
 * const key: JwtKey = new TextEncoder().encode(process.env.JWT_SECRET); // 32 bytes or more
 * ```
 */
export type JwtKey = CryptoKey | KeyObject | JWK | Uint8Array;

/**
 * Options for {@link createJwtCarrier}.
 *
 * @example
 * ```ts
 * const options: JwtCarrierOptions = {
 *   issuer: 'https://auth.example.com',
 *   audience: 'https://api.example.com',
 *   algorithms: ['HS256'],
 *   verifyKey: secret, // signs too, being symmetric
 * };
 * ```
 */
export interface JwtCarrierOptions {
  /** The `iss` claim to set and to require. */
  issuer: string;
  /** The `aud` claim to set; verification requires one of these. */
  audience: string | readonly string[];
  /**
   * The algorithms a JWT may be signed with; anything else is refused, whatever the key. The
   * first signs. All must belong to the key's kind: `HS*` with a secret, the others with a
   * public/private key pair, so an `HS256` token can never be checked against a public key.
   */
  algorithms: readonly JwtAlgorithm[];
  /** The key (or a `createRemoteJWKSet` resolver) that verifies signatures. */
  verifyKey: JwtKey | JWTVerifyGetKey;
  /** The key that signs; default `verifyKey` when that is a secret. Needed only to sign. */
  signKey?: JwtKey | undefined;
  /** Seconds of leeway on `exp` and `nbf` for clocks that disagree; default 5, at most 60. */
  clockTolerance?: number | undefined;
  /** Default `Date.now`; give it the manager's clock so both agree on the time. */
  clock?: Clock | undefined;
}

/**
 * The answer of {@link JwtCarrier.verify}: the session token, or why the JWT was refused.
 *
 * @example
 * ```ts
 * const result: JwtVerification = await carrier.verify(jwt);
 * if (!result.valid) console.log(result.code); // e.g. 'ERR_JWT_EXPIRED'
 * ```
 */
export type JwtVerification =
  | { valid: true; token: string; subject: string | undefined }
  | {
      valid: false;
      /** jose's error code, e.g. `ERR_JWT_EXPIRED`, `ERR_JOSE_ALG_NOT_ALLOWED`, `ERR_JWT_CLAIM_VALIDATION_FAILED`. */
      code: string;
    };

/**
 * A {@link SessionCarrier} for JWTs, with the signing and checking helpers it uses.
 *
 * @example
 * ```ts
 * const { token, session } = await sessions.create({ userId: '42' });
 * const jwt = await carrier.sign({ token, session });
 * ```
 */
export interface JwtCarrier extends SessionCarrier {
  readonly kind: 'bearer';
  /**
   * Signs a JWT for a new token: `sid` the token, `sub` the user, `iss`, `aud`, `iat`, and `exp`
   * the session's absolute expiry. Throws `INVALID_ARGUMENT` when no signing key was given.
   */
  sign(issued: {
    token: string;
    session: Pick<Session, 'userId' | 'absoluteExpiresAt'>;
  }): Promise<string>;
  /** Checks signature, algorithm, `iss`, `aud`, `exp` and `nbf` (not the session itself). */
  verify(jwt: string): Promise<JwtVerification>;
}

const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };
const ALGORITHMS = new Set<string>([
  ...Object.keys(HMAC_MIN_BYTES),
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
const MAX_JWT_LENGTH = 8192;
const BEARER = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

/**
 * Makes a JWT carrier. Verification pins the algorithm allow-list, issuer and audience, checks
 * `exp`/`nbf` with a small clock tolerance and requires a well-formed `sid`; the integration
 * then validates that session on the server, and refuses it if `sub` names another user.
 *
 * Throws `INVALID_ARGUMENT` at once for a bad option: no algorithms, `none`, an algorithm that
 * does not fit the key's kind, a secret shorter than its hash, a tolerance over 60 seconds.
 *
 * @example
 * ```ts
 * import { createJwtCarrier } from 'curfew/jwt';
 * import { createSessionMiddleware, startSession } from 'curfew/hono';
 *
 * const carrier = createJwtCarrier({
 *   issuer: 'https://auth.example.com',
 *   audience: 'api',
 *   algorithms: ['HS256'],
 *   verifyKey: new TextEncoder().encode(process.env.JWT_SECRET),
 * });
 * const session = createSessionMiddleware({ sessions, carrier });
 * app.post('/login', session.with({ optional: true }), async (c) => {
 *   const { jwt } = await startSession(c, { userId: '42' });
 *   return c.json({ accessToken: jwt });
 * });
 * ```
 */
export function createJwtCarrier(options: JwtCarrierOptions): JwtCarrier {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument(
      'options',
      'expected an object with issuer, audience, algorithms and verifyKey',
    );
  }
  const issuer = checkString(options.issuer, 'issuer');
  const audience = checkAudience(options.audience);
  const algorithms = checkAlgorithms(options.algorithms);
  const symmetric = algorithms[0]!.startsWith('HS');
  const verifyKey = checkKey(options.verifyKey, 'verifyKey', algorithms, symmetric, true);
  const signKey =
    options.signKey === undefined
      ? symmetric
        ? (verifyKey as JwtKey)
        : undefined
      : (checkKey(options.signKey, 'signKey', algorithms, symmetric, false) as JwtKey);
  const clockTolerance = options.clockTolerance ?? 5;
  if (
    typeof clockTolerance !== 'number' ||
    !Number.isInteger(clockTolerance) ||
    clockTolerance < 0 ||
    clockTolerance > 60
  ) {
    throw invalidArgument('clockTolerance', 'expected whole seconds from 0 to 60');
  }
  const clock = options.clock ?? Date.now;
  if (typeof clock !== 'function') {
    throw invalidArgument('clock', 'expected a function returning epoch milliseconds');
  }

  const verify = async (jwt: string): Promise<JwtVerification> => {
    if (typeof jwt !== 'string' || jwt.length > MAX_JWT_LENGTH) {
      return { valid: false, code: 'ERR_JWS_INVALID' };
    }
    try {
      const { payload } = await jwtVerify(jwt, verifyKey as JwtKey, {
        algorithms: [...algorithms],
        issuer,
        audience: [...audience],
        clockTolerance,
        currentDate: new Date(clock()),
        requiredClaims: ['exp', 'sid'],
      });
      const { sid, sub } = payload;
      if (!isWellFormedToken(sid)) return { valid: false, code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' };
      if (sub !== undefined && typeof sub !== 'string') {
        return { valid: false, code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' };
      }
      return { valid: true, token: sid, subject: sub };
    } catch (error) {
      // jose throws JOSEError subclasses for every refusal, and TypeError when a token's header
      // asks for a key of another kind: both mean "not this JWT", never a server fault.
      if (error instanceof errors.JOSEError) return { valid: false, code: error.code };
      if (error instanceof TypeError) return { valid: false, code: 'ERR_JOSE_KEY_MISMATCH' };
      throw error;
    }
  };

  return {
    kind: 'bearer',
    checkRequest: () => null,
    read: async (request: CarrierRequest): Promise<CarrierReadResult> => {
      const header = request.header('authorization');
      // Another scheme (Basic, a signature) is some other mechanism's business, not a bad JWT.
      if (header === undefined || !/^bearer(?: |$)/i.test(header)) return { status: 'missing' };
      const jwt = BEARER.exec(header)?.[1];
      if (jwt === undefined) {
        return { status: 'invalid', description: 'the Authorization header is malformed' };
      }
      const result = await verify(jwt);
      if (!result.valid) {
        return {
          status: 'invalid',
          description:
            result.code === 'ERR_JWT_EXPIRED' ? 'the token has expired' : 'the token is invalid',
        };
      }
      return { status: 'found', token: result.token, subject: result.subject };
    },
    issue: async (issued) => ({ headers: [], jwt: await sign(issued) }),
    // A bearer token lives in the client's code; nothing the server sends can make it forget.
    clear: () => [],
    challenge: (description) =>
      description === undefined
        ? 'Bearer'
        : `Bearer error="invalid_token", error_description="${description.replaceAll('"', "'")}"`,
    sign,
    verify,
  };

  async function sign(issued: {
    token: string;
    session: Pick<Session, 'userId' | 'absoluteExpiresAt'>;
  }): Promise<string> {
    if (signKey === undefined) {
      throw invalidArgument('signKey', 'this carrier was made without a signing key');
    }
    if (!isWellFormedToken(issued?.token)) {
      throw invalidArgument('token', 'expected a session token from SessionManager.create');
    }
    return (
      new SignJWT({ sid: issued.token })
        .setProtectedHeader({ alg: algorithms[0]!, typ: 'JWT' })
        .setSubject(issued.session.userId)
        .setIssuer(issuer)
        .setAudience(audience.length === 1 ? audience[0]! : [...audience])
        .setIssuedAt(Math.floor(clock() / 1000))
        // The JWT lives exactly as long as the session may; the server still checks the session.
        .setExpirationTime(Math.floor(issued.session.absoluteExpiresAt.getTime() / 1000))
        .sign(signKey)
    );
  }
}

function checkString(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 1024) {
    throw invalidArgument(field, 'expected a non-empty string');
  }
  return value;
}

function checkAudience(value: unknown): readonly string[] {
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidArgument('audience', 'expected a string or a non-empty array of strings');
  }
  return list.map((entry) => checkString(entry, 'audience'));
}

function checkAlgorithms(value: unknown): readonly JwtAlgorithm[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalidArgument('algorithms', 'expected a non-empty list such as ["ES256"]');
  }
  for (const algorithm of value) {
    if (typeof algorithm !== 'string' || !ALGORITHMS.has(algorithm)) {
      throw invalidArgument(
        'algorithms',
        `${JSON.stringify(String(algorithm)).slice(0, 40)} is not allowed; expected some of ${[...ALGORITHMS].join(', ')}`,
      );
    }
  }
  const hmac = value.filter((algorithm: string) => algorithm.startsWith('HS'));
  if (hmac.length !== 0 && hmac.length !== value.length) {
    // Mixing is how algorithm confusion starts: a public key read as an HMAC secret.
    throw invalidArgument('algorithms', 'expected only HS* algorithms or none of them');
  }
  return Object.freeze([...value]) as readonly JwtAlgorithm[];
}

function checkKey(
  value: unknown,
  field: string,
  algorithms: readonly JwtAlgorithm[],
  symmetric: boolean,
  verifying: boolean,
): JwtKey | JWTVerifyGetKey {
  if (typeof value === 'function') {
    if (!verifying || symmetric) {
      throw invalidArgument(field, 'a key set resolver verifies only asymmetric algorithms');
    }
    return value as JWTVerifyGetKey;
  }
  const kind = keyKind(value);
  if (kind === null) {
    throw invalidArgument(field, 'expected a CryptoKey, KeyObject, JWK or Uint8Array');
  }
  if (symmetric !== (kind === 'secret')) {
    throw invalidArgument(
      field,
      symmetric
        ? `${algorithms.join(', ')} need a secret, not a ${kind} key`
        : `${algorithms.join(', ')} need a public or private key, not a secret`,
    );
  }
  if (!verifying && kind === 'public') {
    throw invalidArgument(field, 'expected a private key: a public key cannot sign');
  }
  if (symmetric) {
    const bytes = secretLength(value);
    const needed = Math.max(...algorithms.map((algorithm) => HMAC_MIN_BYTES[algorithm] ?? 0));
    if (bytes !== null && bytes < needed) {
      throw invalidArgument(
        field,
        `expected a secret of at least ${needed} bytes for ${algorithms.join(', ')}`,
      );
    }
  }
  return value as JwtKey;
}

function keyKind(value: unknown): 'secret' | 'public' | 'private' | null {
  if (value instanceof Uint8Array) return 'secret';
  if (value instanceof KeyObject) return value.type;
  if (typeof value !== 'object' || value === null) return null;
  const key = value as { type?: unknown; kty?: unknown; d?: unknown; algorithm?: unknown };
  if (typeof key.kty === 'string') {
    if (key.kty === 'oct') return 'secret';
    return key.d === undefined ? 'public' : 'private';
  }
  if (key.type === 'secret' || key.type === 'public' || key.type === 'private') {
    if (typeof key.algorithm === 'object') return key.type;
  }
  return null;
}

function secretLength(value: unknown): number | null {
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof KeyObject) return value.symmetricKeySize ?? null;
  const jwk = value as { k?: unknown };
  if (typeof jwk.k === 'string') return Buffer.from(jwk.k, 'base64url').byteLength;
  return null;
}
