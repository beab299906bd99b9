import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What a key may do, from least to most:
 * - `validate`: validate sessions (`POST /v1/sessions/validate`), nothing else;
 * - `sessions`: everything about sessions within its tenant (or every tenant, for `*`);
 * - `metrics`: read `/metrics`, nothing else;
 * - `admin`: everything, including sweeps, revoking every session and `/metrics`.
 *
 * `admin` and `metrics` keys are for every tenant: what they see or do is not one tenant's.
 *
 * @example
 * ```ts
 * const scope: ApiKeyScope = 'validate'; // for a backend that only checks sessions
 * ```
 */
export type ApiKeyScope = 'validate' | 'sessions' | 'metrics' | 'admin';

/** Every scope, in the order help texts list them. */
export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['validate', 'sessions', 'metrics', 'admin'];

/**
 * A configured API key, as the service keeps it: a name for logs, the tenant it is bound to
 * (`null`: every tenant, written `*`), what it may do, and the SHA-256 of the key. The key
 * itself is never kept.
 *
 * @example
 * ```ts
 * const billing: ApiKey = {
 *   name: 'billing', tenantId: 'acme', scope: 'sessions', sha256: hashApiKey(key),
 * };
 * ```
 */
export interface ApiKey {
  readonly name: string;
  /** `null`: every tenant (`*`). */
  readonly tenantId: string | null;
  readonly scope: ApiKeyScope;
  /** Lowercase hex SHA-256 of the key's UTF-8 bytes. */
  readonly sha256: string;
  /** When it was made (epoch ms); `null` or absent when unknown (keys from the environment). */
  readonly createdAt?: number | null | undefined;
  /** After this (epoch ms) the key is refused; `null` or absent: never. */
  readonly expiresAt?: number | null | undefined;
  /** When it was revoked (epoch ms): a revoked key is kept in the file, and refused. */
  readonly revokedAt?: number | null | undefined;
  /** The key it replaced in a rotation, accepted too until `until` (epoch ms). */
  readonly previous?: { readonly sha256: string; readonly until: number } | null | undefined;
}

/**
 * Who a request is, once its key matched: what the routes decide on.
 *
 * @example
 * ```ts
 * if (caller.tenantId !== null && caller.tenantId !== session.tenantId) throw notFound();
 * ```
 */
export interface ApiCaller {
  readonly name: string;
  /** `null`: a key for every tenant. */
  readonly tenantId: string | null;
  readonly scope: ApiKeyScope;
}

/**
 * Whether a key of `scope` may call a route that needs `needed`: `admin` may call anything,
 * `sessions` also validates, and every other scope only its own routes.
 *
 * @example
 * ```ts
 * scopeAllows('sessions', 'validate'); // true
 * scopeAllows('validate', 'sessions'); // false
 * ```
 */
export function scopeAllows(scope: ApiKeyScope, needed: ApiKeyScope): boolean {
  return scope === 'admin' || scope === needed || (scope === 'sessions' && needed === 'validate');
}

/** Fewest bits of entropy a key given by an operator must carry; generated keys carry 256. */
export const MIN_KEY_BITS = 128;
const MAX_KEY_LENGTH = 512;
const NAME_SHAPE = /^[A-Za-z0-9_.-]{1,64}$/;
const HASH_SHAPE = /^[0-9a-f]{64}$/;

/**
 * Why a key list could not be read; `message` is one line and never contains a key.
 *
 * @example
 * ```ts
 * try {
 *   parseApiKeyList('ops:short');
 * } catch (error) {
 *   if (error instanceof ApiKeyError) console.error(error.message); // "entry 1 (ops): the key must be…"
 * }
 * ```
 */
export class ApiKeyError extends Error {
  /** Where the fault is: a CLI flag (`--tenant`), an entry (`entry 2 (ops)`) or a file line. */
  readonly where: string | undefined;

  constructor(message: string, options: { where?: string } = {}) {
    super(message);
    this.name = new.target.name;
    this.where = options.where;
  }
}

/**
 * The set of keys the service accepts, compared without timing leaks: the presented key is hashed
 * first, then compared against every configured hash with `crypto.timingSafeEqual`, with no early
 * exit, so the time taken depends on neither the key nor which entry matched.
 *
 * @example
 * ```ts
 * const keys = new ApiKeyring([{ name: 'billing', tenantId: 'acme', sha256: hashApiKey(key) }]);
 * keys.authenticate(key); // { name: 'billing', tenantId: 'acme' }
 * keys.authenticate('wrong'); // null
 * ```
 */
