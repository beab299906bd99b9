// The shared Redis the store suites use (127.0.0.1:6379), helpers that give each test case a key
// prefix of its own so files can run in parallel against one server, and a checker that reads
// back every key a store wrote and compares the indexes with the records.
import { randomBytes } from 'node:crypto';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { expect } from 'vitest';
import { RECOMMENDED_REDIS_OPTIONS } from '../../src/stores/redis/index.js';
import { serviceAvailable } from './services.js';

export const SHARED_REDIS = { host: '127.0.0.1', port: 6379 } as const;

/** Whether the shared server answers; loud skip locally, failure in CI. */
export function sharedRedisAvailable(): Promise<boolean> {
  return serviceAvailable('Redis', async () => {
    const client = new Redis({ ...SHARED_REDIS, lazyConnect: true, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
    } finally {
      client.disconnect();
    }
  });
}

/** A connected client with the options the store documents, on the shared server by default. */
export async function openRedis(options: RedisOptions = {}): Promise<Redis> {
  const client = new Redis({
    ...SHARED_REDIS,
    ...RECOMMENDED_REDIS_OPTIONS,
    lazyConnect: true,
    ...options,
  });
  // Connection errors surface as failed commands; an unhandled 'error' event would end the run.
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A key prefix no other test case, file or run uses. */
export function uniquePrefix(name: string): string {
  return `curfew-test:${name}:${process.pid}-${randomBytes(4).toString('hex')}:`;
}

/** The servers holding data: each master of a cluster, or the client itself. */
export function serversOf(client: Redis | Cluster): Redis[] {
  return client.isCluster ? (client as Cluster).nodes('master') : [client as Redis];
}

/** Every key under `prefix`, on every server. */
export async function scanKeys(client: Redis | Cluster, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for (const server of serversOf(client)) {
    let cursor = '0';
    do {
      const [next, batch] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

/** Removes every key under `prefix`. */
export async function deleteKeys(client: Redis | Cluster, prefix: string): Promise<void> {
  for (const server of serversOf(client)) {
    let cursor = '0';
    do {
      const [next, batch] = await server.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      // One key per UNLINK: on a cluster node, keys of one batch may sit in different slots.
      await Promise.all(batch.map((key) => server.unlink(key)));
    } while (cursor !== '0');
  }
}

interface Row {
  id: string;
  bucket: string;
  fields: Record<string, string>;
}

/** What {@link inspectKeys} found, for assertions beyond its own. */
export interface KeyReport {
  keys: number;
  records: Row[];
  active: Row[];
  ended: Row[];
}

/**
 * Reads every key under `prefix` and checks the layout's invariants:
 * - every key has a TTL (PTTL > 0: never -1);
 * - with `now` (the real time, when the test's clock follows it): a live session's token pointer
 *   expires by its absolute expiry, every record by its absolute expiry (or end) plus retention;
 * - each user index holds exactly the user's active sessions, `exp`/`act` exactly the bucket's
 *   active sessions with their absolute expiry and last activity, `end` only ended ones;
 * - every active session's token pointer and id pointer lead to it.
 */
export async function inspectKeys(
  client: Redis | Cluster,
  prefix: string,
  options: { now?: number; retention?: number } = {},
): Promise<KeyReport> {
  const retention = options.retention ?? 30 * 86_400_000;
  // A little room for the time between the write and this read.
  const slack = 2_000;
  const keys = await scanKeys(client, prefix);
  const ttl = new Map<string, number>();
  for (let i = 0; i < keys.length; i += 1_000) {
    const batch = keys.slice(i, i + 1_000);
    const ttls = await Promise.all(batch.map((key) => client.pttl(key)));
    batch.forEach((key, j) => {
      ttl.set(key, ttls[j]!);
    });
  }
  const withoutTtl = keys.filter((key) => ttl.get(key) === -1);
  expect(withoutTtl, 'keys without a TTL').toEqual([]);

  const records: Row[] = [];
  const userSets = new Map<string, Set<string>>();
  const zsets = new Map<string, Map<string, number>>();
  const pointers = new Map<string, string>();
  const read = async (key: string) => {
    const rest = key.slice(prefix.length);
    const tagged = /^\{(\d+)\}:(.*)$/.exec(rest);
    if (tagged === null) {
      const value = await client.get(key);
      if (value !== null) pointers.set(rest, value);
      return;
    }
    const bucket = tagged[1]!;
    const name = tagged[2]!;
    if (name.startsWith('s:')) {
      const fields = await client.hgetall(key);
      if (Object.keys(fields).length > 0) records.push({ id: name.slice(2), bucket, fields });
    } else if (name.startsWith('u:')) {
      userSets.set(`${bucket}/${name.slice(2)}`, new Set(await client.smembers(key)));
    } else if (name === 'exp' || name === 'act' || name === 'end') {
      const flat = await client.zrange(key, 0, -1, 'WITHSCORES');
      const scores = new Map<string, number>();
      for (let i = 0; i + 1 < flat.length; i += 2) scores.set(flat[i]!, Number(flat[i + 1]));
      zsets.set(`${bucket}/${name}`, scores);
    } else {
      throw new Error(`unexpected key ${key}`);
    }
  };
  const present = keys.filter((key) => ttl.get(key) !== -2); // -2: expired since the scan
  for (let i = 0; i < present.length; i += 500) {
    await Promise.all(present.slice(i, i + 500).map(read));
  }

  const active = records.filter((r) => r.fields.ea === undefined);
  const ended = records.filter((r) => r.fields.ea !== undefined);
  if (options.now !== undefined) {
    const now = options.now;
    for (const row of records) {
      const limit = Number(row.fields.ea ?? row.fields.ax) + retention - now + slack;
      expect(ttl.get(`${prefix}{${row.bucket}}:s:${row.id}`)).toBeLessThanOrEqual(limit);
    }
    for (const row of active) {
      const pointerTtl = ttl.get(`${prefix}t:${row.fields.th}`);
      expect(pointerTtl, 'a live token pointer expires by the absolute expiry').toBeLessThanOrEqual(
        Number(row.fields.ax) - now + slack,
      );
    }
  }

  // Expected indexes, from the records alone.
  const expectUsers = new Map<string, Set<string>>();
  const expectZ = new Map<string, Map<string, number>>();
  const zset = (name: string) => {
    let scores = expectZ.get(name);
    if (scores === undefined) {
      scores = new Map();
      expectZ.set(name, scores);
    }
    return scores;
  };
  for (const row of records) {
    const member = `${row.fields.uh}:${row.id}`;
    if (row.fields.ea === undefined) {
      const users = `${row.bucket}/${row.fields.uh}`;
      if (!expectUsers.has(users)) expectUsers.set(users, new Set());
      expectUsers.get(users)!.add(row.id);
      zset(`${row.bucket}/exp`).set(member, Number(row.fields.ax));
      zset(`${row.bucket}/act`).set(member, Number(row.fields.la));
      expect(pointers.get(`t:${row.fields.th}`)).toBe(`${row.bucket}:${row.id}`);
      expect(pointers.get(`i:${row.id}`)).toBe(row.bucket);
    } else {
      zset(`${row.bucket}/end`).set(member, Number(row.fields.ea));
    }
  }
  const nonEmpty = <T extends { size: number }>(map: Map<string, T>) =>
    new Map([...map].filter(([, value]) => value.size > 0));
  expect(sortedEntries(nonEmpty(userSets)), 'user indexes = active sessions').toEqual(
    sortedEntries(expectUsers),
  );
  const actualZ = nonEmpty(zsets);
  for (const name of new Set([...actualZ.keys(), ...expectZ.keys()])) {
    const actual = actualZ.get(name) ?? new Map<string, number>();
    const wanted = expectZ.get(name) ?? new Map<string, number>();
    if (name.endsWith('/end')) {
      // Purged records leave the `end` index with them; records that Redis expired leave entries
      // that the next end in the bucket trims. Every ended record must be listed, though.
      for (const [member, score] of wanted) expect(actual.get(member)).toBe(score);
    } else {
      expect([...actual].sort(), `index ${name}`).toEqual([...wanted].sort());
    }
  }
  return { keys: keys.length, records, active, ended };
}

function sortedEntries(map: Map<string, Set<string>>): Array<[string, string[]]> {
  return [...map].map(([key, set]): [string, string[]] => [key, [...set].sort()]).sort();
}
