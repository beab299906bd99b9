import { invalidArgument } from '../core/errors.js';
import type { IssuedSession } from '../core/manager.js';
import { isWellFormedToken } from '../core/token.js';
import type {
  CarrierHeader,
  CarrierIssue,
  CarrierReadResult,
  CarrierRequest,
  SessionCarrier,
} from './carrier.js';

/**
 * Options for {@link createCookieCarrier}.
 *
 * @example
 * ```ts
 * const options: CookieCarrierOptions = {
 *   name: '__Host-app-session',
 *   trustedOrigins: ['https://admin.example.com'],
 * };
 * ```
 */
export interface CookieCarrierOptions {
  /**
   * The cookie's name; must start with `__Host-` (default `__Host-session`). The prefix makes
   * browsers refuse the cookie unless it is `Secure`, has `Path=/` and no `Domain`, so a sibling
   * subdomain cannot plant or overwrite it.
   */
  name?: string | undefined;
  /** `Lax` (default) or `Strict`. `None` is never allowed: it would send the cookie cross-site. */
  sameSite?: 'Lax' | 'Strict' | undefined;
  /**
   * Origins other than the request's own whose state-changing requests are accepted, as
   * `scheme://host[:port]`, for a front end served from another origin of the same site.
   */
  trustedOrigins?: readonly string[] | undefined;
  /**
   * What `Clear-Site-Data` asks the browser to forget when a session ends (logout) or a request
   * arrives with one that has expired or ended: default `["cookies", "cache"]`; `true` is the
   * default, `false` sends none. `"cookies"` drops every cookie of the site's registrable domain,
   * subdomains included: leave it out if other cookies there must survive a logout.
   */
  clearSiteData?: boolean | readonly ClearSiteDataType[] | undefined;
  /**
   * Give the cookie a `Max-Age` (default `false`). Without one it is a session cookie, gone when
   * the browser closes, as NIST SP 800-63B rev. 3 §7.1 asks of session secrets at AAL2 and above
   * ("SHALL NOT be persistent"): a persistent cookie there is a documented deviation. With one,
   * `Max-Age` is the absolute remainder plus five minutes, so that a request just after the
   * absolute expiry still carries the cookie and is told why it ended.
   */
  persistent?: boolean | undefined;
}

/**
 * The kinds of data `Clear-Site-Data` can clear (W3C Clear Site Data).
 *
 * @example
 * ```ts
 * const kinds: ClearSiteDataType[] = ['cookies', 'cache', 'storage'];
 * ```
 */
export type ClearSiteDataType = 'cookies' | 'cache' | 'storage' | 'executionContexts';

const CLEAR_SITE_DATA_TYPES: readonly ClearSiteDataType[] = [
  'cookies',
  'cache',
  'storage',
  'executionContexts',
];
const DEFAULT_CLEAR_SITE_DATA: readonly ClearSiteDataType[] = ['cookies', 'cache'];
// A persistent cookie outlives the session by this much, so the server sees it after the
// absolute expiry and can answer that the session reached its time limit.
const PERSISTENT_GRACE_SECONDS = 300;

/**
 * The cookie name used when none is given.
 *
 * @example
 * ```ts
 * createCookieCarrier({ name: DEFAULT_COOKIE_NAME }); // the same as createCookieCarrier()
 * ```
 */
export const DEFAULT_COOKIE_NAME = '__Host-session';