export class ApiKeyring {
  #entries: KeyringEntry[] = [];
  // The presented key's digest is decoded into this on every call: crypto.hash returning a
  // Buffer costs three times as much as returning hex, the allocation dominating the check.
  readonly #presented = Buffer.alloc(32);
  // Key name to when it was last accepted, since the last takeUsage(): one Map.set a request,
  // written to the key store once a minute rather than once a request.
  #used = new Map<string, number>();

  constructor(keys: readonly ApiKey[]) {
    this.replace(keys);
  }

  /**
   * Swaps in a new set of keys, checked as the constructor checks them; on an error the keys in
   * use stay. The service calls this when the key store changes, so that a key created, revoked
   * or rotated there takes effect without a restart.
   */
  replace(keys: readonly ApiKey[]): void {
    const names = new Set<string>();
    const hashes = new Set<string>();
    const entries: KeyringEntry[] = [];
    for (const key of keys) {
      if (names.has(key.name)) throw new ApiKeyError(`API key name "${key.name}" is used twice`);
      // The same key bound to two tenants would make the caller's tenant ambiguous.
      const digests = [key.sha256, ...(key.previous ? [key.previous.sha256] : [])];
      for (const sha256 of digests) {
        if (hashes.has(sha256)) {
          throw new ApiKeyError(`API key "${key.name}" is the same key as another entry`);
        }
        hashes.add(sha256);
      }
      names.add(key.name);
      if ((key.scope === 'admin' || key.scope === 'metrics') && key.tenantId !== null) {
        throw new ApiKeyError(
          `API key "${key.name}": ${key.scope === 'admin' ? 'an admin' : 'a metrics'} key is for every tenant; give it the tenant *`,
        );
      }
      // A revoked key is never compared with: it cannot match.
      if (key.revokedAt != null) continue;
      const caller = Object.freeze({ name: key.name, tenantId: key.tenantId, scope: key.scope });
      const expiresAt = key.expiresAt ?? Number.POSITIVE_INFINITY;
      entries.push({ caller, digest: Buffer.from(key.sha256, 'hex'), until: expiresAt });
      if (key.previous) {
        entries.push({
          caller,
          digest: Buffer.from(key.previous.sha256, 'hex'),
          until: Math.min(key.previous.until, expiresAt),
        });
      }
    }
    this.#entries = entries;
  }

  /** How many keys are in use (not revoked; a key in rotation counts once per hash). */
  get size(): number {
    return this.#entries.length;
  }

  /** How many admin keys are in use. */
  get adminCount(): number {
    return this.#entries.filter((entry) => entry.caller.scope === 'admin').length;
  }

  /**
   * The caller a presented key belongs to, or `null`: no such key, or one past its expiry (or a
   * rotated-out key past its grace) at `now`, epoch milliseconds.
   */
  authenticate(presented: string, now: number = Date.now()): ApiCaller | null {
    if (presented.length === 0 || presented.length > MAX_KEY_LENGTH) return null;
    // Every request pays for this: one-shot crypto.hash (half of createHash's cost), hex out,
    // decoded into the buffer kept for it. Nothing is cached between calls.
    const digest = this.#presented;
    digest.write(hash('sha256', presented, 'hex'), 'hex');
    let match: KeyringEntry | null = null;
    for (const entry of this.#entries) {
      if (timingSafeEqual(digest, entry.digest)) match = entry;
    }
    if (match === null || now >= match.until) return null;
    this.#used.set(match.caller.name, now);
    return match.caller;
  }

  /**
   * When each key was last accepted since the previous call (name to epoch ms), and starts
   * counting afresh: what the service writes to the key store as last-used times.
   */
  takeUsage(): Map<string, number> {
    const used = this.#used;
    this.#used = new Map();
    return used;
  }
}

interface KeyringEntry {
  caller: ApiCaller;
  digest: Buffer;
  /** Accepted while the time is before this. */
  until: number;
}

/**
 * The lowercase hex SHA-256 of a key: the only form in which a key store holds it.
 *
 * @example
 * ```ts
 * hashApiKey('cfk_…'); // "3a7bd3…" (64 hex characters)
 * ```
 */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/**
 * A new API key: `cfk_` and 32 random bytes in base64url (47 characters).
 *
 * @example
 * ```ts
 * const key = generateApiKey(); // "cfk_Xq3v…"
 * ```
 */
