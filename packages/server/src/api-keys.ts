import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A configured API key, as the service keeps it: a name for logs, the tenant it is bound to
 * (`null` for an admin key that sees every tenant), and the SHA-256 of the key. The key itself
 * is never kept.
 *
 * @example
 * ```ts
 * const billing: ApiKey = { name: 'billing', tenantId: 'acme', sha256: hashApiKey(key) };
 * ```
 */
export interface ApiKey {
  readonly name: string;
  readonly tenantId: string | null;
  /** Lowercase hex SHA-256 of the key's UTF-8 bytes. */
  readonly sha256: string;
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
  /** `null`: an admin key (every tenant). */
  readonly tenantId: string | null;
}

/** Shortest key accepted: 32 characters; generated keys carry 256 bits. */
export const MIN_KEY_LENGTH = 32;
const MAX_KEY_LENGTH = 512;
const KEY_SHAPE = /^[^\s,:]+$/;
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
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
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
  readonly #entries: { caller: ApiCaller; digest: Buffer }[];
  // The presented key's digest is decoded into this on every call: crypto.hash returning a
  // Buffer costs three times as much as returning hex, the allocation dominating the check.
  readonly #presented = Buffer.alloc(32);

  constructor(keys: readonly ApiKey[]) {
    const names = new Set<string>();
    const hashes = new Set<string>();
    this.#entries = [];
    for (const key of keys) {
      if (names.has(key.name)) throw new ApiKeyError(`API key name "${key.name}" is used twice`);
      // The same key bound to two tenants would make the caller's tenant ambiguous.
      if (hashes.has(key.sha256)) {
        throw new ApiKeyError(`API key "${key.name}" is the same key as another entry`);
      }
      names.add(key.name);
      hashes.add(key.sha256);
      this.#entries.push({
        caller: Object.freeze({ name: key.name, tenantId: key.tenantId }),
        digest: Buffer.from(key.sha256, 'hex'),
      });
    }
  }

  /** How many keys are configured. */
  get size(): number {
    return this.#entries.length;
  }

  /** How many admin (all-tenant) keys are configured. */
  get adminCount(): number {
    return this.#entries.filter((entry) => entry.caller.tenantId === null).length;
  }

  /** The caller a presented key belongs to, or `null`. */
  authenticate(presented: string): ApiCaller | null {
    if (presented.length === 0 || presented.length > MAX_KEY_LENGTH) return null;
    // Every request pays for this: one-shot crypto.hash (half of createHash's cost), hex out,
    // decoded into the buffer kept for it. Nothing is cached between calls.
    const digest = this.#presented;
    digest.write(hash('sha256', presented, 'hex'), 'hex');
    let match: ApiCaller | null = null;
    for (const entry of this.#entries) {
      if (timingSafeEqual(digest, entry.digest)) match = entry.caller;
    }
    return match;
  }
}

/**
 * The lowercase hex SHA-256 of a key: the only form in which a key file holds it.
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
 * Reads `CURFEW_API_KEYS`: comma-separated `NAME:KEY` (admin) or `NAME:KEY:TENANT` entries, each
 * KEY at least 32 characters without `,`, `:` or whitespace. Errors name the entry by position
 * and name, never by key.
 *
 * @example
 * ```ts
 * parseApiKeyList('ops:0123456789abcdef0123456789abcdef,billing:fedcba…:acme');
 * ```
 */
export function parseApiKeyList(text: string): ApiKey[] {
  const keys: ApiKey[] = [];
  const entries = text.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    if (entry === '') return;
    const where = `entry ${index + 1}`;
    const first = entry.indexOf(':');
    const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
    if (first < 0) {
      throw new ApiKeyError(`${where}: expected NAME:KEY or NAME:KEY:TENANT`);
    }
    const name = entry.slice(0, first);
    const key = second < 0 ? entry.slice(first + 1) : entry.slice(first + 1, second);
    const tenant = second < 0 ? null : entry.slice(second + 1);
    checkName(name, where);
    if (key.length < MIN_KEY_LENGTH || key.length > MAX_KEY_LENGTH || !KEY_SHAPE.test(key)) {
      throw new ApiKeyError(
        `${where} (${name}): the key must be ${MIN_KEY_LENGTH} to ${MAX_KEY_LENGTH} characters without ",", ":" or spaces`,
      );
    }
    keys.push({
      name,
      sha256: hashApiKey(key),
      tenantId: checkTenant(tenant, `${where} (${name})`),
    });
  });
  return keys;
}

/**
 * Reads a key file: one `NAME:SHA256[:TENANT]` line per key (the SHA-256 in lowercase hex),
 * blank lines and `#` comments allowed. This is what `curfew keys create` appends to.
 *
 * @example
 * ```ts
 * parseApiKeyFile('# made by curfew keys create\nbilling:9f86d0…:acme\n', 'keys.txt');
 * ```
 */
export function parseApiKeyFile(text: string, path: string): ApiKey[] {
  const keys: ApiKey[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${path} line ${index + 1}`;
    const [name = '', sha256 = '', ...rest] = line.split(':');
    checkName(name, where);
    if (!HASH_SHAPE.test(sha256)) {
      throw new ApiKeyError(`${where}: expected NAME:SHA256[:TENANT] with a 64-character hex hash`);
    }
    const tenant = rest.length === 0 ? null : rest.join(':');
    keys.push({ name, sha256, tenantId: checkTenant(tenant, where) });
  });
  return keys;
}

/**
 * Reads a key file from disk; a file that does not exist holds no keys.
 *
 * @example
 * ```ts
 * const keys = await readApiKeyFile('./data/api-keys');
 * ```
 */
export async function readApiKeyFile(path: string): Promise<ApiKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ApiKeyError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  return parseApiKeyFile(text, path);
}

/**
 * Makes a key, appends its hash to a key file (created with mode 0600 if missing), and returns
 * the key: the only time it exists anywhere outside the caller's hands.
 *
 * @example
 * ```ts
 * const key = await createApiKey('./data/api-keys', { name: 'billing', tenantId: 'acme' });
 * console.log(key); // show once
 * ```
 */
export async function createApiKey(
  path: string,
  options: { name: string; tenantId?: string | null },
): Promise<{ key: string; entry: ApiKey }> {
  checkName(options.name, '--name');
  const tenantId = checkTenant(options.tenantId ?? null, '--tenant');
  const existing = await readApiKeyFile(path);
  if (existing.some((key) => key.name === options.name)) {
    throw new ApiKeyError(`${path} already has a key named "${options.name}"`);
  }
  const key = generateApiKey();
  const entry: ApiKey = { name: options.name, sha256: hashApiKey(key), tenantId };
  await mkdir(dirname(path), { recursive: true });
  const line = `${entry.name}:${entry.sha256}${tenantId === null ? '' : `:${tenantId}`}\n`;
  await appendFile(path, line, { mode: 0o600 });
  return { key, entry };
}

function checkName(name: string, where: string): void {
  if (!NAME_SHAPE.test(name)) {
    throw new ApiKeyError(`${where}: the key name must match [A-Za-z0-9_.-]{1,64}`);
  }
}

function checkTenant(tenant: string | null, where: string): string | null {
  if (tenant === null) return null;
  if (tenant.length < 1 || tenant.length > 255 || /[\r\n,]/.test(tenant)) {
    throw new ApiKeyError(
      `${where}: the tenant must be 1 to 255 characters without commas or line breaks`,
    );
  }
  return tenant;
}
