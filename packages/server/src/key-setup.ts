import { chmod, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { type ApiKey, ApiKeyError, ApiKeyring, formatApiKeyLine } from './api-keys.js';
import type { ServerConfig } from './config.js';
import { ConfigError } from './config.js';
import { createApiKey } from './key-lifecycle.js';
import type { KeyStore } from './key-store.js';
import { FileKeyStore, readApiKeyFile } from './key-stores/file-key-store.js';

/** The keys the service will accept, and how they came to be. */
export interface LoadedKeys {
  keyring: ApiKeyring;
  /** Where the service reads its keys from (and `curfew keys` writes them to). */
  store: KeyStore;
  /** The keys read from `store` at start, to tell a later change from none. */
  stored: readonly ApiKey[];
  /** One line per source, for the start-up banner. */
  sources: string[];
  /**
   * Set only on the first start without any key, on an interactive terminal: the new admin key,
   * to show once.
   */
  createdAdminKey?: string;
  /**
   * Set only on the first start without any key, without a terminal: the file (mode 0600) the
   * new admin key was written to. Log collectors keep whatever reaches stderr; they never see
   * this file.
   */
  createdAdminKeyFile?: string;
}

/**
 * Where the keys live for a store: the file `CURFEW_API_KEYS_FILE` names, if it names one;
 * otherwise the store's own (a table on PostgreSQL and MySQL, a hash on Redis), shared by every
 * instance on it; otherwise (SQLite, `memory:`) the key file in the data folder, which for
 * SQLite is the database's own folder.
 *
 * @example
 * ```ts
 * const keyStore = keyStoreFor(config, await openStore(config.store));
 * ```
 */
export function keyStoreFor(config: ServerConfig, storeKeys: KeyStore | undefined): KeyStore {
  return config.apiKeysFileExplicit || storeKeys === undefined
    ? new FileKeyStore(config.apiKeysFile)
    : storeKeys;
}

/**
 * Loads the API keys from `CURFEW_API_KEYS` and the key store. When neither holds a key and no
 * key file was named, this is a first start: an admin key is made and its hash added to the key
 * store. On an interactive terminal the key is returned to be shown once; otherwise it is
 * written to `admin-key` in the data folder, readable only by this user, and only that path is
 * returned. A key file that was named but holds no key is an error rather than a reason to
 * invent one.
 *
 * A store that keeps keys itself takes over the keys of a key file left in the data folder from
 * before (those whose names it does not hold yet), so that they keep working.
 *
 * @example
 * ```ts
 * const { keyring, createdAdminKey } = await loadKeys(config, new FileKeyStore('./data/api-keys'));
 * if (createdAdminKey) console.error(`admin key (shown once): ${createdAdminKey}`);
 * ```
 */
export async function loadKeys(
  config: ServerConfig,
  store: KeyStore,
  options: { interactive?: boolean | undefined } = {},
): Promise<LoadedKeys> {
  const sources: string[] = [];
  const fail = (error: unknown): never => {
    throw new ConfigError(`API keys in ${store.location}: ${(error as Error).message}`);
  };
  if (!(store instanceof FileKeyStore)) {
    const left = await readApiKeyFile(config.apiKeysFile).catch(() => []);
    let copied = 0;
    for (const key of left) if (await store.add(key).catch(fail)) copied++;
    if (copied > 0) sources.push(`${copied} copied from ${config.apiKeysFile} into the store`);
  }
  let stored: ApiKey[] = await store.list().catch(fail);
  if (config.apiKeys.length > 0) sources.push(`${config.apiKeys.length} from CURFEW_API_KEYS`);
  if (stored.length > 0) sources.push(`${stored.length} in ${store.location}`);
  let created: { createdAdminKey: string } | { createdAdminKeyFile: string } | undefined;
  if (config.apiKeys.length === 0 && stored.length === 0) {
    if (config.apiKeysFileExplicit) {
      throw new ConfigError(
        `CURFEW_API_KEYS_FILE: ${config.apiKeysFile} holds no key; add one with curfew keys create --name NAME`,
      );
    }
    try {
      const made = await createApiKey(store, { name: 'admin', tenantId: '*' });
      sources.push(`1 admin key created now, its hash kept in ${store.location}`);
      if (options.interactive === true) {
        created = { createdAdminKey: made.key };
      } else {
        const path = join(dirname(config.apiKeysFile), 'admin-key');
        await writeFile(path, `${made.key}\n`, { mode: 0o600 });
        // A file left from an earlier first start keeps its mode through writeFile.
        await chmod(path, 0o600);
        created = { createdAdminKeyFile: path };
      }
    } catch (error) {
      // Another instance's first start made it a moment ago: use the keys it left.
      if (!(error instanceof ApiKeyError)) throw error;
    }
    stored = await store.list().catch(fail);
  }
  try {
    return {
      keyring: new ApiKeyring([...config.apiKeys, ...stored]),
      store,
      stored,
      sources,
      ...created,
    };
  } catch (error) {
    throw new ConfigError(`API keys: ${(error as Error).message}`);
  }
}

/** How often an instance re-reads its key store: a revoke is refused within this. */
export const KEY_POLL_INTERVAL = 500;
/** How often an instance writes its keys' last-used times. */
export const KEY_USAGE_INTERVAL = 60_000;

/**
 * Re-reads the key store every `interval` ms and swaps the keys in when they changed: a key
 * created, revoked or rotated (by `curfew keys`, on any machine sharing the store) takes effect
 * on this instance within that time, without a restart. Keys from `CURFEW_API_KEYS` stay. A
 * store that cannot be read, or keys that cannot be used, are logged once, and the keys in use
 * stay. Every `usageInterval` ms, and when stopped, the keys' last-used times are written.
 * Resolves, once stopped, after the last write.
 *
 * @example
 * ```ts
 * const stop = watchKeys({ keys, envKeys: config.apiKeys, logger });
 * await stop();
 * ```
 */
export function watchKeys(options: {
  keys: LoadedKeys;
  envKeys: readonly ApiKey[];
  logger: Logger;
  interval?: number | undefined;
  usageInterval?: number | undefined;
}): () => Promise<void> {
  const { keys, envKeys, logger } = options;
  const { keyring, store } = keys;
  const fingerprint = (list: readonly ApiKey[]) => list.map(formatApiKeyLine).join('\n');
  let last = fingerprint(keys.stored);
  let failing = false;
  let busy: Promise<void> | null = null;
  const poll = () => {
    if (busy !== null) return;
    busy = (async () => {
      try {
        const stored = await store.list();
        const now = fingerprint(stored);
        failing = false;
        if (now === last) return;
        keyring.replace([...envKeys, ...stored]);
        last = now;
        logger.info({ where: store.location, keys: keyring.size }, 'API keys reloaded');
        if (keyring.size === 0) {
          logger.warn(
            { where: store.location },
            'no API key is left: every request will be refused',
          );
        }
      } catch (error) {
        if (!failing) {
          logger.warn(
            { where: store.location, reason: (error as Error).message },
            'the API keys could not be reloaded; the keys loaded before stay in use',
          );
        }
        failing = true;
      }
    })().finally(() => {
      busy = null;
    });
  };
  const flush = async () => {
    const used = keyring.takeUsage();
    try {
      await store.recordUse(used);
    } catch (error) {
      // Advisory: a failed write loses one minute's last-used times, never a request.
      logger.debug({ reason: (error as Error).message }, 'last-used times not written');
    }
  };
  const pollTimer = setInterval(poll, options.interval ?? KEY_POLL_INTERVAL);
  const usageTimer = setInterval(() => void flush(), options.usageInterval ?? KEY_USAGE_INTERVAL);
  pollTimer.unref();
  usageTimer.unref();
  let stopping: Promise<void> | undefined;
  return () =>
    (stopping ??= (async () => {
      clearInterval(pollTimer);
      clearInterval(usageTimer);
      await busy;
      await flush();
    })());
}
