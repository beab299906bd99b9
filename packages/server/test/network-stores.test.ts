// The service and the CLI on PostgreSQL, MariaDB, Redis and a three-master Redis Cluster: each
// configured only by its CURFEW_STORE URL, as an operator would. The shared servers get a
// database (or Redis db index) of their own; the cluster and the eviction check get private
// redis-servers. Locally an unreachable server skips its block loudly; in CI it fails.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedMariadbAvailable } from '../../curfew/test/support/mysql.js';
import { sharedPostgresAvailable } from '../../curfew/test/support/postgres.js';
import { sharedRedisAvailable } from '../../curfew/test/support/redis.js';
import {
  type RedisClusterHarness,
  startRedisCluster,
} from '../../curfew/test/support/redis-cluster.js';
import { type PrivateRedis, startPrivateRedis } from '../../curfew/test/support/redis-server.js';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/serve.js';
import { runCapturedCli } from './support/cli.js';

const KEY = 'network-store-key-0123456789abcdefghijkl';
const unique = (prefix: string) => `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'curfew-network-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function envFor(store: string): NodeJS.ProcessEnv {
  return {
    CURFEW_STORE: store,
    CURFEW_API_KEYS: `ops:${KEY}:*`,
    CURFEW_API_KEYS_FILE: join(dir, 'no-key-file'),
    CURFEW_PORT: '0',
    CURFEW_SWEEP_INTERVAL: '0',
    CURFEW_LOG_LEVEL: 'silent',
  };
}

async function cli(env: NodeJS.ProcessEnv, ...argv: string[]) {
  return runCapturedCli(env, argv);
}

async function serve(env: NodeJS.ProcessEnv): Promise<RunningServer & { banner: string }> {
  let banner = '';
  const server = await startServer(loadConfig(env), { write: (text) => (banner += text) });
  return Object.assign(server, { banner });
}

async function call(server: RunningServer, method: string, path: string, body?: unknown) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the tests read answers by path and compare them.
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

/** The walk-through every store must pass: migrate, serve, every kind of call, stats, stop. */
async function walkThrough(store: string, migrates: boolean): Promise<void> {
  const env = envFor(store);
  const migrated = await cli(env, 'migrate');
  expect(migrated.stderr).toBe('');
  expect(migrated.code).toBe(0);
  expect(migrated.stdout).toMatch(
    migrates ? /schema (0 -> \d+|is up to date)/ : /nothing to migrate/,
  );
  // A second run (a second instance's deploy step) finds nothing left to do.
  if (migrates) expect((await cli(env, 'migrate')).stdout).toMatch(/schema is up to date/);

  const server = await serve(env);
  try {
    expect(server.banner).toContain(`store   ${loadConfig(env).storeUrl}`);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    // The clock skew to the store was measured at start: this machine and its store agree.
    const metrics = await fetch(`${server.url}/metrics`, {
      headers: { authorization: `Bearer ${KEY}` },
    });
    const skew = /^curfew_store_clock_skew_seconds (\S+)$/m.exec(await metrics.text())?.[1];
    expect(skew).toBeDefined();
    expect(Math.abs(Number(skew))).toBeLessThan(1);

    const userId = unique('user');
    const first = await call(server, 'POST', '/v1/sessions', { userId, userAgent: 'test/1' });
    expect(first.status).toBe(201);
    const second = await call(server, 'POST', '/v1/sessions', { userId, tenantId: 'acme' });
    expect(second.status).toBe(201);

    const valid = await call(server, 'POST', '/v1/sessions/validate', { token: first.body.token });
    expect(valid.body).toMatchObject({ valid: true, session: { userId, userAgent: 'test/1' } });
    const listed = await call(server, 'GET', `/v1/users/${userId}/sessions`);
    expect(listed.body.sessions.map((s: { id: string }) => s.id).sort()).toEqual(
      [first.body.session.id, second.body.session.id].sort(),
    );
    const rotated = await call(server, 'POST', '/v1/sessions/rotate', { token: second.body.token });
    expect(rotated.status).toBe(200);
    expect(
      (await call(server, 'POST', '/v1/sessions/revoke', { token: first.body.token })).body,
    ).toEqual({ revoked: true });
    expect(
      (await call(server, 'POST', '/v1/sessions/validate', { token: first.body.token })).body,
    ).toMatchObject({ valid: false, reason: 'not_found' });
    expect(
      (await call(server, 'POST', '/v1/sessions/validate', { token: second.body.token })).body,
    ).toMatchObject({ valid: false, reason: 'not_found' });
    expect(
      (await call(server, 'POST', '/v1/sessions/validate', { token: rotated.body.token })).body,
    ).toMatchObject({ valid: true });

    // The CLI works on the same store directly, beside the running service.
    const stats = await cli(env, 'stats', '--json');
    expect(stats.code).toBe(0);
    const report = JSON.parse(stats.stdout);
    expect(report.activeNow).toBeGreaterThanOrEqual(1);
    expect(report.endedByReason.logout).toBeGreaterThanOrEqual(1);
    const list = await cli(env, 'sessions', 'list', '--user', userId, '--tenant', 'acme', '--json');
    expect(JSON.parse(list.stdout).sessions.map((s: { id: string }) => s.id)).toEqual([
      second.body.session.id,
    ]);
    const revoked = await cli(
      env,
      'sessions',
      'revoke',
      '--user',
      userId,
      '--reason',
      'admin_revoke',
    );
    expect(revoked.code).toBe(0);
    expect(
      (await call(server, 'POST', '/v1/sessions/validate', { token: rotated.body.token })).body,
    ).toMatchObject({ valid: false, reason: 'not_found' });
  } finally {
    await server.close();
  }
}

describe('PostgreSQL (postgres://)', async () => {
  const available = await sharedPostgresAvailable();
  const database = unique('curfew_srv');
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

  it.runIf(available)('migrates, serves every call, and answers the CLI', async () => {
    await walkThrough(`postgres://postgres@127.0.0.1:5432/${database}`, true);
  });

  it.runIf(available)('stops start-up in one line when the database is unreachable', async () => {
    const started = await cli(
      {
        ...envFor('postgres://postgres:s3cret@127.0.0.1:1/nowhere'),
        CURFEW_STORE_TIMEOUT: '500ms',
      },
      'serve',
    );
    expect(started.code).toBe(1);
    expect(started.stderr.trim().split('\n')).toHaveLength(1);
    expect(started.stderr).toMatch(
      /^curfew: cannot open the store postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/nowhere: /,
    );
    expect(started.stderr).not.toContain('s3cret');
  });
});

