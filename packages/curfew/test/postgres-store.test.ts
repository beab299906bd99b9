// What only the PostgreSQL store must prove, beyond the conformance suite: its migrations under
// concurrency, one statement per validation, the indexes its statements use, many sweepers
// sharing the work, and its typing against the real `pg` Pool.
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  CurfewError,
  hashSessionToken,
  type SessionEvent,
  SessionManager,
  type StoredSession,
} from '../src/index.js';
import {
  migratePostgres,
  POSTGRES_SCHEMA_VERSION,
  type PostgresPool,
  type PostgresQueryConfig,
  PostgresStore,
} from '../src/stores/postgres/index.js';
import { buildStatements } from '../src/stores/postgres/statements.js';
import { resolveTables } from '../src/stores/postgres/tables.js';
import { ManualClock } from '../src/testing/index.js';
import { dropSchema, openPool, sharedPostgresAvailable, uniqueSchema } from './support/postgres.js';

const MINUTE = 60_000;
const available = await sharedPostgresAvailable();
const suite = available ? describe : describe.skip;

const pools: pg.Pool[] = [];
const schemas: string[] = [];

function pool(config: pg.PoolConfig = {}): pg.Pool {
  const opened = openPool(config);
  pools.push(opened);
  return opened;
}

function schema(prefix = 'curfew_pgtest'): string {
  const name = uniqueSchema(prefix);
  schemas.push(name);
  return name;
}

afterAll(async () => {
  if (!available) return;
  const admin = pool();
  for (const name of schemas) await dropSchema(admin, name);
  await Promise.all(pools.map((p) => p.end()));
});

function storedSession(overrides: Partial<StoredSession> = {}): StoredSession {
  const now = Date.parse('2026-01-01T00:00:00Z');
  return {
    id: crypto.randomUUID(),
    tokenHash: hashSessionToken(crypto.randomUUID()),
    userId: 'user-1',
    tenantId: null,
    appType: 'control_panel',
    ipAddress: null,
    userAgent: null,
    createdAt: now,
    lastActivityAt: now,
    absoluteExpiresAt: now + 12 * 60 * MINUTE,
    endedAt: null,
    endReason: null,
    ...overrides,
  };
}

/** Wraps a pool to count the statements the store sends, and keep their texts. */
function counting(target: pg.Pool) {
  const sent: PostgresQueryConfig[] = [];
  const wrapped: PostgresPool = {
    query: (config) => {
      sent.push(config);
      return target.query(config as pg.QueryConfig);
    },
    connect: () => target.connect(),
  };
  return { pool: wrapped, sent };
}

