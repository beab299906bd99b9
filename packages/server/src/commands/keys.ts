import { parseDuration } from 'curfew';
import {
  API_KEY_SCOPES,
  type ApiKey,
  ApiKeyError,
  createApiKey,
  readApiKeyFile,
  revokeApiKey,
  rotateApiKey,
} from '../api-keys.js';
import { loadConfig } from '../config.js';
import { type Command, optionalFlag, parseOffsetTime, requireFlag, UsageError } from './command.js';

const RELOAD_NOTE = 'A running server reloads the key file within a second.';

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

/** `curfew keys create`: makes an API key, appends its hash to the key file, prints it once. */
export const keysCreateCommand: Command = {
  name: 'keys create',
  usage: "--name NAME --tenant TENANT|'*' [--scope SCOPE] [--expires DURATION|TIME]",
  summary: `Make an API key: its SHA-256 is appended to the key file and the key is printed once. --tenant '*' makes a key for every tenant. ${RELOAD_NOTE}`,
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
    const { key, entry } = await createApiKey(config.apiKeysFile, {
      name,
      tenantId: tenant,
      scope: optionalFlag(values, 'scope'),
      now,
      expiresAt: expires === undefined ? null : expiry(expires, now),
    }).catch(asUsage);
    io.stderr.write(
      `${entry.scope} key "${name}" for ${entry.tenantId === null ? 'every tenant' : `tenant "${entry.tenantId}"`} added to ${config.apiKeysFile}; it is shown only now:\n`,
    );
    io.stdout.write(`${key}\n`);
    return 0;
  },
};

/** `curfew keys list`: every key in the key file, with its state; never a key, a hash prefix at most. */
export const keysListCommand: Command = {
  name: 'keys list',
  summary:
    'List the keys in the key file: name, tenant, scope, state (active, expired, revoked, rotating), made, expires, and the first 8 characters of the hash. Keys from CURFEW_API_KEYS are not listed.',
  flags: { json: { type: 'boolean', description: 'Print JSON lines.' } },
  settings: ['store', 'apiKeysFile'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const keys = await readApiKeyFile(config.apiKeysFile);
    const now = Date.now();
    const rows = keys.map((key) => describe(key, now));
    if (values.flags.json === true) {
      for (const row of rows) io.stdout.write(`${JSON.stringify(row)}\n`);
      return 0;
    }
    const header = ['NAME', 'TENANT', 'SCOPE', 'STATE', 'CREATED', 'EXPIRES', 'HASH'];
    const table = [
      header,
      ...rows.map((r) => [
        r.name,
        r.tenant,
        r.scope,
        r.state,
        r.createdAt ?? '-',
        r.expiresAt ?? 'never',
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

function describe(key: ApiKey, now: number) {
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
    hash: key.sha256.slice(0, 8),
  };
}

/** `curfew keys revoke`: marks a key revoked in the key file. */
export const keysRevokeCommand: Command = {
  name: 'keys revoke',
  usage: '--name NAME',
  summary: `Revoke a key: it stays in the key file, marked revoked, and is refused from then on. ${RELOAD_NOTE}`,
  flags: { name: { type: 'string', value: 'NAME', description: 'The key to revoke.' } },
  settings: ['store', 'apiKeysFile'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const name = requireFlag(values, 'name');
    await revokeApiKey(config.apiKeysFile, name, Date.now()).catch(asUsage);
    io.stderr.write(`key "${name}" revoked in ${config.apiKeysFile}\n`);
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
    const { key } = await rotateApiKey(config.apiKeysFile, name, { grace, now: Date.now() }).catch(
      asUsage,
    );
    io.stderr.write(
      `key "${name}" rotated in ${config.apiKeysFile}; the old key is ${grace === 0 ? 'refused now' : `accepted for ${optionalFlag(values, 'grace') ?? '1h'} more`}; the new key is shown only now:\n`,
    );
    io.stdout.write(`${key}\n`);
    return 0;
  },
};
