// One user with 100,000 sessions, on every store: memory, SQLite, PostgreSQL, MySQL/MariaDB,
// Redis and a three-master Redis Cluster, each in a process of its own (this file runs itself
// once per store), then one summary table. A single store: `node bench/big-user.bench.js redis`;
// a few: CURFEW_BENCH_STORES=postgres,mysql node bench/big-user.bench.js.
//
// - Listing: the first page of the big user's sessions next to the first page of a user with 10,
//   both through SessionManager.listUserSessions with the same page size (10), so the comparison
//   isolates growth with the session count; a page of 100 of the big user is printed beside
//   them. The three run in rotating order, round after round, 1 call in flight; each ratio is
//   the median of the per-round ratios. Target: the big user's page no slower than the small
//   user's by more than 2x.
// - Revoke-all: SessionManager.revokeUserSessions of the big user (every tenant, default batch
//   of 500 sessions per store call), timed, with its count (must be 100,000, with as many `ended`
//   events) while validations of other users' sessions arrive at a fixed 1,000/s through the same
//   store; their latency is measured from the moment each was due (open loop), so a stall cannot
//   hide by delaying the next one. The same load runs 5 s before the revoke, with nothing else
//   going on: what the machine gives anyway. Target: p99 < 20 ms. Afterwards none of the big
//   user's sessions lists or validates, and the other users' still do.
// - Redis only: memory per active session, `used_memory` (summed over the masters of the
//   cluster) before and after inserting 20,000 sessions of 2,000 users, 10 sessions per user and
//   each user in one tenant, with a 70-character user agent and an IPv4 address, on a fresh
//   server with the store's scripts already loaded. Target: at most 1,000 bytes.
//
// Data: 2,000 other users with 10 sessions each (20,000; the memory figure's sessions), the big
// user's 100,000 and the small user's 10, all in one tenant each, all valid at the bench's clock,
// which stands still 1 s after the other users' last activity so validations take the coalesced
// path (no activity write due). The big user's sessions were last active at distinct moments in
// the 25 minutes before. Everything is loaded through the store's own `insert`, concurrently
// (memory and SQLite one after another, PostgreSQL and MariaDB 32 in flight on a pool of 16,
// Redis 256 in flight on one connection, which ioredis pipelines), so every row, key and TTL is
// exactly what the store writes. PostgreSQL loads on a second pool with synchronous_commit off
// (the measured pool keeps the server's setting) and then runs VACUUM (ANALYZE) and a CHECKPOINT,
// MariaDB runs ANALYZE TABLE: what autovacuum, the checkpointer and InnoDB's persistent
// statistics would have done by then.
//
// Where: PostgreSQL at 127.0.0.1:5432 (user postgres, database test; a schema of its own, dropped
// afterwards; CURFEW_BENCH_PG_PORT for another port), MariaDB/MySQL at 127.0.0.1:3306 (root; a
// database of its own, dropped; CURFEW_BENCH_MYSQL_PORT), redis-servers started on spare loopback
// ports and always stopped, SQLite in a temporary directory. Imports the built library:
// `npm run build` first. Exits 1 when a count is wrong or a validation fails (or a store's run
// fails); a missed target prints MISS.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStore, SessionManager } from '../dist/index.js';
import {
  fmt,
  median,
  percentile,
  printTable,
  rate,
  progress as say,
  sha256,
  token,
} from './support/measure.js';

const STORES = ['memory', 'sqlite', 'postgres', 'mysql', 'redis', 'redis-cluster'];

const BIG = 100_000;
const SMALL = 10;
const USERS = 2_000; // other users, each with PER_USER sessions in one tenant
const PER_USER = 10;
const OTHERS = USERS * PER_USER;
const LIVE = 1_000; // other users' sessions validated in turn during the revoke
const VALIDATIONS_PER_SECOND = 1_000;
const BASELINE_MS = 5_000;
const PAGE = 10;
const BIG_PAGE = 100;
const ROUNDS = 12;
const SLICE_MS = 200;
const TARGET_P99_MS = 20;
const TARGET_LIST_RATIO = 2;
const TARGET_BYTES = 1_000;

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const NOW = T0 + 1_000; // the other users were last active at T0: no activity write due
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)';
const BIG_USER = 'big-user';
const SMALL_USER = 'small-user';
// Token numbers (support/measure.js `token(i)`) of each group.
const BIG_FROM = 1_000_000;
const SMALL_FROM = 500_000;