describe('MariaDB (mysql://)', async () => {
  const available = await sharedMariadbAvailable();
  const database = unique('curfew_srv');
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

  it.runIf(available)('migrates, serves every call, and answers the CLI', async () => {
    await walkThrough(`mysql://root@127.0.0.1:3306/${database}`, true);
  });
});

describe('Redis (redis://)', async () => {
  const available = await sharedRedisAvailable();
  // A db index no other suite uses (they share db 0, each with key prefixes of its own).
  const url = 'redis://127.0.0.1:6379/9';
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

  it.runIf(available)('serves every call and answers the CLI', async () => {
    await walkThrough(url, false);
  });
});

describe('Redis Cluster (redis+cluster://)', () => {
  let cluster: RedisClusterHarness;
  beforeAll(async () => {
    cluster = await startRedisCluster(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('serves every call from the seed nodes in the URL', async () => {
    const nodes = cluster.ports.map((port) => `127.0.0.1:${port}`).join(',');
    await walkThrough(`redis+cluster://${nodes}`, false);
  }, 30_000);
});

describe('Redis eviction policy and persistence', () => {
  let redis: PrivateRedis;
  beforeAll(async () => {
    redis = await startPrivateRedis(['--maxmemory', '64mb', '--maxmemory-policy', 'allkeys-lru']);
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('names a policy that could drop session keys in a warning at start-up', async () => {
    const server = await serve(envFor(`redis://127.0.0.1:${redis.port}`));
    try {
      expect(server.banner).toMatch(/WARNING .*allkeys-lru/);
    } finally {
      await server.close();
    }
  });

  it('says at start-up that a Redis without AOF or RDB loses every session when it restarts', async () => {
    const url = `redis://127.0.0.1:${redis.port}`;
    const volatile = await serve(envFor(url));
    await volatile.close();
    expect(volatile.banner).toMatch(
      new RegExp(`WARNING .*only in memory on 127\\.0\\.0\\.1:${redis.port} .*appendonly yes`),
    );
    const client = new Redis(url);
    try {
      await client.config('SET', 'appendonly', 'yes');
      const durable = await serve(envFor(url));
      await durable.close();
      expect(durable.banner).not.toMatch(/only in memory/);
      expect(durable.banner).toMatch(/allkeys-lru/);
    } finally {
      await client.config('SET', 'appendonly', 'no');
      client.disconnect();
    }
  });
});
