// What only the MySQL/MariaDB store must prove, beyond the conformance suite: its migrations under
// concurrency, the round trips it documents, case- and space-exact users, its time bound, reads
// that never wait for locks, many sweepers sharing a backlog, the revoke-versus-validate race at
// scale, and its typing against the real mysql2 pool.
import { createPool, type Pool } from 'mysql2/promise';
import { afterAll, describe, expect, expectTypeOf, it } from 'vitest';
import { CurfewError, hashSessionToken, type SessionEvent, SessionManager } from '../src/index.js';
import {
  MYSQL_SCHEMA_VERSION,
  type MysqlPool,
  type MysqlQueryable,
  MysqlStore,
  migrateMysql,
} from '../src/stores/mysql/index.js';
import {
  LOCK_ABSOLUTE,
  listUser,
  PURGE,
  SELECT_BY_HASH,
  SWEEP_ABSOLUTE_CANDIDATES,
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
    expect(await migrateMysql(pool)).toEqual({ from: 0, to: MYSQL_SCHEMA_VERSION, applied: [1] });
    expect(await migrateMysql(pool)).toEqual({ from: 1, to: MYSQL_SCHEMA_VERSION, applied: [] });
    await MysqlStore.open(pool); // migrates again: nothing to do
    const [versions] = await pool.query('SELECT version, description FROM curfew_migrations');
    expect(versions).toEqual([{ version: 1, description: expect.any(String) }]);
    const [indexes] = await pool.query(
      `SELECT DISTINCT INDEX_NAME AS name FROM information_schema.STATISTICS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'curfew_sessions' ORDER BY name`,
    );
    expect((indexes as Array<{ name: string }>).map((row) => row.name)).toEqual([
      'curfew_sessions_absolute',
      'curfew_sessions_id',
      'curfew_sessions_idle',
      'curfew_sessions_token_hash',
      'curfew_sessions_user',
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
      expect(results.flatMap((result) => result.applied)).toEqual([1]);
      expect(results.filter((result) => result.from === 1)).toHaveLength(3);
    } finally {
      holder.release();
    }
    const [tables] = await holder.query(
      `SELECT TABLE_NAME AS name FROM information_schema.TABLES
       WHERE TABLE_SCHEMA = DATABASE() ORDER BY name`,
    );
    expect(tables).toEqual([{ name: 'curfew_migrations' }, { name: 'curfew_sessions' }]);
    const [versions] = await holder.query('SELECT version FROM curfew_migrations');
    expect(versions).toEqual([{ version: 1 }]);
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
      expect.stringMatching(/^UPDATE curfew_sessions SET last_activity_at = \? WHERE seq = \?/),
    ]);
    expect(await count(() => sessions.validate(token, { touch: false }))).toHaveLength(1);
    expect(await count(() => sessions.create({ userId: 'bob' }))).toEqual([
      expect.stringMatching(/^INSERT /),
    ]);
    expect(await count(() => sessions.listUserSessions('alice'))).toHaveLength(1);
    expect(await count(() => sessions.getSession(session.id))).toHaveLength(1);
    let rotated = '';
    expect(
      await count(async () => {
        rotated = (await sessions.rotate(token))?.token ?? '';
      }),
    ).toEqual([expect.stringMatching(/^SELECT /), expect.stringMatching(/^UPDATE .* token_hash/)]);
    expect(await count(() => sessions.revoke(rotated))).toEqual([
      expect.stringMatching(/^SELECT /),
      expect.stringMatching(/^UPDATE curfew_sessions SET ended_at = \?, end_reason = \?/),
    ]);
    expect(await count(() => sessions.revokeUserSessions('alice'))).toEqual([
      'SET TRANSACTION ISOLATION LEVEL READ COMMITTED',
      'START TRANSACTION',
      expect.stringMatching(/^SELECT .* FOR UPDATE$/),
      expect.stringMatching(/^UPDATE .* WHERE seq IN \(\?\)/),
      'COMMIT',
    ]);
    expect(await sessions.getSession(other.session.id)).toMatchObject({ active: false });
    clock.advance(31 * MINUTE);
    expect(await count(() => sessions.validate(token))).toHaveLength(1); // ended: nothing to do
    expect(await count(() => sessions.sweepExpired())).toEqual([
      'SET TRANSACTION ISOLATION LEVEL READ COMMITTED',
      'START TRANSACTION',
      expect.stringMatching(/^SELECT seq, absolute_expires_at .* LIMIT \?$/), // none
      expect.stringMatching(/^SELECT seq, last_activity_at .* LIMIT \?$/), // bob's, idle
      expect.stringMatching(/WHERE seq IN \(\?\) .* FOR UPDATE SKIP LOCKED$/),
      expect.stringMatching(/^UPDATE /),
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
    expect(await explain(listUser(true), ['user-1', 't', 0, null, null, 0, 10])).toBe(
      'curfew_sessions_user',
    );
    expect(await explain(PURGE, [Date.now() + MINUTE, 10])).toBe('curfew_sessions_absolute');
    const later = Date.now() + 13 * 60 * MINUTE;
    // The sweep's candidates: a range of its index, read in the index's own order.
    const candidates = await plan(SWEEP_ABSOLUTE_CANDIDATES, [later, 0, 0, 0, 10]);
    expect(candidates).toMatchObject({ key: 'curfew_sessions_absolute' });
    expect(candidates?.Extra).not.toMatch(/filesort/);
    // The sweep locks by primary key only, in key order: no index entry locked, no sort.
    const lock = await plan(LOCK_ABSOLUTE, [[1, 2, 3], later, 10]);
    expect(lock).toMatchObject({ key: 'PRIMARY' });
    expect(lock?.Extra).not.toMatch(/filesort/);
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
      expect((await sessions.listUserSessions('erin')).map((s) => s.id)).toContain(session.id);
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
    expect((await sessions.listUserSessions('Alice')).map((s) => s.id)).toEqual([upper.session.id]);
    expect(await sessions.listUserSessions('alice', { tenantId: 'acme ' })).toEqual([]);
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
    ]);
    await pool.query(
      `INSERT INTO curfew_sessions (id, token_hash, user_id, app_type, created_at,
         last_activity_at, absolute_expires_at) VALUES ?`,
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
