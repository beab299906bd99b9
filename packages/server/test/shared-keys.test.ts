// API keys kept in the store itself: two instances of the service share one store, and a key
// created, revoked or rotated with `curfew keys` (run as a third process would: the CLI opening
// the store) reaches both within a second. Each store is checked the same way: SQLite (the key
// file beside the database), PostgreSQL and MariaDB (a table), Redis (a hash).
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMariadbAvailable } from '../../curfew/test/support/mysql.js';
import { sharedPostgresAvailable } from '../../curfew/test/support/postgres.js';
import { sharedRedisAvailable } from '../../curfew/test/support/redis.js';
import { formatApiKeyLine, hashApiKey } from '../src/api-keys.js';
import { loadConfig } from '../src/config.js';
import { keyStoreFor } from '../src/key-setup.js';
import { openStore } from '../src/open-store.js';
import { type RunningServer, startServer } from '../src/serve.js';
import { runCapturedCli } from './support/cli.js';

// The operator's own admin key, given in the environment, so that no first-start key is made.
const ADMIN = 'shared-keys-admin-0123456789abcdefghijk';
const unique = (prefix: string) => `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'curfew-shared-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const envFor = (store: string): NodeJS.ProcessEnv => ({
  CURFEW_STORE: store,
  CURFEW_API_KEYS: `ops:${ADMIN}:*`,
  CURFEW_PORT: '0',
  CURFEW_SWEEP_INTERVAL: '0',
  CURFEW_LOG_LEVEL: 'silent',
});

async function status(server: RunningServer, key: string): Promise<number> {
  const response = await fetch(`${server.url}/v1/sessions/validate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ token: 'A'.repeat(43) }),
    signal: AbortSignal.timeout(5_000),
  });
  await response.arrayBuffer();
  return response.status;
}

