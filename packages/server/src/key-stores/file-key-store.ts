import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type ApiKey, ApiKeyError, formatApiKeyLine, parseApiKeyFile } from '../api-keys.js';
import type { KeyStore, StoredApiKey } from '../key-store.js';

/**
 * API keys in a file of JSON lines (see {@link parseApiKeyFile}), mode 0600, rewritten
 * atomically; last-used times in a file beside it (`<path>.last-used`), so that recording them
 * never rewrites the keys. The service's key store for SQLite (the file sits beside the
 * database, where every process sharing the database sees it) and `memory:`, and for any store
 * when `CURFEW_API_KEYS_FILE` names a file.
 *
 * @example
 * ```ts
 * const keys = new FileKeyStore('./data/api-keys');
 * await keys.add({ name: 'ops', tenantId: null, scope: 'admin', sha256: hashApiKey(key) });
 * ```
 */
export class FileKeyStore implements KeyStore {
  readonly location: string;

  constructor(readonly path: string) {
    this.location = path;
  }

  async list(): Promise<StoredApiKey[]> {
    const [keys, used] = await Promise.all([readApiKeyFile(this.path), this.#lastUsed()]);
    return keys.map((key) => ({ ...key, lastUsedAt: used[key.name] ?? null }));
  }

  async add(key: ApiKey): Promise<boolean> {
    const existing = await readApiKeyFile(this.path);
    if (existing.some((other) => other.name === key.name)) return false;
    await mkdir(dirname(this.path), { recursive: true });
    await appendFile(this.path, `${formatApiKeyLine(key)}\n`, { mode: 0o600 });
    return true;
  }

  async replace(before: ApiKey, after: ApiKey): Promise<boolean> {
    const keys = await readApiKeyFile(this.path);
    const index = keys.findIndex((key) => key.name === before.name);
    if (index < 0 || formatApiKeyLine(keys[index]!) !== formatApiKeyLine(before)) return false;
    keys[index] = after;
    await writeApiKeyFile(this.path, keys);
    return true;
  }

  async recordUse(uses: ReadonlyMap<string, number>): Promise<void> {
    if (uses.size === 0) return;
    const used = await this.#lastUsed();
    for (const [name, time] of uses) used[name] = Math.max(used[name] ?? 0, time);
    await writeAtomically(`${this.path}.last-used`, `${JSON.stringify(used)}\n`);
  }

  async #lastUsed(): Promise<Record<string, number>> {
    try {
      const parsed: unknown = JSON.parse(await readFile(`${this.path}.last-used`, 'utf8'));
      const used: Record<string, number> = Object.create(null);
      if (typeof parsed === 'object' && parsed !== null) {
        for (const [name, time] of Object.entries(parsed)) {
          if (typeof time === 'number' && Number.isFinite(time)) used[name] = time;
        }
      }
      return used;
    } catch {
      // Missing or damaged: last-used times are advisory, and the next flush rewrites the file.
      return Object.create(null);
    }
  }
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
 * Rewrites a key file with `keys`, atomically (a new file renamed over the old one, mode 0600),
 * so that a server reloading it never reads half a file.
 *
 * @example
 * ```ts
 * await writeApiKeyFile('./data/api-keys', keys);
 * ```
 */
export async function writeApiKeyFile(path: string, keys: readonly ApiKey[]): Promise<void> {
  const text = keys.map((key) => `${formatApiKeyLine(key)}\n`).join('');
  await writeAtomically(
    path,
    `# curfew API keys: SHA-256 hashes only. Edit with curfew keys.\n${text}`,
  );
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, path);
}
