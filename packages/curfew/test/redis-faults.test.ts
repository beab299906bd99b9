// RedisStore when Redis has trouble, each case on a private redis-server that this file starts on
// a spare loopback port (never the shared one): killed and restarted under load, out of memory,
// its script cache flushed, an eviction policy that could drop session keys.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { CurfewError } from '../src/core/errors.js';
import { SessionManager } from '../src/core/manager.js';
import {
  checkRedisEvictionPolicy,
  checkRedisPersistence,
  type RedisClientLike,
  RedisStore,
} from '../src/stores/redis/index.js';
import { inspectKeys, openRedis } from './support/redis.js';
import { type PrivateRedis, startPrivateRedis } from './support/redis-server.js';
import { serviceAvailable } from './support/services.js';

const servers: PrivateRedis[] = [];
const clients: Redis[] = [];

async function privateRedis(args: string[]): Promise<{ server: PrivateRedis; client: Redis }> {
  const server = await startPrivateRedis(args, { name: 'fault' });
  servers.push(server);
  const client = await openRedis({ port: server.port });
  clients.push(client);
  return { server, client };
}

const available = await serviceAvailable('redis-server (private, for fault tests)', async () => {
  const { server } = await privateRedis([]);
  await server.stop();
});

afterAll(async () => {
  for (const client of clients) client.disconnect();
  await Promise.all(servers.map((server) => server.stop()));
});

describe.skipIf(!available)('RedisStore when Redis has trouble (private redis-server)', () => {
  it('fails fast while Redis is down, recovers by itself, and keeps what it acknowledged', async () => {
    // appendfsync always: an acknowledged write is on disk before the reply, as a production
    // Redis configured for sessions would have it, so a kill loses nothing acknowledged.
    const { server, client } = await privateRedis([
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
    ]);
    const sessions = new SessionManager({ store: new RedisStore(client) });

    type Outcome = { op: string; start: number; end: number; ok: boolean; error?: unknown };
    const outcomes: Outcome[] = [];
    const created = new Map<string, string>(); // token → session id, acknowledged creates
    const revokeTried = new Set<string>();
    const revoked = new Set<string>(); // revokes that returned true
    for (let i = 0; i < 40; i += 1) {
      const { token, session } = await sessions.create({ userId: `seed-${i % 8}` });
      created.set(token, session.id);
    }
    let stopping = false;
    const worker = async (w: number) => {
      for (let n = 0; !stopping; n += 1) {
        const candidates = [...created.keys()].filter((t) => !revokeTried.has(t));
        const token = candidates[(n * 31 + w) % candidates.length]!;
        // Revoke one in ten, and never drain the pool: during the outage nothing new is created.
        const op =
          n % 10 === 9 && candidates.length > 20 ? 'revoke' : n % 10 < 7 ? 'validate' : 'create';
        const start = performance.now();
        try {
          if (op === 'validate') {
            await sessions.validate(token);
          } else if (op === 'create') {
            const issued = await sessions.create({ userId: `load-${w}` });
            created.set(issued.token, issued.session.id);
          } else {
            revokeTried.add(token);
            if (await sessions.revoke(token)) revoked.add(token);
          }
          outcomes.push({ op, start, end: performance.now(), ok: true });
        } catch (error) {
          outcomes.push({ op, start, end: performance.now(), ok: false, error });
        }
        await sleep(3); // a bounded load: about 300 requests a second per worker
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));

    await sleep(500);
    const killedAt = performance.now();
    await server.kill('SIGKILL');
    await sleep(1_500);
    const restartAt = performance.now();
    await server.start();
    const upAt = performance.now();
    const deadline = upAt + 10_000;
    while (!outcomes.some((o) => o.ok && o.start > upAt) && performance.now() < deadline) {
      await sleep(50);
    }
    await sleep(300);
    stopping = true;
    await load;

    // Every failure is the library's STORE_UNAVAILABLE, never a raw driver error or a hang.
    const failures = outcomes.filter((o) => !o.ok);
    expect(failures.length).toBeGreaterThan(0);
    for (const failure of failures) {
      expect(failure.error).toBeInstanceOf(CurfewError);
      expect((failure.error as CurfewError).code).toBe('STORE_UNAVAILABLE');
    }
    const slowest = Math.max(...outcomes.map((o) => o.end - o.start));
    expect(slowest).toBeLessThan(2_500); // the client's commandTimeout (2 s) bounds everything
    const firstFailure = Math.min(...failures.map((o) => o.end));
    expect(firstFailure - killedAt).toBeLessThan(1_000);
    // Nothing that started while Redis was down succeeded.
    const duringOutage = outcomes.filter((o) => o.start > killedAt + 50 && o.end < restartAt);
    expect(duringOutage.length).toBeGreaterThan(0);
    expect(duringOutage.filter((o) => o.ok)).toEqual([]);
    // It recovered by itself: same client, same store, no intervention.
    const recovered = outcomes.filter((o) => o.ok && o.start > upAt);
    expect(recovered.length).toBeGreaterThan(0);
    expect(Math.min(...recovered.map((o) => o.end)) - upAt).toBeLessThan(5_000);

    // Every acknowledged session is still there; no revoked session came back.
    let checkedLive = 0;
    for (const [token, id] of created) {
      const result = await sessions.validate(token, { touch: false });
      if (revoked.has(token)) {
        expect(result, `revoked ${id}`).toEqual({
          valid: false,
          reason: 'not_found',
          endReason: 'logout',
        });
      } else if (!revokeTried.has(token)) {
        expect(result.valid, `acknowledged ${id}`).toBe(true);
        checkedLive += 1;
      }
      // A revoke that failed may or may not have reached Redis: either answer is right.
    }
    expect(revoked.size).toBeGreaterThan(0);
    expect(checkedLive).toBeGreaterThan(10);
  }, 60_000);

  it('out of memory (noeviction): creates fail whole, validation and revocation still work', async () => {
    const { client } = await privateRedis([
      '--maxmemory',
      '3mb',
      '--maxmemory-policy',
      'noeviction',
    ]);
    const prefix = 'oom:';
    const sessions = new SessionManager({
      store: new RedisStore(client, { prefix }),
      policy: { activityWriteInterval: 0 },
    });
    const issued: Array<{ token: string; id: string }> = [];
    let failure: unknown;
    for (let i = 0; i < 100_000 && failure === undefined; i += 1) {
      try {
        const { token, session } = await sessions.create({
          userId: `user-${i % 50}`,
          userAgent: `agent ${'x'.repeat(400)}`,
        });
        issued.push({ token, id: session.id });
      } catch (error) {
        failure = error;
      }
    }
    expect(failure).toBeInstanceOf(CurfewError);
    expect((failure as CurfewError).code).toBe('STORE_UNAVAILABLE');
    expect(String((failure as CurfewError).cause)).toMatch(/OOM/);
    expect(issued.length).toBeGreaterThan(100);
    // Still full: another create of the same size fails the same way (a smaller one may still
    // fit in what is left), and nothing was half-written.
    await expect(
      sessions.create({ userId: 'late', userAgent: `agent ${'x'.repeat(400)}` }),
    ).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    const report = await inspectKeys(client, prefix);
    expect(report.active).toHaveLength(issued.length);

    // Users already signed in keep working (activity is not recorded while Redis is full)…
    const first = issued[0]!;
    await expect(sessions.validate(first.token)).resolves.toMatchObject({ valid: true });
    // …and revocation, a security control, works on a full server: one that refuses other writes.
    await expect(client.set(`${prefix}probe`, 'x')).rejects.toThrow(/OOM/);
    const second = issued[1]!;
    expect(await sessions.revoke(second.token)).toBe(true);
    expect((await sessions.validate(second.token)).valid).toBe(false);
    expect(await sessions.revokeUserSessions('user-2')).toBeGreaterThan(0);
    await inspectKeys(client, prefix);

    // Room again: the same client creates sessions again, no restart needed.
    await client.config('SET', 'maxmemory', '0');
    await expect(sessions.create({ userId: 'after' })).resolves.toMatchObject({
      session: { active: true },
    });
  }, 60_000);

  it('reloads its scripts when Redis forgot them (restart, failover, SCRIPT FLUSH)', async () => {
    const { client } = await privateRedis([]);
    const sessions = new SessionManager({ store: new RedisStore(client) });
    const { token } = await sessions.create({ userId: 'flush' });
    await client.script('FLUSH');
    expect((await sessions.validate(token)).valid).toBe(true);
    expect(await sessions.revoke(token)).toBe(true);
  });

  it('names an eviction policy that could drop session keys', async () => {
    const { client } = await privateRedis([
      '--maxmemory',
      '64mb',
      '--maxmemory-policy',
      'noeviction',
    ]);
    const store = new RedisStore(client);
    expect(await store.checkEvictionPolicy()).toMatchObject({ status: 'safe', message: null });

    for (const policy of ['allkeys-lru', 'volatile-lru', 'volatile-ttl', 'allkeys-random']) {
      await client.config('SET', 'maxmemory-policy', policy);
      const report = await store.checkEvictionPolicy();
      expect(report.status).toBe('at-risk');
      expect(report.message).toContain(policy);
      expect(report.message).toContain(`127.0.0.1:${client.options.port}`);
    }
    // Without a memory limit Redis never evicts, whatever the policy says.
    await client.config('SET', 'maxmemory', '0');
    expect((await store.checkEvictionPolicy()).status).toBe('safe');
  });
});

