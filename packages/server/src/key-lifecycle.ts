import { type ApiKey, ApiKeyError, generateApiKey, hashApiKey, makeApiKey } from './api-keys.js';
import type { KeyStore, StoredApiKey } from './key-store.js';
import { FileKeyStore } from './key-stores/file-key-store.js';

// A path is a key file; anything else is a key store already open.
const storeFor = (where: KeyStore | string): KeyStore =>
  typeof where === 'string' ? new FileKeyStore(where) : where;

// Two operators changing one key at once: each change is a compare-and-set, retried on a fresh
// read; a few rounds are plenty for people typing commands.
const ATTEMPTS = 5;

/**
 * Makes a key, adds its hash to a key store (or a key file, created with mode 0600 if missing),
 * and returns the key: the only time it exists anywhere outside the caller's hands. `tenantId`
 * is a tenant or `*` for every tenant: there is no default, so that no key is for every tenant
 * by accident.
 *
 * @example
 * ```ts
 * const { key } = await createApiKey('./data/api-keys', { name: 'billing', tenantId: 'acme' });
 * console.log(key); // show once
 * ```
 */
export async function createApiKey(
  where: KeyStore | string,
  options: {
    name: string;
    tenantId: string;
    scope?: string | undefined;
    /** When it was made (epoch ms); default now. */
    now?: number | undefined;
    /** When it stops being accepted (epoch ms); default never. */
    expiresAt?: number | null | undefined;
  },
): Promise<{ key: string; entry: ApiKey }> {
  const store = storeFor(where);
  const made = makeApiKey({ ...options, now: options.now ?? Date.now() });
  if (!(await store.add(made.entry))) {
    throw new ApiKeyError(`${store.location} already has a key named "${options.name}"`, {
      where: '--name',
    });
  }
  return made;
}

/**
 * Revokes the key named `name`: it stays in the store, marked revoked at `now`, and is refused
 * from then on by every instance reading that store (within a second).
 *
 * @example
 * ```ts
 * await revokeApiKey('./data/api-keys', 'billing', Date.now());
 * ```
 */
export async function revokeApiKey(
  where: KeyStore | string,
  name: string,
  now: number,
): Promise<ApiKey> {
  return change(storeFor(where), name, (old) => ({
    ...old,
    revokedAt: old.revokedAt ?? now,
    previous: null,
  }));
}

/**
 * Rotates the key named `name`: a new key with the same name, tenant, scope and expiry replaces
 * it, and the old one is still accepted for `grace` milliseconds (0: not at all), so that the
 * backends using it can switch without an outage. Returns the new key, shown once.
 *
 * @example
 * ```ts
 * const { key } = await rotateApiKey('./data/api-keys', 'billing', { grace: 3_600_000, now: Date.now() });
 * ```
 */
export async function rotateApiKey(
  where: KeyStore | string,
  name: string,
  options: { grace: number; now: number },
): Promise<{ key: string; entry: ApiKey }> {
  let key = '';
  const entry = await change(storeFor(where), name, (old) => {
    if (old.revokedAt != null) {
      throw new ApiKeyError(`key "${name}" is revoked; create a new one instead`, {
        where: '--name',
      });
    }
    key = generateApiKey();
    return {
      ...old,
      sha256: hashApiKey(key),
      createdAt: options.now,
      previous:
        options.grace > 0 ? { sha256: old.sha256, until: options.now + options.grace } : null,
    };
  });
  return { key, entry };
}

async function change(
  store: KeyStore,
  name: string,
  next: (old: ApiKey) => ApiKey,
): Promise<ApiKey> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const stored = (await store.list()).find((key) => key.name === name);
    if (stored === undefined) {
      throw new ApiKeyError(`${store.location} has no key named "${name}"`, { where: '--name' });
    }
    const old = withoutUse(stored);
    const changed = next(old);
    if (await store.replace(old, changed)) return changed;
  }
  throw new ApiKeyError(`key "${name}" kept changing while this command ran; run it again`);
}

function withoutUse({ lastUsedAt: _, ...key }: StoredApiKey): ApiKey {
  return key;
}