const require = createRequire(import.meta.url);
const here = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Sessions, as SessionManager.create would make them.

function otherSession(i) {
  const user = Math.floor(i / PER_USER);
  const createdAt = T0 - (i % 600_000);
  return {
    id: randomUUID(),
    tokenHash: sha256(token(i)),
    userId: `user-${user}`,
    tenantId: `tenant-${user % 50}`,
    appType: 'control_panel',
    ipAddress: '203.0.113.7',
    userAgent: USER_AGENT,
    createdAt,
    lastActivityAt: T0,
    absoluteExpiresAt: createdAt + 12 * HOUR,
    idleTimeout: 30 * 60_000,
    aal: 2,
    methods: ['pwd', 'otp'],
    authenticatedAt: createdAt,
    endedAt: null,
    endReason: null,
  };
}

/** Session i of a user with many: last active 13 ms before session i - 1, all within 25 min. */
function userSession(userId, first, i, id) {
  const lastActivityAt = T0 - i * 13;
  return {
    id,
    tokenHash: sha256(token(first + i)),
    userId,
    tenantId: 'tenant-acme',
    appType: 'control_panel',
    ipAddress: '198.51.100.23',
    userAgent: USER_AGENT,
    createdAt: lastActivityAt,
    lastActivityAt,
    absoluteExpiresAt: lastActivityAt + 12 * HOUR,
    idleTimeout: 30 * 60_000,
    aal: 2,
    methods: ['pwd', 'otp'],
    authenticatedAt: lastActivityAt,
    endedAt: null,
    endReason: null,
  };
}

/** Runs `step(0 … count-1)`, `inFlight` at a time; returns the ms it took. */
async function forEach(count, inFlight, step) {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next < count) {
        const i = next;
        next += 1;
        await step(i);
      }
    }),
  );
  return performance.now() - started;
}

/** Inserts `make(0 … count-1)` through `store.insert`, `inFlight` at a time; returns the ms. */
function insertAll(store, count, inFlight, make) {
  return forEach(count, inFlight, (i) => store.insert(make(i)));
}

// ---------------------------------------------------------------------------------------------
// Stores. Each opens what it needs and returns the store, a line saying what it is on, how many
// inserts to keep in flight, and `close`, which removes everything it made.

async function openMemory() {
  return { store: new MemoryStore(), engine: 'MemoryStore', inFlight: 1, close: async () => {} };
}