/** Milliseconds until every server answers `key` with `wanted`, polling every 25 ms (5 s at most). */
async function untilAll(servers: RunningServer[], key: string, wanted: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const answers = await Promise.all(servers.map((server) => status(server, key)));
    if (answers.every((answer) => answer === wanted)) return performance.now() - started;
    if (performance.now() - started > 5_000) {
      throw new Error(`after 5 s the servers answer ${answers.join(', ')}, not ${wanted}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function keysCli(env: NodeJS.ProcessEnv, ...argv: string[]) {
  const result = await runCapturedCli(env, ['keys', ...argv]);
  expect(result.code, result.stderr).toBe(0);
  return result;
}

/** Two instances on one store, the whole lifecycle through the CLI, and last-used times. */
async function sharedLifecycle(store: string, where: RegExp): Promise<void> {
  const env = envFor(store);
  const servers = [
    await startServer(loadConfig(env), { write: () => {} }),
    await startServer(loadConfig(env), { write: () => {} }),
  ];
  try {
    const created = await keysCli(env, 'create', '--name', 'billing', '--tenant', 'acme');
    expect(created.stderr).toMatch(where);
    const key = created.stdout.trim();
    expect(await untilAll(servers, key, 200)).toBeLessThan(1_000);

    // The same name twice is refused, and the key in place stays.
    // Compare-and-set: a change made from a stale copy of the record writes nothing.
    const config = loadConfig(env);
    const opened = await openStore(config.store);
    try {
      const keyStore = keyStoreFor(config, opened.keys);
      const billing = (await keyStore.list()).find((entry) => entry.name === 'billing')!;
      const stale = { ...billing, scope: 'validate' as const };
      expect(await keyStore.replace(stale, { ...billing, revokedAt: Date.now() })).toBe(false);
      expect(await keyStore.add({ ...billing, sha256: hashApiKey('x') })).toBe(false);
    } finally {
      await opened.close();
    }
    expect(await untilAll(servers, key, 200)).toBeLessThan(1_000);

    const twice = await runCapturedCli(env, [
      'keys',
      'create',
      '--name',
      'billing',
      '--tenant',
      'x',
    ]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/already has a key named "billing"/);

    await keysCli(env, 'revoke', '--name', 'billing');
    // Refused by both instances within a second of the revoke returning.
    expect(await untilAll(servers, key, 401)).toBeLessThan(1_000);

    const other = (
      await keysCli(env, 'create', '--name', 'reports', '--tenant', '*', '--scope', 'validate')
    ).stdout.trim();
    expect(await untilAll(servers, other, 200)).toBeLessThan(1_000);
    const rotated = (
      await keysCli(env, 'rotate', '--name', 'reports', '--grace', '0')
    ).stdout.trim();
    expect(await untilAll(servers, other, 401)).toBeLessThan(1_000);
    expect(await untilAll(servers, rotated, 200)).toBeLessThan(1_000);

    // Last-used times are written when an instance stops (and once a minute while it runs).
    await Promise.all(servers.map((server) => server.close()));
    const listed = (await keysCli(env, 'list', '--json')).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const byName = Object.fromEntries(listed.map((row) => [row.name, row]));
    expect(Object.keys(byName)).toEqual(['billing', 'reports']);
    expect(byName.billing.state).toBe('revoked');
    expect(byName.reports).toMatchObject({ state: 'active', scope: 'validate', tenant: '*' });
    for (const row of listed) {
      expect(Date.parse(row.lastUsedAt)).toBeGreaterThan(Date.now() - 60_000);
      expect(JSON.stringify(row)).not.toContain(hashApiKey(rotated));
    }
  } finally {
    await Promise.all(servers.map((server) => server.close()));
  }
}

describe('SQLite: the key file beside the database', () => {
  it('shares keys between two instances on one database file', async () => {
    const database = join(dir, 'sqlite', 'curfew.db');
    await sharedLifecycle(`sqlite:${database}`, /added to .*sqlite\/api-keys;/);
    // The keys are in the file beside the database, as hashes.
    const text = await readFile(join(dir, 'sqlite', 'api-keys'), 'utf8');
    expect(text).toMatch(/"name":"billing"/);
  });
});

describe('PostgreSQL: a table', async () => {
  const available = await sharedPostgresAvailable();
  const database = unique('curfew_keys');
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: 5432,
    user: 'postgres',
    database: 'test',
  });
  beforeAll(async () => {
    if (!available) return;
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
  });
  afterAll(async () => {
    if (!available) return;
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  });

  it.runIf(available)('shares keys between two instances on one database', async () => {
    const url = `postgres://postgres@127.0.0.1:5432/${database}`;
    await sharedLifecycle(url, /added to the PostgreSQL store \(table curfew_api_keys\);/);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT name, record FROM curfew_api_keys ORDER BY id');
      expect(rows.map((row) => row.name)).toEqual(['billing', 'reports']);
      // Hashes only: no row holds anything shaped like a key.
      for (const row of rows) expect(row.record).not.toMatch(/cfk_/);
    } finally {
      await client.end();
    }
  });

  it.runIf(available)(
    'takes over the keys of a key file left in the data folder from before',
    async () => {
      const url = `postgres://postgres@127.0.0.1:5432/${database}`;
      const cwd = process.cwd();
      const work = join(dir, 'legacy');
      const left = 'legacy-key-0123456789abcdefghijklmnopq';
      await rm(work, { recursive: true, force: true });
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(work, 'data'), { recursive: true });
      await writeFile(
        join(work, 'data', 'api-keys'),
        `${formatApiKeyLine({ name: 'legacy', tenantId: 'acme', scope: 'sessions', sha256: hashApiKey(left) })}\n`,
      );
      process.chdir(work);
      let banner = '';
      const server = await startServer(loadConfig(envFor(url)), {
        write: (text) => (banner += text),
      });
      try {
        expect(banner).toMatch(/1 copied from .*data\/api-keys into the store/);
        expect(await status(server, left)).toBe(200);
      } finally {
        await server.close();
        process.chdir(cwd);
      }
      // Revoked in the store, it stays revoked: the file is not copied over it again.
      await keysCli(envFor(url), 'revoke', '--name', 'legacy');
      process.chdir(work);
      try {
        const again = await startServer(loadConfig(envFor(url)), { write: () => {} });
        expect(await status(again, left)).toBe(401);
        await again.close();
      } finally {
        process.chdir(cwd);
      }
    },
  );
});

describe('MariaDB: a table', async () => {
  const available = await sharedMariadbAvailable();
  const database = unique('curfew_keys');
  const admin = () => createConnection({ host: '127.0.0.1', port: 3306, user: 'root' });
  beforeAll(async () => {
    if (!available) return;
    const connection = await admin();
    await connection.query(`CREATE DATABASE \`${database}\``);
    await connection.end();
  });
  afterAll(async () => {
    if (!available) return;
    const connection = await admin();
    await connection.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await connection.end();
  });

  it.runIf(available)('shares keys between two instances on one database', async () => {
    await sharedLifecycle(
      `mysql://root@127.0.0.1:3306/${database}`,
      /added to the MySQL store \(table curfew_api_keys\);/,
    );
  });
});

describe('Redis: a hash', async () => {
  const available = await sharedRedisAvailable();
  // A db index no other suite uses.
  const url = 'redis://127.0.0.1:6379/10';
  const flush = async () => {
    const client = new Redis(url);
    await client.flushdb();
    client.disconnect();
  };
  beforeAll(async () => {
    if (available) await flush();
  });
  afterAll(async () => {
    if (available) await flush();
  });

  it.runIf(available)('shares keys between two instances on one Redis', async () => {
    await sharedLifecycle(url, /added to the Redis store \(hash curfew:\{api-keys\}\);/);
  });
});
