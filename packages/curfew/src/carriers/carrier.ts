import type { IssuedSession } from '../core/manager.js';

/**
 * The parts of an HTTP request a carrier reads. Each integration adapts its framework's request
 * to this, so carriers stay framework-agnostic.
 *
 * @example
 * ```ts
 * const request: CarrierRequest = {
 *   method: 'POST',
 *   header: (name) => ({ cookie: '__Host-session=…' })[name],
 * };
 * ```
 */
export interface CarrierRequest {
  /** The HTTP method, upper case. */
  readonly method: string;
  /** A request header by lower-case name; the first value when the header is repeated. */
  header(name: string): string | undefined;
}

/**
 * What a carrier found on a request: nothing, something it refuses, or a session token to
 * validate. A JWT carrier also gives the `sub` claim, which must then match the session's user.
 *
 * @example
 * ```ts
 * const read: CarrierReadResult = { status: 'found', token: 'Xq3v…' };
 * ```
 */
export type CarrierReadResult =
  | { readonly status: 'missing' }
  | {
      readonly status: 'invalid';
      /** Why, for the `WWW-Authenticate` challenge; never contains the credential. */
      readonly description: string;
    }
  | { readonly status: 'found'; readonly token: string; readonly subject?: string | undefined };

/**
 * A response header a carrier wants sent. `Set-Cookie` headers are appended; any other replaces
 * a header of the same name.
 *
 * @example
 * ```ts
 * const header: CarrierHeader = ['Set-Cookie', '__Host-session=…; Max-Age=43200; …'];
 * ```
 */
export type CarrierHeader = readonly [name: string, value: string];

/**
 * What a carrier produced for a newly issued token: headers to send, and for a bearer carrier
 * the credential the client must present (it cannot be set by a header, so the app returns it).
 *
 * @example
 * ```ts
 * const issued: CarrierIssue = { headers: [], jwt: 'eyJhbGciOi…' };
 * ```
 */
export interface CarrierIssue {
  readonly headers: readonly CarrierHeader[];
  /** The signed JWT to hand to the client, or `null` when the carrier sets a cookie. */
  readonly jwt: string | null;
}

/**
 * How a session token travels with a request: in a cookie ({@link createCookieCarrier} in each
 * integration's subpath) or inside a JWT (`createJwtCarrier` from `curfew/jwt`). The
 * integrations call these methods; an application rarely does.
 *
 * @example
 * ```ts
 * import { createSessionMiddleware, createCookieCarrier } from 'curfew/express';
 *
 * const carrier: SessionCarrier = createCookieCarrier({ name: '__Host-app' });
 * app.use(createSessionMiddleware({ sessions, carrier }));
 * ```
 */
export interface SessionCarrier {
  /** `cookie` travels by itself with every browser request; `bearer` is sent by client code. */
  readonly kind: 'cookie' | 'bearer';
  /**
   * Refuses a request the carrier cannot safely accept before any token is read: for cookies,
   * a state-changing request from another site. Returns why, or `null` to go on.
   */
  checkRequest(request: CarrierRequest): string | null;
  /** Reads the token from a request. */
  read(request: CarrierRequest): CarrierReadResult | Promise<CarrierReadResult>;
  /** Makes what the client needs to present a new token for `maxAgeSeconds` at most. */
  issue(issued: IssuedSession, maxAgeSeconds: number): Promise<CarrierIssue>;
  /** Headers that make the client forget the token, after logout. */
  clear(): readonly CarrierHeader[];
  /** The `WWW-Authenticate` value of a 401; `description` is given when a credential was refused. */
  challenge(description?: string): string;
}