async function openSqlite() {
  const { default: Database } = await import('better-sqlite3');
  const { SqliteStore } = await import('../dist/stores/sqlite/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'curfew-bench-big-user-'));
  const db = new Database(join(dir, 'sessions.db'));
  const version = db.prepare('SELECT sqlite_version()').pluck().get();
  return {
    store: new SqliteStore(db),
    engine: `SQLite ${version} (better-sqlite3 ${require('better-sqlite3/package.json').version}), WAL, a file in ${tmpdir()}`,
    inFlight: 1,
    async close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(onInterrupt) {
  const { default: pg } = await import('pg');
  const { migratePostgres, PostgresStore } = await import('../dist/stores/postgres/index.js');
  const connection = {
    host: '127.0.0.1',
    port: Number(process.env.CURFEW_BENCH_PG_PORT ?? 5432),
    user: 'postgres',
    database: 'test',
  };
  const schema = `curfew_bench_big_user_${process.pid}`;
  const options = {
    ...connection,
    max: 16,
    connectionTimeoutMillis: 5_000,
    query_timeout: 120_000,
  };
  const pool = new pg.Pool(options);
  const loading = new pg.Pool({ ...options, options: '-c synchronous_commit=off' });
  for (const p of [pool, loading])
    p.on('error', (error) => say(`idle connection: ${error.message}`));
  const drop = () => pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  onInterrupt(drop);
  await drop();
  await migratePostgres(pool, { schema });
  const { rows } = await pool.query(
    `SELECT current_setting('server_version') AS version,
       current_setting('shared_buffers') AS buffers,
       current_setting('synchronous_commit') AS sync`,
  );
  return {
    store: new PostgresStore(pool, { schema }),
    loadStore: new PostgresStore(loading, { schema }),
    engine:
      `PostgreSQL ${rows[0].version} on 127.0.0.1:${connection.port} (shared_buffers ` +
      `${rows[0].buffers}, synchronous_commit ${rows[0].sync}), pg ` +
      `${require('pg/package.json').version}, pool max 16, schema ${schema}`,
    inFlight: 32,
    async afterLoad() {
      // Closed now: its 16 idle backends exiting all at once later would stall a figure.
      await loading.end();
      await pool.query(`VACUUM (ANALYZE) "${schema}".curfew_sessions`);
      // The load's dirty pages written out now, not by a checkpoint in the middle of a figure.
      await pool.query('CHECKPOINT');
    },
    async close() {
      await drop();
      await pool.end();
      if (!loading.ended) await loading.end();
    },
  };
}

async function openMysql(onInterrupt) {
  const { createPool } = await import('mysql2/promise');
  const { MysqlStore, migrateMysql } = await import('../dist/stores/mysql/index.js');
  const server = {
    host: '127.0.0.1',
    port: Number(process.env.CURFEW_BENCH_MYSQL_PORT ?? 3306),
    user: 'root',
    password: '',
    connectTimeout: 5_000,
  };
  const database = `curfew_bench_big_user_${process.pid}`;
  const admin = createPool({ ...server, connectionLimit: 1 });
  const drop = () => admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
  onInterrupt(drop);
  await drop();
  await admin.query(`CREATE DATABASE \`${database}\``);
  const pool = createPool({ ...server, database, connectionLimit: 16 });
  await migrateMysql(pool);
  const [[info]] = await admin.query(
    `SELECT VERSION() AS version, @@innodb_buffer_pool_size AS pool,
       @@innodb_flush_log_at_trx_commit AS flush`,
  );
  return {
    store: new MysqlStore(pool),
    engine:
      `${String(info.version).includes('MariaDB') ? 'MariaDB' : 'MySQL'} ${info.version} on ` +
      `127.0.0.1:${server.port} (buffer pool ${fmt(Number(info.pool) / 2 ** 20)} MB, ` +
      `innodb_flush_log_at_trx_commit ${info.flush}), mysql2 ` +
      `${require('mysql2/package.json').version}, pool of 16, database ${database}`,
    inFlight: 32,
    async afterLoad() {
      await pool.query('ANALYZE TABLE curfew_sessions');
    },
    async close() {
      await pool.end();
      await drop();
      await admin.end();
    },
  };
}

async function openRedis(cluster) {
  const { Cluster, Redis } = await import('ioredis');
  const { RECOMMENDED_REDIS_OPTIONS, RedisStore } = await import('../dist/stores/redis/index.js');
  const { ALL_SCRIPTS } = await import('../dist/stores/redis/scripts.js');
  const { startRedis, startRedisCluster, usedMemory } = await import('./support/redis-servers.js');
  let client;
  let servers;
  let masters;
  if (cluster) {
    servers = await startRedisCluster(3);
    client = new Cluster(
      servers.ports.map((port) => ({ host: '127.0.0.1', port })),
      { enableOfflineQueue: false, redisOptions: { ...RECOMMENDED_REDIS_OPTIONS } },
    );
    client.on('error', () => undefined);
    await new Promise((resolve, reject) => {
      client.once('ready', resolve);
      client.once('end', () => reject(new Error('cluster connection ended')));
    });
    masters = client.nodes('master');
  } else {
    servers = await startRedis('big-user');
    client = new Redis({
      host: '127.0.0.1',
      port: servers.port,
      ...RECOMMENDED_REDIS_OPTIONS,
      lazyConnect: true,
    });
    client.on('error', () => undefined);
    await client.connect();
    masters = [client];
  }
  // Loaded ahead, so that the memory figure counts sessions, not the script cache.
  for (const master of masters) {
    for (const script of ALL_SCRIPTS) await master.script('LOAD', script.source);
  }
  const version = /redis_version:(\S+)/.exec(await masters[0].info('server'))?.[1];
  return {
    store: new RedisStore(client),
    engine:
      `redis-server ${version}, private, loopback, no persistence` +
      (cluster
        ? `, a cluster of ${masters.length} masters (ports ${servers.ports.join(', ')})`
        : '') +
      `; ioredis ${require('ioredis/package.json').version} ${cluster ? 'Cluster' : 'client'}` +
      ` with RECOMMENDED_REDIS_OPTIONS`,
    inFlight: 256,
    async memory() {
      let bytes = 0;
      let keys = 0;
      for (const master of masters) {
        bytes += await usedMemory(master);
        keys += await master.dbsize();
      }
      return { bytes, keys, masters: masters.length };
    },
    async close() {
      client.disconnect();
      await servers.stop();
    },
  };
}

function openStore(name, onInterrupt) {
  switch (name) {
    case 'memory':
      return openMemory();
    case 'sqlite':
      return openSqlite();
    case 'postgres':
      return openPostgres(onInterrupt);
    case 'mysql':
      return openMysql(onInterrupt);
    case 'redis':
      return openRedis(false);
    case 'redis-cluster':
      return openRedis(true);
    default:
      throw new Error(`unknown store ${name}: expected one of ${STORES.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Measurement.

/**
 * Validates `tokens` in turn at a fixed rate while `work` runs; each latency is measured from the
 * moment the validation was due (open loop), so a stall cannot hide by delaying the next one.
 */
async function openLoop(sessions, tokens, work) {
  const latencies = [];
  let failures = 0;
  let pending = 0;
  let issued = 0;
  const start = performance.now();
  const every = 1000 / VALIDATIONS_PER_SECOND;
  let stopping = false;
  const ticker = setInterval(() => {
    const now = performance.now();
    while (!stopping && start + issued * every <= now) {
      const due = start + issued * every;
      const t = tokens[issued % tokens.length];
      issued += 1;
      pending += 1;
      sessions
        .validate(t)
        .then((result) => {
          if (!result.valid) failures += 1;
          latencies.push(performance.now() - due);
        })
        .catch(() => {
          failures += 1;
        })
        .finally(() => {
          pending -= 1;
        });
    }
  }, 2);
  let result;
  try {
    result = await work();
  } finally {
    stopping = true;
    clearInterval(ticker);
  }
  while (pending > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const sorted = latencies.sort((a, b) => a - b);
  return {
    result,
    validations: sorted.length,
    failures,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.at(-1) ?? 0,
  };
}

/** The three listings, in rotating order, round after round; rates in pages per second. */
async function compareListings(sessions, bigIds, fail) {
  const contestants = [
    { userId: SMALL_USER, sessions: SMALL, limit: PAGE },
    { userId: BIG_USER, sessions: BIG, limit: PAGE },
    { userId: BIG_USER, sessions: BIG, limit: BIG_PAGE },
  ].map((c) => ({
    ...c,
    rates: [],
    async step() {
      const page = await sessions.listUserSessions(c.userId, { limit: c.limit });
      const want = Math.min(c.limit, c.sessions);
      // The big user's first page is its most recently active sessions: 0, 1, 2, … in order.
      const right =
        page.sessions.length === want &&
        (page.nextCursor !== null) === c.sessions > c.limit &&
        (c.userId !== BIG_USER || page.sessions.every((s, i) => s.id === bigIds[i]));
      if (!right) {
        fail(`a page of ${c.limit} of ${c.userId} came back wrong (${page.sessions.length})`);
        throw new Error('wrong page');
      }
    },
  }));
  for (const c of contestants) await rate(c.step, 1, SLICE_MS / 2); // warm every path
  for (let round = 0; round < ROUNDS; round += 1) {
    for (let k = 0; k < contestants.length; k += 1) {
      const c = contestants[(round + k) % contestants.length];
      c.rates.push(await rate(c.step, 1, SLICE_MS));
    }
  }
  const small = contestants[0];
  return contestants.map((c) => ({
    limit: c.limit,
    sessions: c.sessions,
    msPerPage: 1000 / median(c.rates),
    // How many times longer than the small user's page of 10, in the same round.
    ratio: median(c.rates.map((r, round) => small.rates[round] / r)),
  }));
}

/** Times each store call of a kind, through a proxy in front of the store. */
function timingCalls(store, method, times) {
  return new Proxy(store, {
    get(target, property) {
      const value = target[property];
      if (typeof value !== 'function') return value;
      if (property !== method) return value.bind(target);
      return async (...args) => {
        const started = performance.now();
        try {
          return await value.apply(target, args);
        } finally {
          times.push(performance.now() - started);
        }
      };
    },
  });
}

const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(1));
const latencyLine = (run) =>
  `${fmt(run.validations)} validations, ${run.failures} failed; p50 ${ms(run.p50)} ms, ` +
  `p99 ${ms(run.p99)} ms, max ${ms(run.max)} ms`;
const mark = (ok) => (ok ? 'ok' : 'MISS');

async function runOne(name) {
  const started = performance.now();
  const progress = (message) =>
    say(`${name} ${((performance.now() - started) / 1000).toFixed(0)} s: ${message}`);
  const problems = [];
  const fail = (message) => {
    if (!problems.includes(message)) problems.push(message);
  };
  const interrupted = [];
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      say(`${name}: interrupted, cleaning up`);
      void Promise.allSettled(interrupted.map((undo) => undo())).finally(() => process.exit(130));
    });
  }
  const target = await openStore(name, (undo) => interrupted.push(undo));
  const result = { store: name };
  try {
    console.log(`curfew: one user with ${fmt(BIG)} sessions, on ${name}`);
    console.log(`node ${process.version}, ${process.platform} ${process.arch}, pid ${process.pid}`);
    console.log(
      `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
        `load average ${loadavg()[0].toFixed(1)} at start`,
    );
    console.log(`${target.engine}\n`);
    const store = target.store;
    const loadStore = target.loadStore ?? store;

    // The other users first, on the fresh store: for Redis, the memory figure.
    progress(`loading ${fmt(OTHERS)} sessions of ${fmt(USERS)} other users`);
    const before = target.memory ? await target.memory() : null;
    const othersMs = await insertAll(loadStore, OTHERS, target.inFlight, otherSession);
    if (before !== null) {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // client buffers settle
      const after = await target.memory();
      result.bytesPerSession = (after.bytes - before.bytes) / OTHERS;
      result.keysPerSession = (after.keys - before.keys) / OTHERS;
      console.log(
        `memory per active session: used_memory ${fmt(before.bytes)} -> ${fmt(after.bytes)} bytes` +
          (after.masters > 1 ? ` (summed over ${after.masters} masters)` : '') +
          ` for ${fmt(OTHERS)} sessions = ${fmt(result.bytesPerSession)} bytes each ` +
          `(${result.keysPerSession.toFixed(1)} keys each); target <= ${fmt(TARGET_BYTES)} ` +
          mark(result.bytesPerSession <= TARGET_BYTES),
      );
      console.log(
        `  ${fmt(USERS)} users with ${PER_USER} sessions each, each user in one tenant; ` +
          `${USER_AGENT.length}-character user agent, IPv4 address; inserted through the store\n`,
      );
    }

    progress(`loading ${fmt(BIG)} sessions of ${BIG_USER}`);
    const bigIds = Array.from({ length: BIG }, () => randomUUID());
    const bigMs = await insertAll(loadStore, BIG, target.inFlight, (i) =>
      userSession(BIG_USER, BIG_FROM, i, bigIds[i]),
    );
    await insertAll(loadStore, SMALL, 1, (i) =>
      userSession(SMALL_USER, SMALL_FROM, i, randomUUID()),
    );
    if (target.afterLoad) await target.afterLoad();
    progress(`loaded in ${fmt(bigMs)} ms`);
    result.loadedPerSecond = (BIG / bigMs) * 1000;

    // Listing.
    const sessions = new SessionManager({ store, clock: () => NOW });
    progress('listing first pages');
    const listings = await compareListings(sessions, bigIds, fail);
    result.listings = listings;
    console.log(
      `first page of a user's sessions (SessionManager.listUserSessions, no cursor), 1 in flight, ` +
        `${ROUNDS} rounds of ${SLICE_MS} ms slices in rotating order; times are medians, each ` +
        `ratio the median over rounds of its time / the ${SMALL}-session user's in the same round`,
    );
    printTable(
      ['page', "user's sessions", 'ms/page', 'ratio', 'target', ''],
      listings.map((l, i) => [
        String(l.limit),
        fmt(l.sessions),
        l.msPerPage.toFixed(3),
        l.ratio.toFixed(2),
        i === 1 ? `<= ${TARGET_LIST_RATIO.toFixed(2)}` : i === 0 ? '' : '(none)',
        i === 1 ? mark(l.ratio <= TARGET_LIST_RATIO) : '',
      ]),
      [0, 1, 2, 3],
    );

    // Validations before and during the revoke.
    const tokens = Array.from({ length: LIVE }, (_, i) => token(i * (OTHERS / LIVE)));
    progress(
      `validating ${fmt(LIVE)} other users' sessions once, then ${BASELINE_MS / 1000} s at ${fmt(VALIDATIONS_PER_SECOND)}/s`,
    );
    // 32 at a time, so that a pool opens its connections (and prepares its statements) now.
    await forEach(LIVE, 32, async (i) => {
      if (!(await sessions.validate(tokens[i])).valid)
        fail('another user’s session did not validate');
    });
    const baseline = await openLoop(
      sessions,
      tokens,
      () => new Promise((resolve) => setTimeout(resolve, BASELINE_MS)),
    );

    progress(`revoking ${fmt(BIG)} sessions of ${BIG_USER} under load`);
    const calls = [];
    let events = 0;
    const revoker = new SessionManager({
      store: timingCalls(store, 'endUserSessions', calls),
      clock: () => NOW,
      onEvent: (event) => {
        if (event.type === 'ended' && event.userId === BIG_USER) events += 1;
      },
    });
    const during = await openLoop(sessions, tokens, async () => {
      const t = performance.now();
      const count = await revoker.revokeUserSessions(BIG_USER);
      return { count, ms: performance.now() - t };
    });
    const { count, ms: revokeMs } = during.result;
    result.revokeMs = revokeMs;
    result.count = count;
    result.p99 = during.p99;
    result.baselineP99 = baseline.p99;

    // Afterwards: nothing of the big user is left valid, everyone else is untouched.
    const left = await sessions.listUserSessions(BIG_USER, { limit: 10 });
    const sample = Array.from({ length: 100 }, () => Math.floor(Math.random() * BIG));
    let stillValid = 0;
    for (const i of sample) {
      if ((await sessions.validate(token(BIG_FROM + i))).valid) stillValid += 1;
    }
    const smallLeft = await sessions.listUserSessions(SMALL_USER, { limit: 100 });
    const countsOk =
      count === BIG &&
      events === BIG &&
      left.sessions.length === 0 &&
      stillValid === 0 &&
      smallLeft.sessions.length === SMALL;
    if (!countsOk) {
      fail(
        `revoke-all: count ${count}, ${events} ended events, ${left.sessions.length} still listed, ` +
          `${stillValid} of 100 sampled still valid, small user ${smallLeft.sessions.length}`,
      );
    }
    if (baseline.failures + during.failures > 0) fail('validations of other users failed');

    calls.sort((a, b) => a - b);
    console.log(
      `\nrevoke-all of ${fmt(BIG)} sessions (SessionManager.revokeUserSessions, every tenant, ` +
        `batches of 500), with ${fmt(VALIDATIONS_PER_SECOND)} validations/s of other users' ` +
        'sessions arriving meanwhile (open loop, latency from when each was due):',
    );
    console.log(
      `ended ${fmt(count)} ${count === BIG ? 'ok' : 'WRONG'}, ${fmt(events)} ended events, in ` +
        `${(revokeMs / 1000).toFixed(2)} s = ${fmt((count / revokeMs) * 1000)}/s; ` +
        `${fmt(calls.length)} store calls: p50 ${ms(percentile(calls, 0.5))} ms, ` +
        `p99 ${ms(percentile(calls, 0.99))} ms, max ${ms(calls.at(-1) ?? 0)} ms`,
    );
    console.log(
      `during the revoke: ${latencyLine(during)}; p99 target < ${TARGET_P99_MS} ms ` +
        mark(during.p99 < TARGET_P99_MS),
    );
    console.log(
      `same load before it, no revoke (${BASELINE_MS / 1000} s): ${latencyLine(baseline)}`,
    );
    console.log(
      `afterwards: ${left.sessions.length} of ${BIG_USER}'s sessions listed, ${stillValid} of 100 ` +
        `sampled tokens valid; ${SMALL_USER} still has ${smallLeft.sessions.length} ` +
        (countsOk ? 'ok' : 'WRONG'),
    );
    console.log(
      `\nloaded: ${fmt(OTHERS)} other sessions in ${fmt(othersMs)} ms; ${fmt(BIG)} of ${BIG_USER} ` +
        `in ${fmt(bigMs)} ms (${fmt(result.loadedPerSecond)}/s, ${target.inFlight} in flight)`,
    );
    console.log(
      `total ${((performance.now() - started) / 1000).toFixed(0)} s, ` +
        `load average ${loadavg()[0].toFixed(1)} at the end`,
    );
    result.load = loadavg()[0];
  } finally {
    progress('cleaning up');
    await target.close();
  }
  for (const problem of problems) console.error(`${name}: ${problem}`);
  result.ok = problems.length === 0;
  return result;
}

// ---------------------------------------------------------------------------------------------
// Every store, each in a process of its own, then a summary.

async function runAll(names) {
  const results = [];
  let failed = 0;
  for (const name of names) {
    console.log(`\n--- ${name}`);
    const child = spawn(process.execPath, [here, name], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result = null;
    child.on('message', (message) => {
      result = message;
    });
    const code = await new Promise((resolve) =>
      child.once('exit', (c, signal) => resolve(c ?? signal)),
    );
    if (code !== 0 || result === null || !result.ok) {
      failed += 1;
      console.error(`big-user.bench.js ${name} exited with ${code}`);
    }
    if (result !== null) results.push(result);
  }
  if (results.length === 0) return failed;
  console.log(
    `\nsummary: one user with ${fmt(BIG)} sessions; load average ${loadavg()[0].toFixed(1)} now`,
  );
  printTable(
    [
      'store',
      'revoke-all',
      'ended',
      'p99 during (before)',
      '< 20 ms',
      `page of ${PAGE}: ${SMALL} / ${fmt(BIG)} (ms)`,
      'ratio',
      '<= 2',
      `page of ${BIG_PAGE}`,
      'bytes/session',
    ],
    results.map((r) => [
      r.store,
      r.revokeMs === undefined ? '-' : `${(r.revokeMs / 1000).toFixed(2)} s`,
      r.count === undefined ? '-' : fmt(r.count),
      r.p99 === undefined ? '-' : `${ms(r.p99)} (${ms(r.baselineP99)})`,
      r.p99 === undefined ? '' : mark(r.p99 < TARGET_P99_MS),
      r.listings
        ? `${r.listings[0].msPerPage.toFixed(3)} / ${r.listings[1].msPerPage.toFixed(3)}`
        : '-',
      r.listings ? r.listings[1].ratio.toFixed(2) : '-',
      r.listings ? mark(r.listings[1].ratio <= TARGET_LIST_RATIO) : '',
      r.listings ? `${r.listings[2].msPerPage.toFixed(3)} ms` : '-',
      r.bytesPerSession === undefined
        ? ''
        : `${fmt(r.bytesPerSession)} ${mark(r.bytesPerSession <= TARGET_BYTES)}`,
    ]),
    [1, 2, 3, 5, 6, 8, 9],
  );
  return failed;
}

const only = process.argv[2];
if (only !== undefined) {
  const result = await runOne(only);
  if (process.send) await new Promise((resolve) => process.send(result, resolve));
  process.exitCode = result.ok ? 0 : 1;
  // Pools and timers of drivers must not keep a finished run alive.
  setTimeout(() => process.exit(process.exitCode), 1_000).unref();
} else {
  const names = (process.env.CURFEW_BENCH_STORES ?? STORES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  process.exitCode = (await runAll(names)) > 0 ? 1 : 0;
}
