import { parseDuration } from 'curfew';
import { API_KEY_SCOPES, ApiKeyError } from '../api-keys.js';
import { loadConfig, type ServerConfig } from '../config.js';
import { createApiKey, revokeApiKey, rotateApiKey } from '../key-lifecycle.js';
import type { KeyStore, StoredApiKey } from '../key-store.js';
import { FileKeyStore } from '../key-stores/file-key-store.js';
import { type Command, optionalFlag, parseOffsetTime, requireFlag, UsageError } from './command.js';

const RELOAD_NOTE =
  'Keys live in the store on PostgreSQL, MySQL and Redis (shared by every instance), else in the key file; every running server takes a change within half a second.';

/**
 * Runs `run` on the key store the service would use (see keyStoreFor): a key file needs no
 * driver; a network store is opened (its migrations run, the key table with them) and closed.
 */
async function withKeyStore<T>(
  config: ServerConfig,
  run: (store: KeyStore) => Promise<T>,
): Promise<T> {
  const kind = config.store.kind;
  if (config.apiKeysFileExplicit || kind === 'sqlite' || kind === 'memory') {
    return run(new FileKeyStore(config.apiKeysFile));
  }
  const { openStore } = await import('../open-store.js');
  const opened = await openStore(config.store, { connection: config.storeConnection });
  try {
    return await run(opened.keys ?? new FileKeyStore(config.apiKeysFile));
  } finally {
    await opened.close();
  }
}

// Mistakes in flags (a bad --name, --tenant, --scope) are the caller's: exit 2, not a failure.
function asUsage(error: unknown): never {
  throw error instanceof ApiKeyError && error.where?.startsWith('--') === true
    ? new UsageError(error.message)
    : error;
}

/** A duration from now (`90d`) or an ISO 8601 time with its offset, as epoch milliseconds. */
function expiry(text: string, now: number): number {
  const time = parseOffsetTime(text);
  if (time !== null && time > now) return time;
  try {
    return now + parseDuration(text, '--expires');
  } catch {
    throw new UsageError(
      '--expires: expected a duration such as 90d, or a future ISO 8601 time with its offset',
    );
  }
}

/** `curfew keys create`: makes an API key, adds its hash to the key store, prints it once. */
export const keysCreateCommand: Command = {
  name: 'keys create',
  usage: "--name NAME --tenant TENANT|'*' [--scope SCOPE] [--expires DURATION|TIME]",
  summary: `Make an API key: its SHA-256 is added to the key store and the key is printed once. --tenant '*' makes a key for every tenant. ${RELOAD_NOTE}`,
  flags: {
    name: { type: 'string', value: 'NAME', description: 'A name for logs: [A-Za-z0-9_.-]{1,64}.' },
    tenant: {
      type: 'string',
      value: 'TENANT',
      description: "The tenant the key is bound to, or '*' for every tenant (required).",
    },
    scope: {
      type: 'string',
      value: 'SCOPE',
      description: `What the key may do: ${API_KEY_SCOPES.join(', ')} (default: admin for '*', sessions for a tenant).`,
    },
    expires: {
      type: 'string',
      value: 'DURATION|TIME',
      description: 'Refuse the key after this long (90d) or after this time; default never.',
    },
  },
  settings: ['store', 'apiKeysFile'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const name = requireFlag(values, 'name');
    const tenant = optionalFlag(values, 'tenant');
    if (tenant === undefined) {
      throw new UsageError(
        "--tenant is required: name the key's tenant, or give --tenant '*' for a key for every tenant",
      );
    }
    const now = Date.now();
    const expires = optionalFlag(values, 'expires');
    const expiresAt = expires === undefined ? null : expiry(expires, now);
    const { store, made } = await withKeyStore(config, async (store) => ({
      store: store.location,
      made: await createApiKey(store, {
        name,
        tenantId: tenant,
        scope: optionalFlag(values, 'scope'),
        now,
        expiresAt,
      }).catch(asUsage),
    }));
    const { key, entry } = made;
    io.stderr.write(
      `${entry.scope} key "${name}" for ${entry.tenantId === null ? 'every tenant' : `tenant "${entry.tenantId}"`} added to ${store}; it is shown only now:\n`,
    );
    io.stdout.write(`${key}\n`);
    return 0;
  },
};

