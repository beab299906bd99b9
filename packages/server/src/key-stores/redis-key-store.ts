import { type ApiKey, formatApiKeyLine, parseApiKeyRecord } from '../api-keys.js';
import type { KeyStore, StoredApiKey } from '../key-store.js';

/** What the key store needs of an ioredis `Redis` or `Cluster`. */
export interface RedisKeyClient {
  hgetall(key: string): Promise<Record<string, string>>;
  hsetnx(key: string, field: string, value: string): Promise<number>;
  eval(script: string, keys: number, ...args: string[]): Promise<unknown>;
}

// Compare-and-set of one field: the record is replaced only if it is still the one read.
const REPLACE = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  return 1
end
return 0`;

// Last-used times only move forward, whichever instance reports first.
const RECORD_USE = `for i = 1, #ARGV, 2 do
  local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > stored then redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return 0`;

/**
 * API keys in the service's Redis (or Redis Cluster): a hash of key name to the same JSON
 * record a key file line holds (`curfew:{api-keys}`), and a hash of last-used times beside it
 * (`curfew:{api-keys}:used`; the braces keep both in one cluster slot). Neither expires. Every
 * instance on the Redis shares them.
 *
 * @example
 * ```ts
 * const keys = new RedisKeyStore(new Redis());
 * await keys.list();
 * ```
 */
export class RedisKeyStore implements KeyStore {
  readonly location: string;
  readonly #client: RedisKeyClient;
  readonly #keys: string;
  readonly #used: string;

  constructor(client: RedisKeyClient, options: { prefix?: string | undefined } = {}) {
    this.#client = client;
    const prefix = options.prefix ?? 'curfew:';
    this.#keys = `${prefix}{api-keys}`;
    this.#used = `${prefix}{api-keys}:used`;
    this.location = `the Redis store (hash ${this.#keys})`;
  }

  async list(): Promise<StoredApiKey[]> {
    const [records, used] = await Promise.all([
      this.#client.hgetall(this.#keys),
      this.#client.hgetall(this.#used),
    ]);
    const keys = Object.values(records).map((record) => parseApiKeyRecord(record, this.location));
    // A hash has no order: keys are listed by when they were made, then by name.
    keys.sort((a, b) => (a.createdAt ?? 0) - (b.createdAt ?? 0) || (a.name < b.name ? -1 : 1));
    return keys.map((key) => {
      const time = used[key.name];
      return { ...key, lastUsedAt: time === undefined ? null : Number(time) };
    });
  }

  async add(key: ApiKey): Promise<boolean> {
    return (await this.#client.hsetnx(this.#keys, key.name, formatApiKeyLine(key))) === 1;
  }

  async replace(before: ApiKey, after: ApiKey): Promise<boolean> {
    const result = await this.#client.eval(
      REPLACE,
      1,
      this.#keys,
      before.name,
      formatApiKeyLine(before),
      formatApiKeyLine(after),
    );
    return result === 1;
  }

  async recordUse(uses: ReadonlyMap<string, number>): Promise<void> {
    if (uses.size === 0) return;
    const args = [...uses].flatMap(([name, time]) => [name, String(time)]);
    await this.#client.eval(RECORD_USE, 1, this.#used, ...args);
  }
}
