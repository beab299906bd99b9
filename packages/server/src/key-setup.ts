import { unwatchFile, watchFile } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { ApiKeyring, createApiKey, readApiKeyFile } from './api-keys.js';
import type { ServerConfig } from './config.js';
import { ConfigError } from './config.js';

/** The keys the service will accept, and how they came to be. */
export interface LoadedKeys {
  keyring: ApiKeyring;
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
 * Loads the API keys from `CURFEW_API_KEYS` and the key file. When neither holds a key and no
 * key file was named, this is a first start: an admin key is made and its hash appended to
 * `<data folder>/api-keys`. On an interactive terminal the key is returned to be shown once;
 * otherwise it is written to `admin-key` beside the key file, readable only by this user, and
 * only that path is returned. A key file that was named but holds no key is an error rather than
 * a reason to invent one.
 *
 * @example
 * ```ts
 * const { keyring, createdAdminKey } = await loadKeys(config);
 * if (createdAdminKey) console.error(`admin key (shown once): ${createdAdminKey}`);
 * ```
 */
export async function loadKeys(
  config: ServerConfig,
  options: { interactive?: boolean | undefined } = {},
): Promise<LoadedKeys> {
  const fromFile = await readApiKeyFile(config.apiKeysFile).catch((error: Error) => {
    throw new ConfigError(`CURFEW_API_KEYS_FILE: ${error.message}`);
  });
  const sources: string[] = [];
  if (config.apiKeys.length > 0) sources.push(`${config.apiKeys.length} from CURFEW_API_KEYS`);
  if (fromFile.length > 0) sources.push(`${fromFile.length} from ${config.apiKeysFile}`);
  let created: { createdAdminKey: string } | { createdAdminKeyFile: string } | undefined;
  if (config.apiKeys.length === 0 && fromFile.length === 0) {
    if (config.apiKeysFileExplicit) {
      throw new ConfigError(
        `CURFEW_API_KEYS_FILE: ${config.apiKeysFile} holds no key; add one with curfew keys create --name NAME`,
      );
    }
    const made = await createApiKey(config.apiKeysFile, { name: 'admin', tenantId: '*' });
    fromFile.push(made.entry);
    sources.push(`1 admin key created now, its hash kept in ${config.apiKeysFile}`);
    if (options.interactive === true) {
      created = { createdAdminKey: made.key };
    } else {
      const path = join(dirname(config.apiKeysFile), 'admin-key');
      await writeFile(path, `${made.key}\n`, { mode: 0o600 });
      // A file left from an earlier first start keeps its mode through writeFile.
      await chmod(path, 0o600);
      created = { createdAdminKeyFile: path };
    }
  }
  try {
    return {
      keyring: new ApiKeyring([...config.apiKeys, ...fromFile]),
      sources,
      ...created,
    };
  } catch (error) {
    throw new ConfigError(`API keys: ${(error as Error).message}`);
  }
}

/**
 * Reloads the key file into `keyring` whenever it changes (checked every `interval` ms, by
 * modification time, which catches the rename `curfew keys` writes with): a key created,
 * revoked or rotated takes effect within about a second. Keys from `CURFEW_API_KEYS` stay.
 * A file that cannot be read or used is logged, and the keys in use stay. Returns the function
 * that stops watching.
 *
 * @example
 * ```ts
 * const stop = watchKeyFile(config, keyring, logger);
 * ```
 */
export function watchKeyFile(
  config: ServerConfig,
  keyring: ApiKeyring,
  logger: Logger,
  interval = 1000,
): () => void {
  let reloading: Promise<void> = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      try {
        const fromFile = await readApiKeyFile(config.apiKeysFile);
        keyring.replace([...config.apiKeys, ...fromFile]);
        logger.info({ file: config.apiKeysFile, keys: keyring.size }, 'API keys reloaded');
        if (keyring.size === 0)
          logger.warn(
            { file: config.apiKeysFile },
            'no API key is left: every request will be refused',
          );
      } catch (error) {
        logger.warn(
          { file: config.apiKeysFile, reason: (error as Error).message },
          'the key file could not be reloaded; the keys loaded before stay in use',
        );
      }
    });
  };
  const listener = (current: { mtimeMs: number }, previous: { mtimeMs: number }) => {
    if (current.mtimeMs !== previous.mtimeMs) reload();
  };
  watchFile(config.apiKeysFile, { interval, persistent: false }, listener);
  return () => unwatchFile(config.apiKeysFile, listener);
}