suite('PostgresStore migrations', () => {
  it('are versioned, recorded, idempotent, and create the schema', async () => {
    const db = pool();
    const name = schema();
    expect(await migratePostgres(db, { schema: name })).toEqual({
      from: 0,
      to: POSTGRES_SCHEMA_VERSION,
      applied: [1],
    });
    expect(await migratePostgres(db, { schema: name })).toEqual({
      from: 1,
      to: POSTGRES_SCHEMA_VERSION,
      applied: [],
    });
    await PostgresStore.open(db, { schema: name }); // migrates again: nothing to do
    const { rows } = await db.query(
      `SELECT version, description, applied_at FROM "${name}".curfew_migrations`,
    );
    expect(rows).toEqual([
      { version: 1, description: expect.any(String), applied_at: expect.any(Date) },
    ]);
    const indexes = await db.query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'curfew_sessions'
       ORDER BY indexname`,
      [name],
    );
    expect(indexes.rows.map((r) => r.indexname)).toEqual([
      'curfew_sessions_absolute_active',
      'curfew_sessions_ended',
      'curfew_sessions_idle_active',
      'curfew_sessions_pkey',
      'curfew_sessions_token_hash_key',
      'curfew_sessions_user_active',
    ]);
  });

  it('apply once when several connections run them at the same moment', async () => {
    const name = schema();
    const holder = await pool().connect();
    try {
      // Hold the migrations' advisory lock so that every migrator is queued on it, then let
      // them all go at once: the collision is certain, not left to timing.
      await holder.query('BEGIN');
      await holder.query(
        `SELECT pg_advisory_xact_lock(hashtextextended('curfew migrations ' || $1::text, 0))`,
        [name],
      );
      const migrators = Array.from({ length: 4 }, () =>
        migratePostgres(pool({ max: 1 }), { schema: name }),
      );
      await expect
        .poll(
          async () => {
            const { rows } = await holder.query(
              `SELECT count(*)::int AS waiting FROM pg_locks
               WHERE locktype = 'advisory' AND NOT granted AND database =
                 (SELECT oid FROM pg_database WHERE datname = current_database())`,
            );
            return rows[0].waiting;
          },
          { timeout: 10_000 },
        )
        .toBeGreaterThanOrEqual(4);
      await holder.query('COMMIT');
      const results = await Promise.all(migrators);
      expect(results.flatMap((r) => r.applied)).toEqual([1]);
      expect(results.filter((r) => r.from === 1)).toHaveLength(3);
    } finally {
      holder.release();
    }
    const db = pool();
    const versions = await db.query(`SELECT version FROM "${name}".curfew_migrations`);
    expect(versions.rows).toEqual([{ version: 1 }]);
    const tables = await db.query(
      'SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename',
      [name],
    );
    expect(tables.rows.map((r) => r.tablename)).toEqual(['curfew_migrations', 'curfew_sessions']);
  });

  it('with migrate: false, refuses a schema that is not migrated, then accepts it', async () => {
    const db = pool();
    const name = schema();
    await expect(PostgresStore.open(db, { schema: name, migrate: false })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
      message: expect.stringContaining('migratePostgres'),
    });
    await migratePostgres(db, { schema: name });
    await expect(PostgresStore.open(db, { schema: name, migrate: false })).resolves.toBeInstanceOf(
      PostgresStore,
    );
  });

  it('refuses a schema written by a newer curfew', async () => {
    const db = pool();
    const name = schema();
    await migratePostgres(db, { schema: name });
    await db.query(
      `INSERT INTO "${name}".curfew_migrations (version, description) VALUES ($1, 'future')`,
      [POSTGRES_SCHEMA_VERSION + 1],
    );
    for (const run of [
      () => migratePostgres(db, { schema: name }),
      () => PostgresStore.open(db, { schema: name, migrate: false }),
    ]) {
      const error = await run().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CurfewError);
      expect((error as CurfewError).message).toMatch(/newer than this curfew/);
    }
  });

  it('leave nothing behind when a migration fails', async () => {
    const db = pool();
    const name = schema();
    // A table of that name already there makes migration 1 fail halfway through its DDL.
    await db.query(`CREATE SCHEMA "${name}"`);
    await db.query(`CREATE TABLE "${name}".curfew_sessions (x int)`);
    await expect(migratePostgres(db, { schema: name })).rejects.toThrow(/already exists/);
    const tables = await db.query('SELECT tablename FROM pg_tables WHERE schemaname = $1', [name]);
    expect(tables.rows).toEqual([{ tablename: 'curfew_sessions' }]);
  });
});

suite('PostgresStore', () => {
  let db: pg.Pool;
  let name: string;
  let store: PostgresStore;

  beforeEach(async () => {
    db ??= pool();
    name ??= schema();
    store ??= await PostgresStore.open(db, { schema: name });
    await db.query(`TRUNCATE "${name}".curfew_sessions`);
  });

  it('validates in one statement whether it reads, touches or ends', async () => {
    const { pool: counted, sent } = counting(db);
    const clock = new ManualClock();
    const sessions = new SessionManager({
      store: new PostgresStore(counted, { schema: name }),
      clock: clock.now,
    });
    const { token } = await sessions.create({ userId: 'u' });
    const statements = async (run: () => Promise<unknown>) => {
      const before = sent.length;
      await run();
      return sent.slice(before);
    };
    // No write due, a write due, then expired: one statement each time, the same one.
    const read = await statements(() => sessions.validate(token));
    clock.advance(MINUTE);
    const touch = await statements(() => sessions.validate(token));
    clock.advance(31 * MINUTE);
    const expire = await statements(() => sessions.validate(token));
    const ended = await statements(() => sessions.validate(token));
    for (const one of [read, touch, expire, ended]) expect(one).toHaveLength(1);
    expect(new Set([read, touch, expire, ended].map((s) => s[0]?.text)).size).toBe(1);
    expect(read[0]?.name).toMatch(/^curfew_[0-9a-f]{24}$/);
  });

  it('runs every operation as one statement on the pool and never takes a connection', async () => {
    const { pool: counted, sent } = counting(db);
    let connects = 0;
    const sessions = new SessionManager({
      store: new PostgresStore(
        {
          ...counted,
          connect: () => {
            connects += 1;
            return db.connect();
          },
        },
        { schema: name },
      ),
    });
    const { token, session } = await sessions.create({ userId: 'u', tenantId: 't' });
    const rotated = await sessions.rotate(token);
    await sessions.listUserSessions('u', { tenantId: 't' });
    await sessions.getSession(session.id);
    await sessions.revokeSession(session.id, { userId: 'u' });
    await sessions.revokeUserSessions('u');
    await sessions.sweepExpired();
    await sessions.purgeEnded({ endedBefore: Date.now() });
    await sessions.ping();
    expect(rotated).not.toBeNull();
    expect(sent).toHaveLength(9);
    expect(connects).toBe(0);
    expect(sent.every((s) => !/;\s*\S/.test(s.text))).toBe(true);
  });

  it('uses the indexes for validation, listing, sweeping and purging at scale', async () => {
    await db.query(
      `INSERT INTO "${name}".curfew_sessions (id, token_hash, user_id, tenant_id, app_type,
         created_at, last_activity_at, absolute_expires_at, ended_at, end_reason)
       SELECT 'id-' || i, encode(sha256(('t' || i)::bytea), 'hex'), 'user-' || (i % 5000),
         NULL, 'app', 1000, 1000 + i, 1000 + i * 10,
         CASE WHEN i % 3 = 0 THEN 2000 + i END, CASE WHEN i % 3 = 0 THEN 'logout' END
       FROM generate_series(1, 50000) AS i`,
    );
    await db.query(`ANALYZE "${name}".curfew_sessions`);
    const sql = buildStatements(resolveTables(name));
    const plan = async (text: string, values: unknown[]) => {
      const client = await db.connect();
      try {
        // A generic plan, as a prepared statement gets after a few runs: the one that matters.
        // Plain EXPLAIN: nothing is executed, so the sweep and purge change no row.
        await client.query('SET plan_cache_mode = force_generic_plan');
        await client.query(`PREPARE explained AS ${text}`);
        const literals = values.map((v) => (typeof v === 'number' ? String(v) : `'${v}'`));
        const { rows } = await client.query(
          `EXPLAIN (FORMAT JSON) EXECUTE explained(${literals.join(', ')})`,
        );
        return JSON.stringify(rows[0]['QUERY PLAN']);
      } finally {
        await client.query('DEALLOCATE explained').catch(() => {});
        await client.query('RESET plan_cache_mode');
        client.release();
      }
    };
    const hash = hashSessionToken('x'.repeat(43));
    const validate = await plan(sql.validate, [hash, 5000, 1800000, 60000]);
    expect(validate).toContain('curfew_sessions_token_hash_key');
    expect(validate).not.toContain('Seq Scan');
    const list = await plan(sql.listUser.one, ['user-7', 5000, 1800000, 1000, 'acme']);
    expect(list).toContain('curfew_sessions_user_active');
    const sweep = await plan(sql.sweep, [5000, 1800000, 1000]);
    expect(sweep).toContain('curfew_sessions_absolute_active');
    expect(sweep).toContain('curfew_sessions_idle_active');
    expect(sweep).not.toContain('Seq Scan');
    const purge = await plan(sql.purge, [5000, 1000]);
    expect(purge).toContain('curfew_sessions_ended');
  });

  it('lets several sweepers share a large backlog: each session ended and counted once', async () => {
    const clock = new ManualClock();
    const events: SessionEvent[] = [];
    const sweeper = () =>
      new SessionManager({
        store: new PostgresStore(pool({ max: 2 }), { schema: name }),
        clock: clock.now,
        onEvent: (event) => events.push(event),
      });
    const start = clock.now();
    await db.query(
      `INSERT INTO "${name}".curfew_sessions (id, token_hash, user_id, app_type,
         created_at, last_activity_at, absolute_expires_at)
       SELECT 'id-' || i, encode(sha256(('t' || i)::bytea), 'hex'), 'user-' || (i % 100), 'app',
         $1::bigint, $1::bigint + i, $1::bigint + CASE WHEN i % 2 = 0 THEN 60000 ELSE 43200000 END
       FROM generate_series(1, 5000) AS i`,
      [start],
    );
    clock.advance(2 * 60 * MINUTE); // even ids: absolute expiry; odd ones: idle
    const results = await Promise.all(
      [50, 70, 110, 130].map((batchSize) => sweeper().sweepExpired({ batchSize })),
    );
    const total = results.reduce((sum, r) => sum + r.absolute + r.idle, 0);
    expect(total).toBe(5000);
    expect(results.reduce((sum, r) => sum + r.absolute, 0)).toBe(2500);
    expect(new Set(events.map((e) => e.sessionId)).size).toBe(5000);
    expect(results.filter((r) => r.absolute + r.idle > 0).length).toBeGreaterThan(1);
    const { rows } = await db.query(
      `SELECT end_reason, count(*)::int AS n, count(*) FILTER (WHERE end_reason = 'idle_timeout'
         AND ended_at <> last_activity_at + 1800000)::int AS wrong_idle,
         count(*) FILTER (WHERE end_reason = 'absolute_timeout'
         AND ended_at <> absolute_expires_at)::int AS wrong_absolute
       FROM "${name}".curfew_sessions GROUP BY end_reason ORDER BY end_reason`,
    );
    expect(rows).toEqual([
      { end_reason: 'absolute_timeout', n: 2500, wrong_idle: 0, wrong_absolute: 0 },
      { end_reason: 'idle_timeout', n: 2500, wrong_idle: 0, wrong_absolute: 0 },
    ]);
  });

  it('sweeps past a row a validation is writing instead of waiting for it', async () => {
    const clock = new ManualClock();
    const sessions = new SessionManager({ store, clock: clock.now });
    const first = await sessions.create({ userId: 'a' });
    const held = await sessions.create({ userId: 'b' });
    const other = await sessions.create({ userId: 'c' });
    // A transaction holding the doomed session's row, as a validation's write would.
    const holder = await db.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(
        `SELECT 1 FROM "${name}".curfew_sessions WHERE id = $1 FOR NO KEY UPDATE`,
        [held.session.id],
      );
      clock.advance(31 * MINUTE);
      // The sweep skips the held row and ends the others at once.
      const swept = await store.sweep({ now: clock.now(), idleTimeout: 30 * MINUTE, limit: 10 });
      expect(swept.map((s) => s.id).sort()).toEqual([first.session.id, other.session.id].sort());
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 1 });
  });

  it('returns times as numbers whatever the pool parses bigints into', async () => {
    const bigints = pool({
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === 20
            ? (value: string) => BigInt(value)
            : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
      },
    });
    const viaBigInts = new PostgresStore(bigints, { schema: name });
    const session = storedSession({ ipAddress: '192.0.2.1', tenantId: 'acme', userAgent: 'ua' });
    await viaBigInts.insert(session);
    expect(await viaBigInts.findById(session.id)).toEqual(session);
    const validated = await viaBigInts.validate(session.tokenHash, {
      now: session.createdAt + 1,
      idleTimeout: 30 * MINUTE,
      touchInterval: 0,
    });
    expect(validated).toEqual({
      status: 'valid',
      touched: true,
      session: { ...session, lastActivityAt: session.createdAt + 1 },
    });
  });

  it('works without prepared statements, for PgBouncer in transaction mode', async () => {
    const { pool: counted, sent } = counting(db);
    const sessions = new SessionManager({
      store: new PostgresStore(counted, { schema: name, preparedStatements: false }),
    });
    const { token } = await sessions.create({ userId: 'u' });
    expect((await sessions.validate(token)).valid).toBe(true);
    expect(await sessions.revoke(token)).toBe(true);
    expect((await sessions.validate(token)).valid).toBe(false);
    expect(sent.every((s) => s.name === undefined)).toBe(true);
  });

  it('keeps two schemas apart on one pool', async () => {
    const otherName = schema();
    const other = await PostgresStore.open(db, { schema: otherName });
    const session = storedSession();
    await other.insert(session);
    expect(await store.findById(session.id)).toBeNull();
    expect(await other.findById(session.id)).toEqual(session);
    // Same statement texts but for the table: different prepared-statement names, no clash.
    await store.insert(session);
    expect(await store.findById(session.id)).toEqual(session);
  });

  it('refuses bad arguments', () => {
    expect(() => new PostgresStore(null as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'pool' }),
    );
    for (const bad of ['has space', '1abc', 'a"; DROP TABLE x; --', 'x'.repeat(64), 42]) {
      expect(() => new PostgresStore(db, { schema: bad as string })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'schema' }),
      );
    }
    expect(() => new PostgresStore(db, { preparedStatements: 'yes' as never })).toThrow(
      expect.objectContaining({ field: 'preparedStatements' }),
    );
  });

  it('is published as curfew/postgres, from dist', async () => {
    const published = await import('curfew/postgres');
    expect(Object.keys(published).sort()).toEqual([
      'POSTGRES_SCHEMA_VERSION',
      'PostgresStore',
      'migratePostgres',
    ]);
    const curfew = await import('curfew');
    const sessions = new curfew.SessionManager({
      store: await published.PostgresStore.open(db, { schema: name, migrate: false }),
    });
    const { token } = await sessions.create({ userId: 'dist' });
    expect(await sessions.validate(token)).toMatchObject({ valid: true });
  });

  it('accepts a pg Pool and PoolClient by their types alone', () => {
    expectTypeOf<pg.Pool>().toMatchTypeOf<PostgresPool>();
  });
});
