// What only the MySQL/MariaDB store must prove, beyond the conformance suite: its migrations under
// concurrency and from an older schema, the round trips it documents, pages whose cost does not
// grow with the user's sessions, sign-outs that wait for held rows and never deadlock, case- and
// space-exact users, its time bound, reads that never wait for locks, many sweepers sharing a
// backlog, the revoke-versus-validate race at scale, and its typing against the real mysql2 pool.
import { createPool, type Pool } from 'mysql2/promise';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  CurfewError,
  generateSessionToken,
  hashSessionToken,
  type SessionEvent,
  SessionManager,
} from '../src/index.js';
import {
  MYSQL_SCHEMA_VERSION,
  type MysqlPool,
  type MysqlQueryable,
  MysqlStore,
  migrateMysql,
} from '../src/stores/mysql/index.js';
import {
  END_ONE,
  LOCK_ABSOLUTE,
  LOCK_LISTED,
  listUser,
  PURGE,
  SELECT_BY_HASH,
  SWEEP_ABSOLUTE_CANDIDATES,
  SWEEP_IDLE_CANDIDATES,
  TOUCH,
  tenantCandidates,
  userCandidates,
} from '../src/stores/mysql/statements.js';
import { ManualClock } from '../src/testing/index.js';
import { SHARED_MARIADB, sharedMariadbAvailable, TestDatabase } from './support/mysql.js';

const MINUTE = 60_000;
const available = await sharedMariadbAvailable();
const suite = available ? describe : describe.skip;

const databases: TestDatabase[] = [];

async function database(prefix = 'curfew_mytest'): Promise<TestDatabase> {
  const created = await TestDatabase.create(prefix);
  databases.push(created);
  return created;
}

/** A migrated database and a pool on it. */
async function migrated(): Promise<{ db: TestDatabase; pool: Pool }> {
  const db = await database();
  const pool = db.pool();
  await migrateMysql(pool);
  return { db, pool };
}

afterAll(async () => {
  await Promise.all(databases.map((db) => db.drop()));
});

/** Wraps a pool to record every statement the store sends, on the pool or on a connection. */
function counting(target: Pool) {
  const sent: string[] = [];
  const wrap = (on: MysqlQueryable): MysqlQueryable => ({
    execute: (statement, values) => {
      sent.push(statement.sql.replace(/\s+/g, ' ').trim());
      return on.execute(statement, values);
    },
    query: (statement, values) => {
      sent.push(statement.sql.replace(/\s+/g, ' ').trim());
      return on.query(statement, values);
    },
  });
  const typed: MysqlPool = target;
  const pool: MysqlPool = {
    ...wrap(typed),
    getConnection: async () => {
      const connection = await typed.getConnection();
      return {
        ...wrap(connection),
        release: () => connection.release(),
        destroy: () => connection.destroy(),
      };
    },
  };
  return { pool, sent };
}

/** Inserts sessions straight into the table, 2,000 a statement: their setup is not under test. */
async function insertRows(
  pool: Pool,
  rows: Array<{
    userId: string;
    tenantId: string | null;
    lastActivityAt: number;
    absoluteExpiresAt: number;
    endedAt?: number;
    token?: string;
  }>,
): Promise<void> {
  for (let start = 0; start < rows.length; start += 2_000) {
    const values = rows
      .slice(start, start + 2_000)
      .map((row) => [
        crypto.randomUUID(),
        hashSessionToken(row.token ?? generateSessionToken()),
        row.userId,
        row.tenantId,
        'web',
        row.lastActivityAt,
        row.lastActivityAt,
        row.absoluteExpiresAt,
        row.endedAt ?? null,
        row.endedAt === undefined ? null : 'logout',
        row.lastActivityAt,
        30 * MINUTE,
        row.lastActivityAt + 30 * MINUTE,
      ]);
    await pool.query(
      `INSERT INTO curfew_sessions (id, token_hash, user_id, tenant_id, app_type, created_at,
         last_activity_at, absolute_expires_at, ended_at, end_reason, authenticated_at,
         idle_timeout, idle_expires_at) VALUES ?`,
      [values],
    );
  }
}

/** Wraps a pool to record every InnoDB deadlock its statements meet, retried or not. */
function deadlockWatch(target: Pool) {
  let deadlocks = 0;
  const watch =
    <T>(run: () => Promise<T>) =>
    async (): Promise<T> => {
      try {
        return await run();
      } catch (error) {
        if ((error as { errno?: unknown }).errno === 1213) deadlocks += 1;
        throw error;
      }
    };
  const wrap = (on: MysqlQueryable): MysqlQueryable => ({
    execute: (statement, values) => watch(() => on.execute(statement, values))(),
    query: (statement, values) => watch(() => on.query(statement, values))(),
  });
  const typed: MysqlPool = target;
  const pool: MysqlPool = {
    ...wrap(typed),
    getConnection: async () => {
      const connection = await typed.getConnection();
      return {
        ...wrap(connection),
        release: () => connection.release(),
        destroy: () => connection.destroy(),
      };
    },
  };
  return { pool, deadlocks: () => deadlocks };
}

