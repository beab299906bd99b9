import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createApiKey, revokeApiKey, rotateApiKey } from '../src/key-lifecycle.js';
import { loadKeys, watchKeys } from '../src/key-setup.js';
import type { KeyStore } from '../src/key-store.js';
import { FileKeyStore } from '../src/key-stores/file-key-store.js';
import { createLogger } from '../src/logger.js';
import { startServer } from '../src/serve.js';

it('a running server takes a key created, revoked or rotated in its key file within about a second', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'curfew-key-reload-'));
  const path = join(dir, 'api-keys');
  const first = await createApiKey(path, { name: 'first', tenantId: '*' });
  const server = await startServer(
    loadConfig({
      CURFEW_STORE: 'memory:',
      CURFEW_PORT: '0',
      CURFEW_API_KEYS_FILE: path,
      CURFEW_LOG_LEVEL: 'silent',
      CURFEW_SWEEP_INTERVAL: '0',
    }),
    { write: () => {} },
  );
  const status = async (key: string) =>
    (
      await fetch(`${server.url}/v1/sessions/validate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ token: 'A'.repeat(43) }),
      })
    ).status;
  /** Milliseconds until `key` answers `wanted`, polling every 50 ms for at most 5 s. */
  const until = async (key: string, wanted: number) => {
    const started = performance.now();
    while ((await status(key)) !== wanted) {
      if (performance.now() - started > 5_000) throw new Error(`still not ${wanted} after 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return performance.now() - started;
  };
  try {
    expect(await status(first.key)).toBe(200);

    const second = await createApiKey(path, { name: 'second', tenantId: 'acme' });
    expect(await until(second.key, 200)).toBeLessThan(2_500);

    await revokeApiKey(path, 'first', Date.now());
    expect(await until(first.key, 401)).toBeLessThan(2_500);
    expect(await status(second.key)).toBe(200);

    const rotated = await rotateApiKey(path, 'second', { grace: 0, now: Date.now() });
    expect(await until(second.key, 401)).toBeLessThan(2_500);
    expect(await status(rotated.key)).toBe(200);
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});

it('keeps the keys in use while the key store cannot be read, says so once, and catches up after', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'curfew-key-poll-'));
  const file = new FileKeyStore(join(dir, 'api-keys'));
  const first = await createApiKey(file, { name: 'first', tenantId: '*' });
  let down = false;
  // The real key file, behind a switch that makes every read fail as a store that is down would.
  const store: KeyStore = {
    location: file.location,
    list: () => (down ? Promise.reject(new Error('connection refused')) : file.list()),
    add: (key) => file.add(key),
    replace: (before, after) => file.replace(before, after),
    recordUse: (uses) => file.recordUse(uses),
  };
  const warnings: string[] = [];
  const logger = createLogger('silent');
  logger.warn = ((_fields: unknown, message: string) => warnings.push(message)) as never;
  const config = loadConfig({ CURFEW_STORE: 'memory:', CURFEW_API_KEYS_FILE: file.path });
  const keys = await loadKeys(config, store);
  const stop = watchKeys({ keys, envKeys: [], logger, interval: 20, usageInterval: 60_000 });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 150));
  try {
    down = true;
    const second = await createApiKey(file, { name: 'second', tenantId: 'acme' });
    await settle();
    expect(keys.keyring.authenticate(first.key)).not.toBeNull();
    expect(keys.keyring.authenticate(second.key)).toBeNull();
    expect(warnings).toEqual([
      'the API keys could not be reloaded; the keys loaded before stay in use',
    ]);
    down = false;
    await settle();
    expect(keys.keyring.authenticate(second.key)).not.toBeNull();
  } finally {
    await stop();
    await rm(dir, { recursive: true, force: true });
  }
});