const COOKIE_NAME_SHAPE = /^__Host-[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A carrier that keeps the session token in a `__Host-` cookie: `Secure`, `HttpOnly`,
 * `SameSite=Lax`, `Path=/`, no `Domain`, and by default no `Max-Age`, so the browser forgets it
 * when it closes (the server enforces expiry itself and never relies on the cookie's). It also refuses
 * state-changing requests (anything but `GET`, `HEAD`, `OPTIONS`) from another site, by
 * `Sec-Fetch-Site` or, from older browsers, `Origin`: the cookie travels with every request, so
 * a cross-site form post would otherwise act as the user.
 *
 * Browsers accept `Secure` cookies over plain HTTP only from `localhost`; serve over HTTPS
 * everywhere else.
 *
 * Throws `INVALID_ARGUMENT` at once for a bad option.
 *
 * @example
 * ```ts
 * import { createCookieCarrier, createSessionMiddleware } from 'curfew/express';
 *
 * const carrier = createCookieCarrier({ name: '__Host-shop', sameSite: 'Strict' });
 * app.use(createSessionMiddleware({ sessions, carrier }));
 * ```
 */
export function createCookieCarrier(options: CookieCarrierOptions = {}): SessionCarrier {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'expected an object');
  }
  const name = options.name ?? DEFAULT_COOKIE_NAME;
  if (typeof name !== 'string' || !COOKIE_NAME_SHAPE.test(name)) {
    throw invalidArgument(
      'name',
      'expected a cookie name starting with __Host- followed by 1 to 64 token characters',
    );
  }
  const sameSite = options.sameSite ?? 'Lax';
  if (sameSite !== 'Lax' && sameSite !== 'Strict') {
    throw invalidArgument('sameSite', 'expected "Lax" or "Strict"');
  }
  const clearSiteData = checkClearSiteData(options.clearSiteData);
  const persistent = options.persistent ?? false;
  if (typeof persistent !== 'boolean')
    throw invalidArgument('persistent', 'expected true or false');
  const trusted = checkTrustedOrigins(options.trustedOrigins);
  const attributes = `Path=/; Secure; HttpOnly; SameSite=${sameSite}`;

  return {
    kind: 'cookie',
    checkRequest: (request) => checkSameOrigin(request, trusted),
    read: (request) => readCookie(request, name),
    issue: async (issued: IssuedSession, maxAgeSeconds: number): Promise<CarrierIssue> => {
      if (!persistent) {
        return { headers: [['Set-Cookie', `${name}=${issued.token}; ${attributes}`]], jwt: null };
      }
      const maxAge = Math.max(0, Math.ceil(maxAgeSeconds)) + PERSISTENT_GRACE_SECONDS;
      return {
        headers: [['Set-Cookie', `${name}=${issued.token}; Max-Age=${maxAge}; ${attributes}`]],
        jwt: null,
      };
    },
    clear: () => {
      const headers: CarrierHeader[] = [['Set-Cookie', `${name}=; Max-Age=0; ${attributes}`]];
      if (clearSiteData !== null) headers.push(['Clear-Site-Data', clearSiteData]);
      return headers;
    },
    // There is no registered scheme for cookie sessions; this follows the Cookie scheme of
    // draft-broyer-http-cookie-auth so a 401 still carries the challenge RFC 9110 requires.
    challenge: () => `Cookie cookie-name="${name}"`,
  };
}

/** The `Clear-Site-Data` value for the option, or `null` for none. */
function checkClearSiteData(value: unknown): string | null {
  if (value === undefined || value === true) return quoted(DEFAULT_CLEAR_SITE_DATA);
  if (value === false) return null;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    !value.every((kind) => CLEAR_SITE_DATA_TYPES.includes(kind as ClearSiteDataType))
  ) {
    throw invalidArgument(
      'clearSiteData',
      `expected true, false or a list of ${CLEAR_SITE_DATA_TYPES.map((kind) => `"${kind}"`).join(', ')}`,
    );
  }
  return quoted([...new Set(value as ClearSiteDataType[])]);
}

function quoted(kinds: readonly ClearSiteDataType[]): string {
  return kinds.map((kind) => `"${kind}"`).join(', ');
}

function readCookie(request: CarrierRequest, name: string): CarrierReadResult {
  const header = request.header('cookie');
  if (header === undefined) return { status: 'missing' };
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals === -1 || pair.slice(0, equals).trim() !== name) continue;
    let value = pair.slice(equals + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    // The first match wins: a __Host- cookie cannot be planted from another host, so a second
    // one could only come from this origin itself.
    return isWellFormedToken(value)
      ? { status: 'found', token: value }
      : { status: 'invalid', description: 'the session cookie is malformed' };
  }
  return { status: 'missing' };
}

/**
 * The same-origin rule of Go's `http.CrossOriginProtection` (Filippo Valsorda's algorithm):
 * trusted `Origin` first, then `Sec-Fetch-Site`, then `Origin` against `Host`. A request with
 * neither header comes from something that is not a browser (or one older than 2020) and so
 * cannot have been forged by another site.
 */
function checkSameOrigin(request: CarrierRequest, trusted: ReadonlySet<string>): string | null {
  if (SAFE_METHODS.has(request.method.toUpperCase())) return null;
  const origin = request.header('origin');
  if (origin !== undefined && trusted.has(origin)) return null;
  const site = request.header('sec-fetch-site');
  if (site !== undefined) {
    if (site === 'same-origin' || site === 'none') return null;
    return `a ${request.method} request with Sec-Fetch-Site: ${site.slice(0, 20)}`;
  }
  if (origin === undefined) return null;
  const host = request.header('host');
  if (host !== undefined && hostOf(origin) === host.toLowerCase()) return null;
  return `a ${request.method} request from another origin`;
}

function hostOf(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function checkTrustedOrigins(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set();
  if (!Array.isArray(value)) {
    throw invalidArgument('trustedOrigins', 'expected an array of origins');
  }
  const origins = new Set<string>();
  for (const entry of value) {
    let parsed: URL | null = null;
    try {
      parsed = typeof entry === 'string' ? new URL(entry) : null;
    } catch {
      parsed = null;
    }
    // Browsers send Origin exactly as scheme://host[:port]; anything else would never match.
    if (parsed === null || parsed.origin === 'null' || parsed.origin !== entry) {
      throw invalidArgument(
        'trustedOrigins',
        `expected origins such as "https://app.example.com", got ${JSON.stringify(String(entry)).slice(0, 80)}`,
      );
    }
    origins.add(parsed.origin);
  }
  return origins;
}