export function generateApiKey(): string {
  return `cfk_${randomBytes(32).toString('base64url')}`;
}

/**
 * Reads `CURFEW_API_KEYS`: comma-separated `NAME:KEY:TENANT[:SCOPE]` entries, where TENANT is a
 * tenant id or `*` for every tenant, and SCOPE one of {@link API_KEY_SCOPES} (default: `admin`
 * for `*`, `sessions` for a tenant). A tenant may hold `:` only when a scope follows it. Every
 * KEY must pass {@link checkKeyStrength}. Errors name the entry by position and name, never by
 * key.
 *
 * An entry without a tenant (`NAME:KEY`) used to be an admin key; it is refused with a message
 * saying to write `NAME:KEY:*`, so that no key becomes an admin key by accident.
 *
 * @example
 * ```ts
 * parseApiKeyList(`ops:${generateApiKey()}:*,billing:${generateApiKey()}:acme:validate`);
 * ```
 */
export function parseApiKeyList(text: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const entries = text.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    if (entry === '') return;
    const where = `entry ${index + 1}`;
    const fields = entry.split(':');
    if (fields.length < 2) {
      throw new ApiKeyError(`${where}: expected NAME:KEY:TENANT or NAME:KEY:*[:SCOPE]`);
    }
    const [name = '', key = '', ...rest] = fields;
    checkName(name, where);
    const named = `${where} (${name})`;
    if (rest.length === 0) {
      throw new ApiKeyError(
        `${named}: say which tenant the key is for: write ${name}:<key>:* for every tenant (what NAME:KEY used to mean: an admin key) or ${name}:<key>:TENANT for one`,
      );
    }
    const weakness = checkKeyStrength(key);
    if (weakness !== null) throw new ApiKeyError(`${named}: ${weakness}`);
    const { tenant, scope } = splitTenantScope(rest);
    if (rest.length >= 2 && scope === undefined) {
      throw new ApiKeyError(
        `${named}: the last field must be a scope (${API_KEY_SCOPES.join(', ')}); a tenant holding ":" needs one after it, as in ${name}:<key>:${rest.join(':')}:sessions`,
      );
    }
    const tenantId = tenant === '*' ? null : checkTenant(tenant, named);
    keys.push({
      name,
      sha256: hashApiKey(key),
      tenantId,
      scope: readScope(scope, tenantId, named),
    });
  });
  return keys;
}

/**
 * Why a key an operator chose is too weak to accept, or `null` when it is strong enough. A key
 * must carry at least {@link MIN_KEY_BITS} bits of entropy in a format whose alphabet tells how
 * much each character carries: curfew's own `cfk_` keys, hexadecimal (4 bits a character, so
 * 32 or more) or base64/base64url (6 bits, so 22 or more, padding aside). Within that, a key
 * that repeats a shorter string, or uses too few distinct characters for its length to be
 * random, is refused: `aaaa…` is hex, but carries nothing.
 *
 * @example
 * ```ts
 * checkKeyStrength(generateApiKey()); // null
 * checkKeyStrength('password-password-password-pass'); // "the key must be …"
 * ```
 */
export function checkKeyStrength(key: string): string | null {
  const advice = `the key must be random: at least ${MIN_KEY_BITS} bits as 32+ hex or 22+ base64url characters (curfew keys create makes one)`;
  if (key.length > MAX_KEY_LENGTH) return `the key must be at most ${MAX_KEY_LENGTH} characters`;
  const body = key.startsWith('cfk_') ? key.slice(4) : key.replace(/={0,2}$/, '');
  let bitsPerCharacter: number;
  let alphabet: number;
  if (/^[0-9a-fA-F]+$/.test(body)) {
    bitsPerCharacter = 4;
    alphabet = 16;
  } else if (/^[A-Za-z0-9+/_-]+$/.test(body)) {
    bitsPerCharacter = 6;
    alphabet = 64;
  } else {
    return advice;
  }
  if (body.length * bitsPerCharacter < MIN_KEY_BITS) return advice;
  if (repeatsShorter(body)) return advice;
  // Random strings of this length use, on average, alphabet × (1 − (1 − 1/alphabet)^length)
  // distinct characters; fewer than half of that is not chance.
  const expected = alphabet * (1 - (1 - 1 / alphabet) ** body.length);
  if (new Set(body.toLowerCase()).size < expected / 2) return advice;
  return null;
}