suite('MysqlStore typing', () => {
  it('accepts a mysql2 promise pool as it is', () => {
    expectTypeOf<Pool>().toExtend<MysqlPool>();
    expect(() => new MysqlStore({} as never)).toThrow(CurfewError);
    expect(() => new MysqlStore(createPool({}), { timeout: -1 })).toThrow(/timeout/);
  });
});

suite('MysqlStore migrations', () => {
  it('are versioned, recorded, idempotent, and create the schema', async () => {
    const db = await database();
    const pool = db.pool();
    expect(await migrateMysql(pool)).toEqual({ from: 0, to: 4, applied: [1, 2, 3, 4] });
    expect(MYSQL_SCHEMA_VERSION).toBe(4);
    expect(await migrateMysql(pool)).toEqual({ from: 4, to: 4, applied: [] });
    await MysqlStore.open(pool); // migrates again: nothing to do
    const [versions] = await pool.query(
      'SELECT version, description FROM curfew_migrations ORDER BY version',
    );
    expect(versions).toEqual([
      { version: 1, description: expect.any(String) },
      { version: 2, description: expect.any(String) },
      { version: 3, description: expect.any(String) },
      { version: 4, description: expect.any(String) },
    ]);
    const [indexes] = await pool.query(
      `SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'curfew_sessions' ORDER BY name`,
    );
    expect((indexes as Array<{ name: string }>).map((row) => row.name)).toEqual([
      'curfew_sessions_absolute',
      'curfew_sessions_id',
      'curfew_sessions_idle_deadline',
      'curfew_sessions_tenant_active',
      'curfew_sessions_token_hash',
      'curfew_sessions_user_activity',
      'curfew_sessions_user_tenant_activity',
      'PRIMARY',
    ]);
    const [columns] = await pool.query(
      `SELECT COLUMN_NAME AS name, COLLATION_NAME AS collation FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'curfew_sessions'
         AND COLUMN_NAME IN ('user_id', 'tenant_id', 'token_hash') ORDER BY name`,
    );
    expect(columns).toEqual([
      { name: 'tenant_id', collation: expect.stringMatching(/^utf8mb4_(nopad|0900)_bin$/) },
      { name: 'token_hash', collation: 'ascii_bin' },
      { name: 'user_id', collation: expect.stringMatching(/^utf8mb4_(nopad|0900)_bin$/) },
    ]);
  });

  it('bring a version 1 database with sessions to version 2, and survive a crash before its record', async () => {
    const { pool } = await migrated();
    const indexes = async () => {
      const [rows] = await pool.query(
        `SELECT INDEX_NAME AS name, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) AS columns
         FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'curfew_sessions'
           AND INDEX_NAME LIKE 'curfew_sessions_user%'
         GROUP BY INDEX_NAME ORDER BY name`,
      );
      return rows;
    };
    const current = [
      { name: 'curfew_sessions_user_activity', columns: 'user_id,ended_at,last_activity_at,id' },
      {
        name: 'curfew_sessions_user_tenant_activity',
        columns: 'user_id,tenant_id,ended_at,last_activity_at,id',
      },
    ];
    expect(await indexes()).toEqual(current);
    // Back to the schema version 1 made, with sessions in it.
    await pool.query(`ALTER TABLE curfew_sessions
      ADD KEY curfew_sessions_user (user_id, tenant_id, ended_at),
      DROP KEY curfew_sessions_user_tenant_activity, DROP KEY curfew_sessions_user_activity`);
    await pool.query('DELETE FROM curfew_migrations WHERE version >= 2');
    expect(await indexes()).toEqual([
      { name: 'curfew_sessions_user', columns: 'user_id,tenant_id,ended_at' },
    ]);
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: new MysqlStore(pool), clock: clock.now });
    const made = [];
    for (let i = 0; i < 5; i += 1) {
      clock.advance(1);
      made.push(await sessions.create({ userId: 'upgraded', tenantId: 'acme' }));
    }
    await expect(MysqlStore.open(pool, { migrate: false })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    // Versions 3 and 4 find their columns in place and fill nothing: these rows are new.
    expect(await migrateMysql(pool)).toEqual({ from: 1, to: 4, applied: [2, 3, 4] });
    expect(await indexes()).toEqual(current);
    const page = await sessions.listUserSessions('upgraded', { tenantId: 'acme', limit: 3 });
    expect(page.sessions.map((s) => s.id)).toEqual(
      made
        .slice(2)
        .reverse()
        .map((m) => m.session.id),
    );
    // A crash after the ALTER TABLE, before version 2 was recorded: the next run records it.
    await pool.query('DELETE FROM curfew_migrations WHERE version >= 2');
    expect(await migrateMysql(pool)).toEqual({ from: 1, to: 4, applied: [2, 3, 4] });
    expect(await indexes()).toEqual(current);
    expect(await sessions.revokeUserSessions('upgraded')).toBe(5);
  });

  it('give sessions from before levels the lowest level and a 15-minute idle limit', async () => {
    const { pool } = await migrated();
    // Back to version 2: none of version 3's columns and keys, version 4 not run.
    await pool.query(`ALTER TABLE curfew_sessions
      DROP COLUMN aal, DROP COLUMN methods, DROP COLUMN authenticated_at, DROP COLUMN idle_timeout,
      DROP COLUMN idle_expires_at, DROP KEY curfew_sessions_idle_deadline,
      DROP KEY curfew_sessions_tenant_active, ADD KEY curfew_sessions_idle (ended_at, last_activity_at)`);
    await pool.query('DELETE FROM curfew_migrations WHERE version >= 3');
    await pool.query(
      `INSERT INTO curfew_sessions (id, token_hash, user_id, tenant_id, app_type, created_at,
         last_activity_at, absolute_expires_at) VALUES ('old', ?, 'u', 'acme', 'web', 1000, 5000, 99000000)`,
      ['a'.repeat(64)],
    );
    expect(await migrateMysql(pool)).toEqual({ from: 2, to: 4, applied: [3, 4] });
    const store = await MysqlStore.open(pool, { migrate: false });
    // What was known of it, and no more; the upgrade fails closed.
    expect(await store.findById('old')).toMatchObject({
      aal: 1,
      methods: [],
      authenticatedAt: 1000,
      idleTimeout: 15 * 60_000,
    });
    expect(await store.sweep({ now: 5000 + 15 * 60_000 - 1, limit: 10 })).toEqual([]);
    expect(await store.sweep({ now: 5000 + 15 * 60_000, limit: 10 })).toEqual([
      expect.objectContaining({
        id: 'old',
        endReason: 'idle_timeout',
        endedAt: 5000 + 15 * 60_000,
      }),
    ]);
  });

  it('apply once when several processes run them at the same moment', async () => {
    const db = await database();
    // Hold the migrations' named lock so that every migrator is queued on it, then let them all
    // go at once: the collision is certain, not left to timing.
    const holder = await db.pool({ connectionLimit: 1 }).getConnection();
    const lockName = "CONCAT('curfew_migrate:', LEFT(SHA2(DATABASE(), 256), 48))";
    try {
      await holder.query(`SELECT GET_LOCK(${lockName}, 10)`);
      const migrators = Array.from({ length: 4 }, () =>
        migrateMysql(db.pool({ connectionLimit: 1 })),
      );
      await expect
        .poll(
          async () => {
            const [rows] = await holder.query(
              `SELECT COUNT(*) AS waiting FROM information_schema.PROCESSLIST
               WHERE DB = DATABASE() AND STATE = 'User lock'`,
            );
            return Number((rows as Array<{ waiting: unknown }>)[0]?.waiting);
          },
          { timeout: 10_000 },
        )
        .toBe(4);
      await holder.query(`SELECT RELEASE_LOCK(${lockName})`);
      const results = await Promise.all(migrators);
      expect(results.flatMap((result) => result.applied)).toEqual([1, 2, 3, 4]);
      expect(results.filter((result) => result.from === 4)).toHaveLength(3);
    } finally {
      holder.release();
    }
    const [tables] = await holder.query(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = DATABASE() ORDER BY name`,
    );
    expect((tables as Array<{ name: string }>).map((t) => t.name).sort()).toEqual([
      'curfew_migrations',
      'curfew_session_scopes',
      'curfew_sessions',
    ]);
    const [versions] = await holder.query('SELECT version FROM curfew_migrations ORDER BY version');
    expect(versions).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }]);
  });

  it('with migrate: false, refuses a database that is not migrated, then accepts it', async () => {
    const db = await database();
    const pool = db.pool();
    await expect(MysqlStore.open(pool, { migrate: false })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringContaining('migrateMysql'),
    });
    await migrateMysql(pool);
    await expect(MysqlStore.open(pool, { migrate: false })).resolves.toBeInstanceOf(MysqlStore);
  });

  it("refuses a table of the same name that is not curfew's, and records nothing", async () => {
    const db = await database();
    const pool = db.pool();
    await pool.query('CREATE TABLE curfew_sessions (x INT)');
    await expect(migrateMysql(pool)).rejects.toThrow(/Unknown column/);
    const [versions] = await pool.query('SELECT version FROM curfew_migrations');
    expect(versions).toEqual([]);
  });

  it('refuses a database written by a newer curfew, and a pool without a database', async () => {
    const { pool } = await migrated();
    await pool.query(
      "INSERT INTO curfew_migrations (version, description, applied_at) VALUES (?, 'future', 0)",
      [MYSQL_SCHEMA_VERSION + 1],
    );
    for (const run of [() => migrateMysql(pool), () => MysqlStore.open(pool, { migrate: false })]) {
      const error = await run().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CurfewError);
      expect((error as CurfewError).message).toMatch(/newer than this curfew/);
    }
    const noDatabase = createPool({ ...SHARED_MARIADB, connectionLimit: 1 });
    try {
      await expect(migrateMysql(noDatabase)).rejects.toMatchObject({
        code: 'STORE_UNAVAILABLE',
        message: expect.stringContaining('no database'),
      });
    } finally {
      await noDatabase.end();
    }
  });
});

suite('MysqlStore on MariaDB', () => {
  it('makes the round trips it documents', async () => {
    const { pool } = await migrated();
    const { pool: counted, sent } = counting(pool);
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: new MysqlStore(counted), clock: clock.now });
    const count = async (run: () => Promise<unknown>) => {
      sent.length = 0;
      await run();
      return [...sent];
    };
    const { token, session } = await sessions.create({ userId: 'alice' });
    const other = await sessions.create({ userId: 'alice' });
    clock.advance(1_000);
    // No write due (activity is written at most once a minute): one SELECT.
    expect(await count(() => sessions.validate(token))).toEqual([
      expect.stringMatching(/^SELECT .* WHERE token_hash = \?$/),
    ]);
    clock.advance(MINUTE);
    expect(await count(() => sessions.validate(token))).toEqual([
      expect.stringMatching(/^SELECT /),
      expect.stringMatching(
        /^UPDATE curfew_sessions .*SET last_activity_at = \?, idle_expires_at = \? WHERE seq = \?/,
      ),
    ]);
    expect(await count(() => sessions.validate(token, { touch: false }))).toHaveLength(1);
    expect(await count(() => sessions.create({ userId: 'bob' }))).toEqual([
      expect.stringMatching(/^INSERT /),
    ]);
    expect(await count(() => sessions.listUserSessions('alice'))).toHaveLength(1);
    const { nextCursor: cursor } = await sessions.listUserSessions('alice', { limit: 1 });
    expect(cursor).not.toBeNull();
    expect(
      await count(() => sessions.listUserSessions('alice', { limit: 1, cursor })),
    ).toHaveLength(1);
    expect(await count(() => sessions.getSession(session.id))).toHaveLength(1);
    let rotated = '';
    expect(
      await count(async () => {
        rotated = (await sessions.rotate(token))?.token ?? '';
      }),
    ).toEqual([expect.stringMatching(/^SELECT /), expect.stringMatching(/^UPDATE .* token_hash/)]);
    expect(await count(() => sessions.revoke(rotated))).toEqual([
      expect.stringMatching(/^SELECT /),
      expect.stringMatching(/^UPDATE curfew_sessions .*SET ended_at = \?, end_reason = \?/),
    ]);
    expect(await count(() => sessions.revokeUserSessions('alice'))).toEqual([
      expect.stringMatching(/^SELECT seq FROM .* LIMIT \?$/), // 2 found, fewer than 500: done
      'SET TRANSACTION ISOLATION LEVEL READ COMMITTED',
      'START TRANSACTION',
      expect.stringMatching(/^SELECT .* WHERE seq IN \(\?\) .* FOR UPDATE$/),
      expect.stringMatching(/^UPDATE .* WHERE seq IN \(\?\)/),
      'COMMIT',
    ]);
    // Nothing left: one read.
    expect(await count(() => sessions.revokeUserSessions('alice'))).toEqual([
      expect.stringMatching(/^SELECT seq FROM /),
    ]);
    expect(await sessions.getSession(other.session.id)).toMatchObject({ active: false });
    clock.advance(31 * MINUTE);
    expect(await count(() => sessions.validate(token))).toHaveLength(1); // ended: nothing to do
    expect(await count(() => sessions.sweepExpired())).toEqual([
      'SET TRANSACTION ISOLATION LEVEL READ COMMITTED',
      'START TRANSACTION',
      expect.stringMatching(/^SELECT seq, absolute_expires_at .* LIMIT \?$/), // none
      expect.stringMatching(/^SELECT seq, idle_expires_at .* LIMIT \?$/), // bob's, idle
      expect.stringMatching(/WHERE seq IN \(\?\) .* FOR UPDATE SKIP LOCKED$/),
      expect.stringMatching(/^UPDATE /),
      'COMMIT',
      // The manager sweeps until a batch comes back empty.
      'SET TRANSACTION ISOLATION LEVEL READ COMMITTED',
      'START TRANSACTION',
      expect.stringMatching(/^SELECT seq, absolute_expires_at .* LIMIT \?$/),
      expect.stringMatching(/^SELECT seq, idle_expires_at .* LIMIT \?$/),
      'COMMIT',
    ]);
    expect(await count(() => sessions.purgeEnded({ endedBefore: clock.now() }))).toEqual([
      expect.stringMatching(/^DELETE /),
    ]);
  });

  it('uses its indexes for validation, listing and purging', async () => {
    const { pool } = await migrated();
    // Enough rows (and statistics) that the optimiser has a choice to make.
    const sessions = new SessionManager({ store: new MysqlStore(pool) });
    let hash = '';
    for (let i = 0; i < 50; i += 1) {
      const { token } = await sessions.create({ userId: `user-${i % 5}`, tenantId: 't' });
      hash = hashSessionToken(token);
      if (i % 2 === 0) await sessions.revoke(token);
    }
    await pool.query('ANALYZE TABLE curfew_sessions');
    const plan = async (sql: string, values: unknown[]) => {
      const [rows] = await pool.query(`EXPLAIN ${sql}`, values);
      return (rows as Array<{ key: string | null; Extra: string }>)[0];
    };
    const explain = async (sql: string, values: unknown[]) => (await plan(sql, values))?.key;
    expect(await explain(SELECT_BY_HASH, [hash])).toBe('curfew_sessions_token_hash');
    // A page, and sign-out's candidates: a walk of the scope's index in its own order, no sort.
    for (const [sql, values, key] of [
      [listUser(true, false), ['user-1', 't', 0, 0, 10], 'curfew_sessions_user_tenant_activity'],
      [
        listUser(true, true),
        ['user-1', 't', 0, 5, 5, 'x', 0, 10],
        'curfew_sessions_user_tenant_activity',
      ],
      [listUser(false, false), ['user-1', 0, 0, 10], 'curfew_sessions_user_activity'],
      [listUser(false, true), ['user-1', 0, 5, 5, 'x', 0, 10], 'curfew_sessions_user_activity'],
      [userCandidates(true), ['user-1', 't', '', 10], 'curfew_sessions_user_tenant_activity'],
      [userCandidates(false), ['user-1', '', 10], 'curfew_sessions_user_activity'],
    ] as const) {
      const listed = await plan(sql, [...values]);
      expect(listed).toMatchObject({ key });
      expect(listed?.Extra).not.toMatch(/filesort/);
    }
    // The candidates come from the index alone.
    expect((await plan(userCandidates(true), ['user-1', 't', '', 10]))?.Extra).toMatch(
      /Using index/,
    );
    // Single-row writes go by primary key, never through the idle index that their condition
    // also pins: locking that entry before the row is the opposite order to a sweep's.
    const [[row]] = (await pool.query(
      'SELECT seq, token_hash, last_activity_at FROM curfew_sessions WHERE ended_at IS NULL LIMIT 1',
    )) as unknown as [[{ seq: number; token_hash: string; last_activity_at: number }]];
    for (const [sql, values] of [
      [TOUCH, [row.last_activity_at + 1, row.last_activity_at + 1 + 30 * MINUTE]],
      [END_ONE, [row.last_activity_at, 'logout']],
    ] as const) {
      const values_ = [...values, row.seq, row.token_hash, row.last_activity_at];
      expect(await explain(sql, values_)).toBe('PRIMARY');
    }
    // Sign-out locks by primary key, in key order.
    const locked = await plan(LOCK_LISTED, [[3, 1, 2]]);
    expect(locked).toMatchObject({ key: 'PRIMARY' });
    expect(locked?.Extra).not.toMatch(/filesort/);
    expect(await explain(PURGE, [Date.now() + MINUTE, 10])).toBe('curfew_sessions_absolute');
    const later = Date.now() + 13 * 60 * MINUTE;
    // The sweep's candidates: a range of its index, read in the index's own order.
    const candidates = await plan(SWEEP_ABSOLUTE_CANDIDATES, [later, 0, 0, 0, 10]);
    expect(candidates).toMatchObject({ key: 'curfew_sessions_absolute' });
    expect(candidates?.Extra).not.toMatch(/filesort/);
    // The idle half walks the deadline index; ending a tenant walks the tenant index.
    const idleCandidates = await plan(SWEEP_IDLE_CANDIDATES, [later, 0, 0, 0, later, 10]);
    expect(idleCandidates).toMatchObject({ key: 'curfew_sessions_idle_deadline' });
    expect(idleCandidates?.Extra).not.toMatch(/filesort/);
    const tenant = await plan(tenantCandidates(false), ['t', '', 10]);
    expect(tenant).toMatchObject({ key: 'curfew_sessions_tenant_active' });
    expect(tenant?.Extra).not.toMatch(/filesort/);
    // The sweep locks by primary key only, in key order: no index entry locked, no sort.
    const lock = await plan(LOCK_ABSOLUTE, [[1, 2, 3], later, 10]);
    expect(lock).toMatchObject({ key: 'PRIMARY' });
    expect(lock?.Extra).not.toMatch(/filesort/);
  });

  it('reads a page of a user with 20,000 sessions as it reads one of a user with 10', async () => {
    const { db, pool } = await migrated();
    const clock = new ManualClock();
    const now = clock.now();
    const live = { absoluteExpiresAt: now + 60 * MINUTE };
    // The whale: 20,000 valid sessions in acme, interleaved in activity with 2,000 in globex,
    // 2,000 ended and 5,000 idled out and swept; the minnow: 10 valid and 5,000 idled out and
    // swept. (Idle sessions not yet swept are passed over one by one: each has its own limit.)
    await insertRows(pool, [
      ...Array.from({ length: 22_000 }, (_, i) => ({
        userId: 'whale',
        tenantId: i % 11 === 0 ? 'globex' : 'acme',
        lastActivityAt: now - 20 * MINUTE + Math.floor(i / 10),
        ...live,
      })),
      ...Array.from({ length: 2_000 }, (_, i) => ({
        userId: 'whale',
        tenantId: 'acme',
        lastActivityAt: now - MINUTE + i,
        endedAt: now,
        ...live,
      })),
      ...['whale', 'minnow'].flatMap((userId) =>
        Array.from({ length: 5_000 }, (_, i) => ({
          userId,
          tenantId: 'acme',
          lastActivityAt: now - 40 * MINUTE + i,
          endedAt: now - 10 * MINUTE + i,
          ...live,
        })),
      ),
      ...Array.from({ length: 10 }, (_, i) => ({
        userId: 'minnow',
        tenantId: 'acme',
        lastActivityAt: now - 10 * MINUTE + i,
        ...live,
      })),
    ]);
    await pool.query('ANALYZE TABLE curfew_sessions');
    // One connection, so the store's statements and the counters are the same session's.
    const single = db.pool({ connectionLimit: 1 });
    const sessions = new SessionManager({ store: new MysqlStore(single), clock: clock.now });
    const reads = async (run: () => Promise<unknown>) => {
      const counters = async () => {
        const [rows] = await single.query(
          "SHOW SESSION STATUS WHERE Variable_name LIKE 'Handler_read%' OR Variable_name LIKE 'Sort_%'",
        );
        return new Map(
          (rows as Array<{ Variable_name: string; Value: string }>).map((row) => [
            row.Variable_name,
            Number(row.Value),
          ]),
        );
      };
      const before = await counters();
      await run();
      const after = await counters();
      const moved = [...after].filter(([name, value]) => value !== before.get(name));
      return Object.fromEntries(moved.map(([name, value]) => [name, value - before.get(name)!]));
    };
    let cursor: string | null = null;
    const page = async (userId: string, tenantId?: string) => {
      const result = await sessions.listUserSessions(userId, {
        limit: 100,
        cursor,
        ...(tenantId === undefined ? {} : { tenantId }),
      });
      cursor = result.nextCursor;
      return result.sessions.length;
    };
    // One index lookup for the first row, then one step back for each further row (101 in all:
    // one more than asked, to know there is a next page); no sort, no scan.
    const walk = { Handler_read_key: 1, Handler_read_prev: 100 };
    expect(await reads(() => page('whale', 'acme'))).toEqual(walk);
    // The next page: two lookups, one for the rest of the cursor's millisecond and one for
    // everything older (the two ranges of the page-start condition).
    expect(await reads(() => page('whale', 'acme'))).toEqual({
      Handler_read_key: 2,
      Handler_read_prev: 100,
    });
    cursor = null;
    expect(await reads(() => page('whale'))).toEqual(walk); // every tenant
    cursor = null;
    // The minnow's 10, and one more step past its last, where the range of active rows ends.
    expect(await reads(() => page('minnow', 'acme'))).toEqual({
      Handler_read_key: 1,
      Handler_read_prev: 10,
    });
  });

  it('waits for a session another transaction holds, and still ends it', async () => {
    const { db, pool } = await migrated();
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: new MysqlStore(pool), clock: clock.now });
    for (const holderEnds of [false, true]) {
      const userId = `held-${holderEnds}`;
      const made = [];
      for (let i = 0; i < 3; i += 1) made.push(await sessions.create({ userId }));
      clock.advance(MINUTE);
      // A touch in progress on the oldest (it moves to the front of the user's index), or a
      // concurrent revoke of it, committed only after the sign-out has had to wait for it.
      const holder = await db.pool({ connectionLimit: 1 }).getConnection();
      await holder.query('START TRANSACTION');
      await holder.query(
        holderEnds
          ? "UPDATE curfew_sessions SET ended_at = ?, end_reason = 'logout' WHERE id = ?"
          : 'UPDATE curfew_sessions SET last_activity_at = ? WHERE id = ?',
        [clock.now(), made[0]!.session.id],
      );
      const started = performance.now();
      const revoking = sessions.revokeUserSessions(userId, { batchSize: 4 });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await holder.query('COMMIT');
      holder.release();
      expect(await revoking).toBe(holderEnds ? 2 : 3);
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      for (const { token } of made) expect((await sessions.validate(token)).valid).toBe(false);
      expect(await sessions.getSession(made[0]!.session.id)).toMatchObject({
        endReason: holderEnds ? 'logout' : 'password_change',
      });
    }
  });

  it('signs a user out twice at once, with sweeps and touches, without a deadlock', {
    timeout: 120_000,
  }, async () => {
    const { db, pool } = await migrated();
    const clock = new ManualClock();
    const now = clock.now();
    // 4,000 sessions of one user, 500 of them idle and left for the sweeps, and 1,000 idle ones
    // of other users; a quarter of the user's are validated (and touched) while it is signed out.
    const tokens = Array.from({ length: 4_000 }, () => generateSessionToken());
    const idle = (i: number) => i % 8 === 0;
    await insertRows(pool, [
      ...tokens.map((token, i) => ({
        userId: 'target',
        tenantId: i % 2 ? 'acme' : null,
        lastActivityAt: idle(i) ? now - 40 * MINUTE : now - 10 * MINUTE + (i % 500),
        absoluteExpiresAt: now + 60 * MINUTE,
        token,
      })),
      ...Array.from({ length: 1_000 }, (_, i) => ({
        userId: `idle-${i % 20}`,
        tenantId: null,
        lastActivityAt: now - 40 * MINUTE,
        absoluteExpiresAt: now + 60 * MINUTE,
      })),
    ]);
    const watched = Array.from({ length: 4 }, () => deadlockWatch(db.pool({ connectionLimit: 4 })));
    const events: SessionEvent[] = [];
    const manager = (i: number) =>
      new SessionManager({
        store: new MysqlStore(watched[i]!.pool),
        clock: clock.now,
        policy: { activityWriteInterval: 0 },
        onEvent: (event) => events.push(event),
      });
    const [one, two, sweeper, validator] = [0, 1, 2, 3].map(manager);
    let running = true;
    const sweeping = (async () => {
      let swept = 0;
      while (running) {
        const result = await sweeper!.sweepExpired({ batchSize: 50 });
        swept += result.absolute + result.idle;
        await new Promise((resolve) => setImmediate(resolve));
      }
      return swept;
    })();
    const touching = (async () => {
      for (let i = 0; running; i += 1) {
        clock.advance(1);
        await validator!.validate(tokens[(i * 4) % tokens.length]!);
      }
    })();
    const [a, b] = await Promise.all([
      one!.revokeUserSessions('target', { batchSize: 100 }),
      two!.revokeUserSessions('target', { batchSize: 150 }),
    ]);
    running = false;
    const [swept] = await Promise.all([sweeping, touching]);
    // Everyone had a share of the work, and nobody met a deadlock (not even one retried).
    expect(Math.min(a, b, swept)).toBeGreaterThan(0);
    expect(watched.map((w) => w.deadlocks())).toEqual([0, 0, 0, 0]);
    const ended = events.filter((event) => event.type === 'ended');
    expect(new Set(ended.map((event) => event.sessionId)).size).toBe(ended.length);
    const forTarget = ended.filter((event) => event.userId === 'target');
    expect(forTarget).toHaveLength(4_000);
    const revoked = forTarget.filter((event) => event.reason === 'password_change');
    expect(a + b).toBe(revoked.length);
    expect(forTarget.length - revoked.length).toBe(
      forTarget.filter((event) => event.reason === 'idle_timeout').length,
    );
    const [active] = await pool.query(
      "SELECT COUNT(*) AS n FROM curfew_sessions WHERE user_id = 'target' AND ended_at IS NULL",
    );
    expect(Number((active as Array<{ n: unknown }>)[0]?.n)).toBe(0);
  });

  it('works whatever the pool does with rows and big numbers', async () => {
    const { db } = await migrated();
    const clock = new ManualClock();
    for (const options of [
      { rowsAsArray: true },
      { nestTables: true },
      { supportBigNumbers: true, bigNumberStrings: true },
      { namedPlaceholders: true },
    ]) {
      const sessions = new SessionManager({
        store: new MysqlStore(db.pool(options)),
        clock: clock.now,
      });
      const { token, session } = await sessions.create({ userId: 'erin', tenantId: 'acme' });
      clock.advance(MINUTE);
      const result = await sessions.validate(token);
      expect(result).toMatchObject({ valid: true, session: { id: session.id, userId: 'erin' } });
      if (result.valid) expect(result.session.lastActivityAt.getTime()).toBe(clock.now());
      expect((await sessions.listUserSessions('erin')).sessions.map((s) => s.id)).toContain(
        session.id,
      );
      clock.advance(31 * MINUTE);
      expect(await sessions.sweepExpired()).toMatchObject({ idle: 1 });
      expect(await sessions.getSession(session.id)).toMatchObject({
        endReason: 'idle_timeout',
        endedAt: new Date(clock.now() - MINUTE),
      });
    }
  });

  it('tells users apart by case and by trailing spaces', async () => {
    const { pool } = await migrated();
    const sessions = new SessionManager({ store: new MysqlStore(pool) });
    const lower = await sessions.create({ userId: 'alice', tenantId: 'acme' });
    const upper = await sessions.create({ userId: 'Alice', tenantId: 'acme' });
    const spaced = await sessions.create({ userId: 'alice ', tenantId: 'acme ' });
    expect((await sessions.listUserSessions('Alice')).sessions.map((s) => s.id)).toEqual([
      upper.session.id,
    ]);
    expect((await sessions.listUserSessions('alice', { tenantId: 'acme ' })).sessions).toEqual([]);
    expect(await sessions.revokeUserSessions('alice')).toBe(1);
    expect((await sessions.validate(lower.token)).valid).toBe(false);
    expect((await sessions.validate(upper.token)).valid).toBe(true);
    expect((await sessions.validate(spaced.token)).valid).toBe(true);
    // Ids are ASCII: an id with a trailing space or a non-ASCII one is simply not there.
    expect(await sessions.getSession(`${upper.session.id} `)).toBeNull();
    expect(await sessions.getSession('é')).toBeNull();
    expect(await sessions.revokeSession(`${upper.session.id} `)).toBe(false);
    expect((await sessions.validate(upper.token)).valid).toBe(true);
  });

  it('answers STORE_UNAVAILABLE within its time bound, then works again', async () => {
    const { db, pool } = await migrated();
    const sessions = new SessionManager({ store: new MysqlStore(pool, { timeout: 300 }) });
    const one = await sessions.create({ userId: 'carol' });
    const two = await sessions.create({ userId: 'carol' });
    // Someone else's transaction holds the first session's row.
    const holder = await db.pool({ connectionLimit: 1 }).getConnection();
    await holder.query('START TRANSACTION');
    await holder.query('SELECT * FROM curfew_sessions WHERE id = ? FOR UPDATE', [one.session.id]);
    try {
      for (const run of [
        () => sessions.revoke(one.token),
        () => sessions.revokeUserSessions('carol'),
      ]) {
        const started = performance.now();
        const error = await run().catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
        expect(performance.now() - started).toBeLessThan(2_000);
      }
      // Plain reads never wait for row locks: validation carries on.
      const started = performance.now();
      expect((await sessions.validate(two.token, { touch: false })).valid).toBe(true);
      expect(performance.now() - started).toBeLessThan(1_000);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    // The timed-out sign-out-everywhere was rolled back with its connection: the second
    // session, which only it would have ended, is still valid.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await sessions.validate(two.token)).valid).toBe(true);
    const fresh = await sessions.create({ userId: 'dave' });
    expect((await sessions.validate(fresh.token)).valid).toBe(true);
  });

  it('shares a backlog between concurrent sweepers without ending anything twice', async () => {
    const { db, pool } = await migrated();
    const clock = new ManualClock();
    const start = clock.now();
    // 2,000 sessions, the first half past their absolute expiry, the rest idle, all inserted at
    // once with SQL: the sweep is under test here, not create().
    const rows = Array.from({ length: 2_000 }, (_, i) => [
      crypto.randomUUID(),
      hashSessionToken(`backlog-token-${i}-${crypto.randomUUID()}`),
      `user-${i % 50}`,
      'control_panel',
      start - 13 * 60 * MINUTE,
      i < 1_000 ? start - 13 * 60 * MINUTE : start - 40 * MINUTE,
      i < 1_000 ? start - MINUTE : start + 11 * 60 * MINUTE,
      start - 13 * 60 * MINUTE,
      30 * MINUTE,
      (i < 1_000 ? start - 13 * 60 * MINUTE : start - 40 * MINUTE) + 30 * MINUTE,
    ]);
    await pool.query(
      `INSERT INTO curfew_sessions (id, token_hash, user_id, app_type, created_at,
         last_activity_at, absolute_expires_at, authenticated_at, idle_timeout,
         idle_expires_at) VALUES ?`,
      [rows],
    );
    const events: SessionEvent[] = [];
    const sweeper = () =>
      new SessionManager({
        store: new MysqlStore(db.pool({ connectionLimit: 2 })),
        clock: clock.now,
        onEvent: (event) => events.push(event),
      });
    const results = await Promise.all(
      Array.from({ length: 4 }, () => sweeper().sweepExpired({ batchSize: 100 })),
    );
    const total = results.reduce((sum, r) => sum + r.absolute + r.idle, 0);
    const ended = events.filter((event) => event.type === 'ended');
    expect(new Set(ended.map((event) => event.sessionId)).size).toBe(ended.length);
    expect(total).toBe(ended.length);
    // A batch may come back short while another sweeper holds rows; one more sweep finishes.
    const rest = await sweeper().sweepExpired({ batchSize: 100 });
    expect(total + rest.absolute + rest.idle).toBe(2_000);
    expect(results.reduce((sum, r) => sum + r.absolute, 0) + rest.absolute).toBe(1_000);
    const [active] = await pool.query(
      'SELECT COUNT(*) AS n FROM curfew_sessions WHERE ended_at IS NULL',
    );
    expect(Number((active as Array<{ n: unknown }>)[0]?.n)).toBe(0);
  });

  it('never lets a validation that starts after a revoke returned succeed (1,000 rounds)', {
    timeout: 120_000,
  }, async () => {
    const { pool } = await migrated();
    const clock = new ManualClock();
    const sessions = new SessionManager({
      store: new MysqlStore(pool),
      clock: clock.now,
    });
    let startedAfter = 0;
    let touchedRounds = 0;
    for (let round = 0; round < 1_000; round += 1) {
      const { token } = await sessions.create({ userId: `racer-${round % 10}` });
      // Every tenth round a touch is due, so activity writes race the revoke as well.
      if (round % 10 === 0) {
        clock.advance(MINUTE);
        touchedRounds += 1;
      } else {
        clock.advance(1);
      }
      let revoked = false;
      const revoke = sessions.revoke(token).then((ended) => {
        revoked = true;
        return ended;
      });
      const validations = Array.from({ length: 50 }, async (_, i) => {
        // Spread the starts across the revoke: now, after a tick, after a timer, and once it
        // has returned.
        if (i % 5 === 1) await Promise.resolve();
        else if (i % 5 === 2) await new Promise((resolve) => setTimeout(resolve, 0));
        else if (i % 5 === 3) await new Promise((resolve) => setTimeout(resolve, 2));
        else if (i % 5 === 4) await revoke;
        const startedAfterRevoke = revoked;
        const result = await sessions.validate(token);
        return { startedAfterRevoke, valid: result.valid };
      });
      const [ended, ...outcomes] = await Promise.all([revoke, ...validations]);
      expect(ended).toBe(true);
      for (const outcome of outcomes) {
        if (outcome.startedAfterRevoke) {
          startedAfter += 1;
          expect(outcome.valid).toBe(false);
        }
      }
    }
    // The race was real: many validations began after a revoke had returned.
    expect(startedAfter).toBeGreaterThanOrEqual(10_000);
    expect(touchedRounds).toBe(100);
    const [live] = await pool.query(
      'SELECT COUNT(*) AS n FROM curfew_sessions WHERE ended_at IS NULL',
    );
    expect(Number((live as Array<{ n: unknown }>)[0]?.n)).toBe(0);
  });
});
