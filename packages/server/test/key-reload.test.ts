import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createApiKey, revokeApiKey, rotateApiKey } from '../src/key-lifecycle.js';
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