/**
 * The fields after NAME:KEY (or NAME:SHA256): the tenant, which may itself hold `:`, then the
 * scope when the last field names one.
 */
function splitTenantScope(fields: string[]): { tenant: string; scope: string | undefined } {
  const last = fields[fields.length - 1]!;
  if (fields.length >= 2 && (API_KEY_SCOPES as readonly string[]).includes(last)) {
    return { tenant: fields.slice(0, -1).join(':'), scope: last };
  }
  return { tenant: fields.join(':'), scope: undefined };
}

function repeatsShorter(text: string): boolean {
  for (let period = 1; period <= text.length / 2; period += 1) {
    if (text.length % period !== 0) continue;
    if (text.slice(period) === text.slice(0, -period)) return true;
  }
  return false;
}

function readScope(scope: string | undefined, tenantId: string | null, where: string): ApiKeyScope {
  if (scope === undefined || scope === '') return tenantId === null ? 'admin' : 'sessions';
  if (!(API_KEY_SCOPES as readonly string[]).includes(scope)) {
    throw new ApiKeyError(`${where}: the scope must be one of ${API_KEY_SCOPES.join(', ')}`, {
      where,
    });
  }
  if ((scope === 'admin' || scope === 'metrics') && tenantId !== null) {
    throw new ApiKeyError(
      `${where}: ${scope === 'admin' ? 'an admin' : 'a metrics'} key is for every tenant; write * as its tenant`,
      { where },
    );
  }
  return scope as ApiKeyScope;
}

/**
 * Reads a key file: one JSON object per line, as `curfew keys create` writes them, blank lines
 * and `#` comments allowed:
 *
 * `{"name":"billing","sha256":"9f86d0…","tenant":"acme","scope":"validate","createdAt":"2026-12-05T10:00:00.000Z","expiresAt":null,"revokedAt":null,"previous":null}`
 *
 * `tenant` is a tenant id or `*` for every tenant; `sha256` the key's SHA-256 in lowercase hex;
 * times are ISO 8601 or `null`; `previous` is `{"sha256","until"}` during a rotation's grace.
 * Lines written before (`NAME:SHA256`, an admin key; `NAME:SHA256:TENANT`, a tenant's
 * `sessions` key; `NAME:SHA256:TENANT:SCOPE`) are read as they always meant.
 *
 * @example
 * ```ts
 * parseApiKeyFile('# keys\nbilling:9f86d0…:acme:validate\n', 'keys.txt');
 * ```
 */