describe.skipIf(!available)('checkRedisPersistence', () => {
  it('tells a Redis that keeps sessions only in memory from one with AOF or RDB', async () => {
    const { client } = await privateRedis([]);
    const store = new RedisStore(client);
    const node = `127.0.0.1:${client.options.port}`;
    const volatile = await store.checkPersistence();
    expect(volatile).toMatchObject({
      status: 'volatile',
      nodes: [{ node, appendonly: false, save: '', durable: false }],
    });
    expect(volatile.message).toContain(node);
    await client.config('SET', 'save', '3600 1');
    expect(await store.checkPersistence()).toMatchObject({ status: 'durable', message: null });
    await client.config('SET', 'save', '');
    await client.config('SET', 'appendonly', 'yes');
    expect(await store.checkPersistence()).toMatchObject({
      status: 'durable',
      nodes: [{ appendonly: true, durable: true }],
    });
  });

  it('answers unknown without CONFIG, and says what to check', async () => {
    const refusing: RedisClientLike = {
      callBuffer: async () => null,
      ping: async () => 'PONG',
      config: async () => {
        throw new Error("ERR unknown command 'CONFIG'");
      },
    };
    const report = await checkRedisPersistence(refusing);
    expect(report.status).toBe('unknown');
    expect(report.message).toMatch(/append-only file or RDB snapshots/);
  });
});

describe('checkRedisEvictionPolicy without CONFIG (managed services)', () => {
  it('answers unknown and says what to check', async () => {
    // A narrow stub: only the refusal path, which a real server cannot show without renaming CONFIG.
    const refusing: RedisClientLike = {
      callBuffer: async () => null,
      ping: async () => 'PONG',
      config: async () => {
        throw new Error("ERR unknown command 'CONFIG'");
      },
    };
    const report = await checkRedisEvictionPolicy(refusing);
    expect(report.status).toBe('unknown');
    expect(report.message).toMatch(/noeviction/);
  });
});