/** `curfew keys list`: every key in the key store, with its state; never a key, a hash prefix at most. */
export const keysListCommand: Command = {
  name: 'keys list',
  summary:
    'List the keys in the key store: name, tenant, scope, state (active, expired, revoked, rotating), made, expires, last used (to the minute), and the first 8 characters of the hash. Keys from CURFEW_API_KEYS are not listed.',
  flags: { json: { type: 'boolean', description: 'Print JSON lines.' } },
  settings: ['store', 'apiKeysFile'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const keys = await withKeyStore(config, (store) => store.list());
    const now = Date.now();
    const rows = keys.map((key) => describe(key, now));
    if (values.flags.json === true) {
      for (const row of rows) io.stdout.write(`${JSON.stringify(row)}\n`);
      return 0;
    }
    const header = ['NAME', 'TENANT', 'SCOPE', 'STATE', 'CREATED', 'EXPIRES', 'LAST USED', 'HASH'];
    const table = [
      header,
      ...rows.map((r) => [
        r.name,
        r.tenant,
        r.scope,
        r.state,
        r.createdAt ?? '-',
        r.expiresAt ?? 'never',
        r.lastUsedAt ?? 'never',
        r.hash,
      ]),
    ];
    const widths = header.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) {
      io.stdout.write(
        `${row
          .map((cell, i) => cell.padEnd(widths[i]!))
          .join('  ')
          .trimEnd()}\n`,
      );
    }
    return 0;
  },
};

function describe(key: StoredApiKey, now: number) {
  const iso = (time: number | null | undefined) =>
    time == null ? null : new Date(time).toISOString();
  const state =
    key.revokedAt != null
      ? 'revoked'
      : key.expiresAt != null && key.expiresAt <= now
        ? 'expired'
        : key.previous != null && key.previous.until > now
          ? 'rotating'
          : 'active';
  return {
    name: key.name,
    tenant: key.tenantId ?? '*',
    scope: key.scope,
    state,
    createdAt: iso(key.createdAt),
    expiresAt: iso(key.expiresAt),
    revokedAt: iso(key.revokedAt),
    previousUntil:
      key.previous != null && key.previous.until > now ? iso(key.previous.until) : null,
    lastUsedAt: iso(key.lastUsedAt),
    hash: key.sha256.slice(0, 8),
  };
}

/** `curfew keys revoke`: marks a key revoked in the key store. */
export const keysRevokeCommand: Command = {
  name: 'keys revoke',
  usage: '--name NAME',
  summary: `Revoke a key: it stays in the key store, marked revoked, and is refused from then on. ${RELOAD_NOTE}`,
  flags: { name: { type: 'string', value: 'NAME', description: 'The key to revoke.' } },
  settings: ['store', 'apiKeysFile'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const name = requireFlag(values, 'name');
    const where = await withKeyStore(config, async (store) => {
      await revokeApiKey(store, name, Date.now()).catch(asUsage);
      return store.location;
    });
    io.stderr.write(`key "${name}" revoked in ${where}\n`);
    return 0;
  },
};

/** `curfew keys rotate`: replaces a key, keeping the old one valid for a grace period. */
export const keysRotateCommand: Command = {
  name: 'keys rotate',
  usage: '--name NAME [--grace DURATION]',
  summary: `Replace a key with a new one (same name, tenant, scope and expiry), printed once; the old key is still accepted for --grace so its users can switch. ${RELOAD_NOTE}`,
  flags: {
    name: { type: 'string', value: 'NAME', description: 'The key to rotate.' },
    grace: {
      type: 'string',
      value: 'DURATION',
      description: 'How long the old key stays valid (0: not at all). Default 1h.',
    },
  },
  settings: ['store', 'apiKeysFile'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const name = requireFlag(values, 'name');
    let grace: number;
    try {
      grace = parseDuration(optionalFlag(values, 'grace') ?? '1h', '--grace');
    } catch {
      throw new UsageError('--grace: expected a duration such as 1h, or 0');
    }
    const { key, where } = await withKeyStore(config, async (store) => ({
      key: (await rotateApiKey(store, name, { grace, now: Date.now() }).catch(asUsage)).key,
      where: store.location,
    }));
    io.stderr.write(
      `key "${name}" rotated in ${where}; the old key is ${grace === 0 ? 'refused now' : `accepted for ${optionalFlag(values, 'grace') ?? '1h'} more`}; the new key is shown only now:\n`,
    );
    io.stdout.write(`${key}\n`);
    return 0;
  },
};
