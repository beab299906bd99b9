import { ApiKeyring, createApiKey, readApiKeyFile } from './api-keys.js';
import type { ServerConfig } from './config.js';
import { ConfigError } from './config.js';

/** The keys the service will accept, and how they came to be. */
export interface LoadedKeys {
  keyring: ApiKeyring;
  /** One line per source, for the start-up banner. */
  sources: string[];
  /** Set only on the first start without any key: the new admin key, to print once. */
  createdAdminKey?: string;
}

/**
 * Loads the API keys from `CURFEW_API_KEYS` and the key file. When neither holds a key and no
 * key file was named, this is a first start: an admin key is made, its hash appended to
 * `<data folder>/api-keys`, and the key returned to be printed once. A key file that was named
 * but holds no key is an error rather than a reason to invent one.
 *
 * @example
 * ```ts
 * const { keyring, createdAdminKey } = await loadKeys(config);
 * if (createdAdminKey) console.error(`admin key (shown once): ${createdAdminKey}`);
 * ```
 */
export async function loadKeys(config: ServerConfig): Promise<LoadedKeys> {
  const fromFile = await readApiKeyFile(config.apiKeysFile).catch((error: Error) => {
    throw new ConfigError(`CURFEW_API_KEYS_FILE: ${error.message}`);
  });
  const sources: string[] = [];
  if (config.apiKeys.length > 0) sources.push(`${config.apiKeys.length} from CURFEW_API_KEYS`);
  if (fromFile.length > 0) sources.push(`${fromFile.length} from ${config.apiKeysFile}`);
  let createdAdminKey: string | undefined;
  if (config.apiKeys.length === 0 && fromFile.length === 0) {
    if (config.apiKeysFileExplicit) {
      throw new ConfigError(
        `CURFEW_API_KEYS_FILE: ${config.apiKeysFile} holds no key; add one with curfew keys create --name NAME`,
      );
    }
    const created = await createApiKey(config.apiKeysFile, { name: 'admin' });
    fromFile.push(created.entry);
    createdAdminKey = created.key;
    sources.push(`1 admin key created now, its hash kept in ${config.apiKeysFile}`);
  }
  try {
    return {
      keyring: new ApiKeyring([...config.apiKeys, ...fromFile]),
      sources,
      ...(createdAdminKey === undefined ? {} : { createdAdminKey }),
    };
  } catch (error) {
    throw new ConfigError(`API keys: ${(error as Error).message}`);
  }
}
