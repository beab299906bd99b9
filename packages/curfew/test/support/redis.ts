// The shared Redis the store suites use (127.0.0.1:6379), helpers that give each test case a key
// prefix of its own so files can run in parallel against one server, and a checker that reads
// back every key a store wrote and compares the indexes with the records.
import { createHash, randomBytes } from 'node:crypto';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { expect } from 'vitest';
import type { StoredSession } from '../../src/core/store.js';
import { decodeRecord } from '../../src/stores/redis/codec.js';
import { RECOMMENDED_REDIS_OPTIONS } from '../../src/stores/redis/index.js';
import { decodeId, encodeId } from '../../src/stores/redis/key-layout.js';
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

/** Every key under `prefix`, on every server (keys hold raw bytes, so as Buffers). */
export async function scanKeys(client: Redis | Cluster, prefix: string): Promise<Buffer[]> {
  const keys: Buffer[] = [];
  for (const server of serversOf(client)) {
    let cursor = '0';
    do {
      const [next, batch] = await server.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = String(next);
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
      const [next, batch] = await server.scanBuffer(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = String(next);
      // One key per UNLINK: on a cluster node, keys of one batch may sit in different slots.
      await Promise.all(batch.map((key) => server.unlink(key)));
    } while (cursor !== '0');
  }
}

interface Row {
  id: string;
  bucket: string;
  session: StoredSession;
}

/** What {@link inspectKeys} found, for assertions beyond its own. */
export interface KeyReport {
  keys: number;
  records: Row[];
  active: Row[];
  ended: Row[];
}

const sha1 = (text: string) => createHash('sha1').update(text, 'utf8').digest('hex').slice(0, 20);
/** The scope and user names of key-layout.ts, computed here independently of the scripts. */
const scopeOf = (s: StoredSession) =>
  sha1(s.tenantId === null ? `${s.userId}\u0000` : `${s.userId}\u0000=${s.tenantId}`);
const userOf = (s: StoredSession) => sha1(s.userId);
const tenantOf = (s: StoredSession) => sha1(s.tenantId === null ? '\u0000' : `=${s.tenantId}`);
/** A scope index member as stored (key-layout.ts), and as this checker shows one. */
const memberOf = (s: StoredSession) =>
  Buffer.concat([Buffer.from(`${String(s.lastActivityAt).padStart(16, '0')}:`), encodeId(s.id)]);
const showMember = (member: Buffer) =>
  `${member.toString('latin1', 0, 17)}${decodeId(member.subarray(17))}`;
/** A token pointer's value, `<bucket>:<id as stored>`, as this checker shows it. */
const showPointer = (value: Buffer) => {
  const colon = value.indexOf(0x3a);
  return `${value.toString('latin1', 0, colon)}:${decodeId(value.subarray(colon + 1))}`;
};

/**
 * Reads every key under `prefix` and checks the layout's invariants (key-layout.ts):
 * - every key has a TTL (PTTL > 0: never -1);
 * - with `now` (the real time, when the test's clock follows it): every record, and the token
 *   pointer of every active one, expires by its absolute expiry (or end) plus retention; and
 *   nothing an active session needs expires before that: its record, its pointers and every
 *   index listing it (`exp`, `act`, its scope index, its user's and its tenant's scope sets)
 *   last at least as long, also after a reauthentication moved its absolute expiry;
 * - every record holds a level from 1 to 3, methods as the contract allows them, and
 *   `createdAt <= authenticatedAt <= lastActivityAt`;
 * - each scope index holds exactly the scope's active sessions, in order, each user's scope set
 *   exactly its scopes with active sessions, `exp`/`act` exactly the bucket's active sessions
 *   with their absolute expiry and last activity, `end` every ended one;
 * - every active session's token pointer (and id pointer, with more than one bucket) leads to it.
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
  const hexOf = (key: Buffer) => key.toString('hex');
  for (let i = 0; i < keys.length; i += 1_000) {
    const batch = keys.slice(i, i + 1_000);
    const ttls = await Promise.all(batch.map((key) => client.pttl(key)));
    batch.forEach((key, j) => {
      ttl.set(hexOf(key), ttls[j]!);
    });
  }
  const withoutTtl = keys.filter((key) => ttl.get(hexOf(key)) === -1).map(String);
  expect(withoutTtl, 'keys without a TTL').toEqual([]);

  const records: Row[] = [];
  const scopes = new Map<string, string[]>();
  const userScopes = new Map<string, Set<string>>();
  const tenantScopes = new Map<string, Set<string>>();
  const zsets = new Map<string, Map<string, number>>();
  const tokenPointers = new Map<string, string>();
  const idPointers = new Map<string, string>();
  const prefixBytes = Buffer.byteLength(prefix);
  const read = async (key: Buffer) => {
    // Keys hold ids and hashes as bytes (key-layout.ts): read them as such.
    const rest = key.subarray(prefixBytes);
    const head = rest.toString('latin1', 0, 2);
    if (head === 't:') {
      const value = await client.getBuffer(key);
      if (value !== null) tokenPointers.set(rest.subarray(2).toString('hex'), showPointer(value));
      return;
    }
    if (head === 'i:') {
      const value = await client.get(key);
      if (value !== null) idPointers.set(decodeId(rest.subarray(2)), value);
      return;
    }
    const close = rest.indexOf('}:');
    const bucket = rest.toString('latin1', 1, close);
    if (rest[0] !== 0x7b || !/^\d+$/.test(bucket)) throw new Error(`unexpected key ${String(key)}`);
    const nameBytes = rest.subarray(close + 2);
    const name = nameBytes.toString('latin1');
    if (name.startsWith('s:')) {
      const value = await client.getBuffer(key);
      if (value !== null) {
        const id = decodeId(nameBytes.subarray(2));
        records.push({ id, bucket, session: decodeRecord(id, value) });
      }
    } else if (name.startsWith('ut:')) {
      userScopes.set(`${bucket}/${name.slice(3)}`, new Set(await client.smembers(key)));
    } else if (name.startsWith('u:')) {
      expect(new Set(await client.zrange(key, 0, -1, 'WITHSCORES')).has('0')).toBe(true);
      const members = await client.zrangeBuffer(key, 0, -1);
      scopes.set(`${bucket}/${name.slice(2)}`, members.map(showMember));
    } else if (name.startsWith('ts:')) {
      tenantScopes.set(`${bucket}/${name.slice(3)}`, new Set(await client.zrange(key, 0, -1)));
    } else if (name === 'exp' || name === 'act' || name === 'end') {
      const flat = await client.zrangeBuffer(key, 0, -1, 'WITHSCORES');
      const scores = new Map<string, number>();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        scores.set(decodeId(flat[i]!), Number(String(flat[i + 1])));
      }
      zsets.set(`${bucket}/${name}`, scores);
    } else {
      throw new Error(`unexpected key ${String(key)}`);
    }
  };
  const present = keys.filter((key) => ttl.get(hexOf(key)) !== -2); // -2: expired since the scan
  for (let i = 0; i < present.length; i += 500) {
    await Promise.all(present.slice(i, i + 500).map(read));
  }

  const active = records.filter((r) => r.session.endedAt === null);
  const ended = records.filter((r) => r.session.endedAt !== null);
  const recordKey = (row: Row) =>
    hexOf(Buffer.concat([Buffer.from(`${prefix}{${row.bucket}}:s:`), encodeId(row.id)]));
  const tokenKey = (row: Row) =>
    hexOf(Buffer.concat([Buffer.from(`${prefix}t:`), Buffer.from(row.session.tokenHash, 'hex')]));
  for (const { id, session: s } of records) {
    expect([1, 2, 3], `level of ${id}`).toContain(s.aal);
    expect(s.methods.length, `methods of ${id}`).toBeLessThanOrEqual(8);
    for (const method of s.methods) expect(method).toMatch(/^[A-Za-z0-9_.:-]{1,32}$/);
    expect(s.authenticatedAt, `authenticatedAt of ${id}`).toBeGreaterThanOrEqual(s.createdAt);
    expect(s.authenticatedAt, `authenticatedAt of ${id}`).toBeLessThanOrEqual(s.lastActivityAt);
  }
  const withIdPointers = idPointers.size > 0 || new Set(records.map((r) => r.bucket)).size > 1;
  if (options.now !== undefined) {
    const now = options.now;
    const named = (bucket: string, name: string) =>
      hexOf(Buffer.from(`${prefix}{${bucket}}:${name}`));
    for (const row of records) {
      const s = row.session;
      const keep = (s.endedAt ?? s.absoluteExpiresAt) + retention - now;
      expect(ttl.get(recordKey(row))).toBeLessThanOrEqual(keep + slack);
      if (s.endedAt !== null) continue;
      expect(ttl.get(tokenKey(row)), 'a token pointer expires with its record').toBeLessThanOrEqual(
        keep + slack,
      );
      // Nothing an active session needs may expire before it does.
      const needed: Array<[string, string]> = [
        ['record', recordKey(row)],
        ['token pointer', tokenKey(row)],
        ['exp', named(row.bucket, 'exp')],
        ['scope index', named(row.bucket, `u:${scopeOf(s)}`)],
        ["user's scope set", named(row.bucket, `ut:${userOf(s)}`)],
        ["tenant's scope set", named(row.bucket, `ts:${tenantOf(s)}`)],
      ];
      if (s.idleTimeout !== null) needed.push(['act', named(row.bucket, 'act')]);
      if (withIdPointers) {
        needed.push([
          'id pointer',
          hexOf(Buffer.concat([Buffer.from(`${prefix}i:`), encodeId(row.id)])),
        ]);
      }
      for (const [what, key] of needed) {
        expect(
          ttl.get(key) ?? -2,
          `${what} of ${row.id} lasts as long as it`,
        ).toBeGreaterThanOrEqual(keep - slack);
      }
    }
  }

  // Expected indexes, from the records alone.
  const expectScopes = new Map<string, Buffer[]>();
  const expectUsers = new Map<string, Set<string>>();
  const expectTenants = new Map<string, Set<string>>();
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
    const s = row.session;
    if (s.endedAt === null) {
      const scope = `${row.bucket}/${scopeOf(s)}`;
      expectScopes.set(scope, [...(expectScopes.get(scope) ?? []), memberOf(s)]);
      const user = `${row.bucket}/${userOf(s)}`;
      if (!expectUsers.has(user)) expectUsers.set(user, new Set());
      expectUsers.get(user)!.add(scopeOf(s));
      zset(`${row.bucket}/exp`).set(row.id, s.absoluteExpiresAt);
      // Only sessions with an idle limit, scored by the moment they idle out.
      if (s.idleTimeout !== null) {
        zset(`${row.bucket}/act`).set(row.id, s.lastActivityAt + s.idleTimeout);
      }
      const tenant = `${row.bucket}/${tenantOf(s)}`;
      if (!expectTenants.has(tenant)) expectTenants.set(tenant, new Set());
      expectTenants.get(tenant)!.add(scopeOf(s));
      expect(tokenPointers.get(s.tokenHash), 'token pointer').toBe(`${row.bucket}:${row.id}`);
      if (withIdPointers) expect(idPointers.get(row.id), 'id pointer').toBe(row.bucket);
    } else {
      zset(`${row.bucket}/end`).set(row.id, s.endedAt);
    }
  }
  const nonEmpty = <T extends { size: number } | { length: number }>(map: Map<string, T>) =>
    new Map([...map].filter(([, value]) => ('size' in value ? value.size : value.length) > 0));
  // In the order of their bytes, which is the order Redis keeps them in.
  const expectShown = [...expectScopes].map(([scope, members]): [string, string[]] => [
    scope,
    members.sort(Buffer.compare).map(showMember),
  ]);
  expect([...nonEmpty(scopes)].sort(), 'scope indexes = active sessions, in order').toEqual(
    expectShown.sort(),
  );
  expect(
    [...nonEmpty(userScopes)].map(([k, v]) => [k, [...v].sort()]).sort(),
    'user scope sets = scopes with active sessions',
  ).toEqual([...expectUsers].map(([k, v]) => [k, [...v].sort()]).sort());
  expect(
    [...nonEmpty(tenantScopes)].map(([k, v]) => [k, [...v].sort()]).sort(),
    'tenant scope sets = scopes with active sessions, by tenant',
  ).toEqual([...expectTenants].map(([k, v]) => [k, [...v].sort()]).sort());
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