export function parseApiKeyFile(text: string, path: string): ApiKey[] {
  const keys: ApiKey[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${path} line ${index + 1}`;
    if (line.startsWith('{')) {
      keys.push(parseApiKeyRecord(line, where));
      return;
    }
    const [name = '', sha256 = '', ...rest] = line.split(':');
    checkName(name, where);
    if (!HASH_SHAPE.test(sha256)) {
      throw new ApiKeyError(
        `${where}: expected a JSON entry, or NAME:SHA256:TENANT:SCOPE with a 64-character hex hash`,
      );
    }
    const { tenant, scope } = splitTenantScope(rest);
    if (scope !== undefined) {
      const tenantId = tenant === '*' ? null : checkTenant(tenant, where);
      keys.push({ name, sha256, tenantId, scope: readScope(scope, tenantId, where) });
      return;
    }
    const tenantId = rest.length === 0 ? null : checkTenant(rest.join(':'), where);
    keys.push({ name, sha256, tenantId, scope: tenantId === null ? 'admin' : 'sessions' });
  });
  return keys;
}

/**
 * Reads one key record, a JSON object as {@link formatApiKeyLine} writes it: how a key file's
 * lines and a key store's rows are read.
 *
 * @example
 * ```ts
 * const key = parseApiKeyRecord(formatApiKeyLine(entry), 'the PostgreSQL store');
 * ```
 */
export function parseApiKeyRecord(line: string, where: string): ApiKey {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(line) as Record<string, unknown>;
  } catch {
    throw new ApiKeyError(`${where}: not a JSON object`);
  }
  const name = typeof entry.name === 'string' ? entry.name : '';
  checkName(name, where);
  const sha256 = typeof entry.sha256 === 'string' ? entry.sha256 : '';
  if (!HASH_SHAPE.test(sha256))
    throw new ApiKeyError(`${where}: sha256 must be 64 lowercase hex characters`);
  if (typeof entry.tenant !== 'string')
    throw new ApiKeyError(`${where}: tenant must be a tenant id or "*"`);
  const tenantId = entry.tenant === '*' ? null : checkTenant(entry.tenant, where);
  const scope = readScope(typeof entry.scope === 'string' ? entry.scope : '', tenantId, where);
  const time = (field: string): number | null => {
    const value = entry[field];
    if (value === null || value === undefined) return null;
    const parsed = typeof value === 'string' ? Date.parse(value) : Number.NaN;
    if (!Number.isFinite(parsed))
      throw new ApiKeyError(`${where}: ${field} must be an ISO 8601 time or null`);
    return parsed;
  };
  let previous: ApiKey['previous'] = null;
  if (entry.previous !== null && entry.previous !== undefined) {
    const given = entry.previous as Record<string, unknown>;
    const until = typeof given.until === 'string' ? Date.parse(given.until) : Number.NaN;
    if (
      typeof given.sha256 !== 'string' ||
      !HASH_SHAPE.test(given.sha256) ||
      !Number.isFinite(until)
    ) {
      throw new ApiKeyError(
        `${where}: previous must be {"sha256": …, "until": ISO 8601 time} or null`,
      );
    }
    previous = { sha256: given.sha256, until };
  }
  return {
    name,
    sha256,
    tenantId,
    scope,
    createdAt: time('createdAt'),
    expiresAt: time('expiresAt'),
    revokedAt: time('revokedAt'),
    previous,
  };
}

/**
 * One line of a key file for `key`, as {@link parseApiKeyFile} reads it back.
 *
 * @example
 * ```ts
 * formatApiKeyLine({ name: 'ops', sha256, tenantId: null, scope: 'admin' });
 * // {"name":"ops","sha256":"…","tenant":"*","scope":"admin","createdAt":null,…}
 * ```
 */
export function formatApiKeyLine(key: ApiKey): string {
  const iso = (time: number | null | undefined) =>
    time == null ? null : new Date(time).toISOString();
  return JSON.stringify({
    name: key.name,
    sha256: key.sha256,
    tenant: key.tenantId ?? '*',
    scope: key.scope,
    createdAt: iso(key.createdAt),
    expiresAt: iso(key.expiresAt),
    revokedAt: iso(key.revokedAt),
    previous: key.previous ? { sha256: key.previous.sha256, until: iso(key.previous.until) } : null,
  });
}

/**
 * A new key and its entry, checked: the name's shape, the tenant (`*` for every tenant: there is
 * no default, so that no key is for every tenant by accident) and the scope (default `admin` for
 * `*`, `sessions` for a tenant). The key is returned once; only its hash is in the entry.
 *
 * @example
 * ```ts
 * const { key, entry } = makeApiKey({ name: 'billing', tenantId: 'acme', now: Date.now() });
 * ```
 */
export function makeApiKey(options: {
  name: string;
  tenantId: string;
  scope?: string | undefined;
  /** When it was made (epoch ms). */
  now: number;
  /** When it stops being accepted (epoch ms); default never. */
  expiresAt?: number | null | undefined;
}): { key: string; entry: ApiKey } {
  checkName(options.name, '--name');
  const tenantId = options.tenantId === '*' ? null : checkTenant(options.tenantId, '--tenant');
  const scope = readScope(options.scope, tenantId, '--scope');
  const key = generateApiKey();
  const entry: ApiKey = {
    name: options.name,
    sha256: hashApiKey(key),
    tenantId,
    scope,
    createdAt: options.now,
    expiresAt: options.expiresAt ?? null,
    revokedAt: null,
    previous: null,
  };
  return { key, entry };
}

function checkName(name: string, where: string): void {
  if (!NAME_SHAPE.test(name)) {
    throw new ApiKeyError(`${where}: the key name must match [A-Za-z0-9_.-]{1,64}`, { where });
  }
}

function checkTenant(tenant: string | null, where: string): string | null {
  if (tenant === null) return null;
  if (tenant.length < 1 || tenant.length > 255 || /[\r\n,]/.test(tenant)) {
    throw new ApiKeyError(
      `${where}: the tenant must be 1 to 255 characters without commas or line breaks`,
      { where },
    );
  }
  return tenant;
}
