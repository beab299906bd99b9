import type { ApiKey } from './api-keys.js';

/**
 * An API key as a key store holds it: the key's record, and when it was last used (to the
 * minute: instances write it at most once a minute).
 *
 * @example
 * ```ts
 * const [first]: StoredApiKey[] = await keyStore.list();
 * console.log(first.name, first.lastUsedAt);
 * ```
 */
export interface StoredApiKey extends ApiKey {
  /** When a request last came with this key (epoch ms); `null`: never, or not yet recorded. */
  readonly lastUsedAt: number | null;
}

/**
 * Where the service keeps its API keys, as SHA-256 hashes: a file beside an SQLite database or
 * in the data folder, or a table (PostgreSQL, MySQL) or hash (Redis) in a network store, so
 * that every instance sharing the store shares its keys. Every instance reads the whole set
 * twice a second: a key set is small, and re-reading it is how a revoke reaches every instance
 * within a second, with no notification channel to lose.
 *
 * Keys are never deleted: a revoked key stays, marked, so that its name cannot come back as a
 * different key unnoticed.
 *
 * @example
 * ```ts
 * const store: KeyStore = new FileKeyStore('./data/api-keys');
 * const keys = await store.list();
 * ```
 */
export interface KeyStore {
  /** Where the keys are, for messages: a path, or "the PostgreSQL store". */
  readonly location: string;
  /** Every key, revoked ones included, in the order they were added. */
  list(): Promise<StoredApiKey[]>;
  /**
   * Adds a key; `false` (and nothing written) when the name is taken, revoked keys included.
   */
  add(key: ApiKey): Promise<boolean>;
  /**
   * Replaces the key named `before.name` with `after`, only if the stored record is still
   * `before` (compare-and-set, so two operators' changes never overwrite each other unseen);
   * `false` when it was not.
   */
  replace(before: ApiKey, after: ApiKey): Promise<boolean>;
  /**
   * Records when keys were last used: name to epoch ms. A time older than the one stored is
   * ignored, so instances may report in any order.
   */
  recordUse(uses: ReadonlyMap<string, number>): Promise<void>;
}
