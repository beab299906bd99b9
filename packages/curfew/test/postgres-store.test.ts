// What only the PostgreSQL store must prove, beyond the conformance suite: its migrations under
// concurrency, one statement per validation, the indexes its statements use (a page of a user
// with 100,000 sessions included), a batch of "sign out everywhere" racing other writers, many
// sweepers sharing the work, which of its errors mean "unavailable", and its typing against the
// real `pg` Pool.
import { type AddressInfo, createServer } from 'node:net';
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
import {
  dropSchema,
  openPool,
  SHARED_POSTGRES,
  sharedPostgresAvailable,
  uniqueSchema,
} from './support/postgres.js';

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
    idleTimeout: 30 * MINUTE,
    aal: 2,
    methods: ['pwd', 'otp'],
    authenticatedAt: now,
    endedAt: null,
    endReason: null,
    ...overrides,
  };
}

async function indexNames(db: pg.Pool, name: string): Promise<string[]> {
  const { rows } = await db.query(
    `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'curfew_sessions'
     ORDER BY indexname`,
    [name],
  );
  return rows.map((row) => row.indexname as string);
}

/**
 * The plan of a statement, as JSON: by default the generic plan a prepared statement settles on
 * after a few runs, the one that matters. With `analyze`, it is run too (with buffer counts).
 */
async function explain(
  db: pg.Pool,
  text: string,
  values: unknown[],
  options: { mode?: 'force_generic_plan' | 'force_custom_plan'; analyze?: boolean } = {},
): Promise<unknown> {
  const client = await db.connect();
  try {
    await client.query(`SET plan_cache_mode = ${options.mode ?? 'force_generic_plan'}`);
    await client.query(`PREPARE explained AS ${text}`);
    const literals = values.map((v) =>
      v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${v}'`,
    );
    const how = options.analyze ? 'ANALYZE, BUFFERS, FORMAT JSON' : 'FORMAT JSON';
    const { rows } = await client.query(
      `EXPLAIN (${how}) EXECUTE explained(${literals.join(', ')})`,
    );
    return rows[0]['QUERY PLAN'];
  } finally {
    await client.query('DEALLOCATE explained').catch(() => {});
    await client.query('RESET plan_cache_mode');
    client.release();
  }
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
      applied: [1, 2, 3],
    });
    expect(await migratePostgres(db, { schema: name })).toEqual({
      from: 3,
      to: POSTGRES_SCHEMA_VERSION,
      applied: [],
    });
    await PostgresStore.open(db, { schema: name }); // migrates again: nothing to do
    const { rows } = await db.query(
      `SELECT version, description, applied_at FROM "${name}".curfew_migrations`,
    );
    expect(rows).toEqual([
      { version: 1, description: expect.any(String), applied_at: expect.any(Date) },
      { version: 2, description: expect.any(String), applied_at: expect.any(Date) },
      { version: 3, description: expect.any(String), applied_at: expect.any(Date) },
    ]);
    expect(await indexNames(db, name)).toEqual([
      'curfew_sessions_absolute_active',
      'curfew_sessions_ended',
      'curfew_sessions_idle_deadline',
      'curfew_sessions_pkey',
      'curfew_sessions_tenant_active',
      'curfew_sessions_token_hash_key',
      'curfew_sessions_user_activity',
      'curfew_sessions_user_tenant_activity',
    ]);
  });

  it('upgrade a version 1 schema with its sessions in place', async () => {
    const db = pool();
    const name = schema();
    await migratePostgres(db, { schema: name });
    // Back to version 1 as it was released: none of version 3's columns and indexes, its user
    // index and none of version 2's.
    await db.query(`
      ALTER TABLE "${name}".curfew_sessions DROP COLUMN aal, DROP COLUMN methods,
        DROP COLUMN authenticated_at, DROP COLUMN idle_timeout, DROP COLUMN idle_expires_at;
      CREATE INDEX curfew_sessions_idle_active ON "${name}".curfew_sessions (last_activity_at)
        WHERE ended_at IS NULL;
      DROP INDEX "${name}".curfew_sessions_tenant_active;
      DELETE FROM "${name}".curfew_migrations WHERE version = 3;
      DROP INDEX "${name}".curfew_sessions_user_tenant_activity;
      DROP INDEX "${name}".curfew_sessions_user_activity;
      CREATE INDEX curfew_sessions_user_active ON "${name}".curfew_sessions (user_id, tenant_id)
        WHERE ended_at IS NULL;
      DELETE FROM "${name}".curfew_migrations WHERE version = 2;
    `);
    const session = storedSession({ tenantId: 'acme' });
    await db.query(
      `INSERT INTO "${name}".curfew_sessions (id, token_hash, user_id, tenant_id, app_type,
         created_at, last_activity_at, absolute_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [
        session.id,
        session.tokenHash,
        session.userId,
        session.tenantId,
        session.appType,
        session.createdAt,
        session.lastActivityAt,
        session.absoluteExpiresAt,
      ],
    );
    await expect(PostgresStore.open(db, { schema: name, migrate: false })).rejects.toThrow(
      /version 1/,
    );
    expect(await migratePostgres(db, { schema: name })).toEqual({
      from: 1,
      to: 3,
      applied: [2, 3],
    });
    expect(await indexNames(db, name)).not.toContain('curfew_sessions_user_active');
    expect(await indexNames(db, name)).not.toContain('curfew_sessions_idle_active');
    const store = await PostgresStore.open(db, { schema: name, migrate: false });
    // What was known of it, and no more: its sign-in time, the lowest level, no methods, and
    // the strictest preset's idle limit (15 minutes), so the upgrade fails closed.
    const upgraded = {
      ...session,
      aal: 1,
      methods: [],
      authenticatedAt: session.createdAt,
      idleTimeout: 15 * MINUTE,
    };
    expect(
      await store.listUserSessions(
        { userId: session.userId, tenantId: 'acme' },
        { now: session.createdAt, limit: 5 },
      ),
    ).toEqual([upgraded]);
    const idle = session.lastActivityAt + 15 * MINUTE;
    expect(await store.sweep({ now: idle, limit: 10 })).toEqual([
      expect.objectContaining({ id: session.id, endReason: 'idle_timeout', endedAt: idle }),
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
      expect(results.flatMap((r) => r.applied)).toEqual([1, 2, 3]);
      expect(results.filter((r) => r.from === POSTGRES_SCHEMA_VERSION)).toHaveLength(3);
    } finally {
      holder.release();
    }
    const db = pool();
    const versions = await db.query(
      `SELECT version FROM "${name}".curfew_migrations ORDER BY version`,
    );
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
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
         created_at, last_activity_at, absolute_expires_at, ended_at, end_reason,
         authenticated_at, idle_timeout, idle_expires_at)
       SELECT 'id-' || i, encode(sha256(('t' || i)::bytea), 'hex'), 'user-' || (i % 5000),
         CASE WHEN i % 2 = 0 THEN 'tenant-' || (i % 50) END, 'app', 1000, 1000 + i, 1000 + i * 10,
         CASE WHEN i % 3 = 0 THEN 2000 + i END, CASE WHEN i % 3 = 0 THEN 'logout' END,
         1000, 1800000, 1000 + i + 1800000
       FROM generate_series(1, 50000) AS i`,
    );
    await db.query(`ANALYZE "${name}".curfew_sessions`);
    const sql = buildStatements(resolveTables(name));
    // Plain EXPLAIN: nothing is executed, so the sweep and purge change no row.
    const plan = async (text: string, values: unknown[]) =>
      JSON.stringify(await explain(db, text, values));
    const hash = hashSessionToken('x'.repeat(43));
    const validate = await plan(sql.validate, [hash, 5000, 60000, null, true, null]);
    expect(validate).toContain('curfew_sessions_token_hash_key');
    expect(validate).not.toContain('Seq Scan');
    const list = await plan(sql.listUser.none, ['user-7', 5000, 9e15, '', 101]);
    expect(list).toMatch(/curfew_sessions_user_(tenant_)?activity/);
    expect(list).not.toContain('Seq Scan');
    const sweep = await plan(sql.sweep, [5000, 1000]);
    expect(sweep).toContain('curfew_sessions_absolute_active');
    expect(sweep).toContain('curfew_sessions_idle_deadline');
    expect(sweep).not.toContain('Seq Scan');
    // Ending a tenant's sessions walks the tenant index, a batch at a time.
    const tenant = await plan(sql.endMany.one, [null, 5000, 'admin_revoke', null, 500, 'tenant-4']);
    expect(tenant).toContain('curfew_sessions_tenant_active');
    expect(tenant).not.toContain('Seq Scan');
    const purge = await plan(sql.purge, [5000, 1000]);
    expect(purge).toContain('curfew_sessions_ended');
  });

  it('pages and signs out a user of 100,000 sessions by walking one index range', async () => {
    // One user with 100,000 sessions in one tenant among 5,000 users with ten, statistics
    // gathered: the planner knows how lopsided it is.
    await db.query(
      `INSERT INTO "${name}".curfew_sessions (id, token_hash, user_id, tenant_id, app_type,
         created_at, last_activity_at, absolute_expires_at, authenticated_at)
       SELECT 'id-' || i, encode(sha256(('t' || i)::bytea), 'hex'),
         CASE WHEN i <= 100000 THEN 'whale' ELSE 'user-' || (i % 5000) END,
         CASE WHEN i % 2 = 0 THEN 'acme' END, 'app', 1000, 1000 + i / 100, 100000000, 1000
       FROM generate_series(1, 150000) AS i`,
    );
    await db.query(`ANALYZE "${name}".curfew_sessions`);
    const sql = buildStatements(resolveTables(name));
    // $1 user, $2 now, $3 and $4 the position, $5 limit, [$6 tenant].
    const first = (userId: string) => [userId, 5000, Number.MAX_SAFE_INTEGER, '', 11];
    const later = (userId: string) => [userId, 5000, 1500, 'id-50000', 11];
    const sortsByActivity = (plan: unknown) =>
      /"Sort Key":\[[^\]]*last_activity_at/.test(JSON.stringify(plan));
    // Whatever plan the statement gets, generic (a prepared statement's after a few runs) or
    // custom (its first runs), a page costs a few index and heap pages: for the first page or a
    // later one of the 100,000, as for a user with ten, where sorting the user's rows would read
    // thousands. The generic plan walks the scope's own index backwards, sorting nothing.
    const visited = (plan: unknown) => {
      const top = (plan as [{ Plan: Record<string, number> }])[0].Plan;
      return (top['Shared Hit Blocks'] ?? 0) + (top['Shared Read Blocks'] ?? 0);
    };
    const costs: Record<string, number> = {};
    for (const mode of ['force_generic_plan', 'force_custom_plan'] as const) {
      for (const [scope, text, tenant, index] of [
        ['any', sql.listUser.any, [], 'curfew_sessions_user_activity'],
        ['none', sql.listUser.none, [], 'curfew_sessions_user_tenant_activity'],
        ['one', sql.listUser.one, ['acme'], 'curfew_sessions_user_tenant_activity'],
      ] as const) {
        for (const [page, values] of Object.entries({
          'whale, first page': first('whale'),
          'whale, later page': later('whale'),
          'user-8, first page': first('user-8'),
        })) {
          const plan = await explain(db, text, [...values, ...tenant], { mode, analyze: true });
          costs[`${mode} ${scope}: ${page}`] = visited(plan);
          if (mode === 'force_generic_plan') {
            expect(JSON.stringify(plan)).toContain(`"Index Name":"${index}"`);
            expect(JSON.stringify(plan)).toContain('"Scan Direction":"Backward"');
            expect(sortsByActivity(plan)).toBe(false);
          }
        }
      }
    }
    for (const blocks of Object.values(costs)) expect(blocks).toBeLessThan(30);
    // A batch of "sign out everywhere" reads its candidates the same way, forwards, and locks
    // them by primary key; the only sort is of the rows it ended, for the answer.
    for (const [text, tenant, index] of [
      [sql.endUser.any, [], 'curfew_sessions_user_activity'],
      [sql.endUser.none, [], 'curfew_sessions_user_tenant_activity'],
      [sql.endUser.one, ['acme'], 'curfew_sessions_user_tenant_activity'],
    ] as const) {
      const plan = await explain(db, text, ['whale', 5000, 'logout', null, 500, ...tenant]);
      expect(JSON.stringify(plan)).toContain(`"Index Name":"${index}"`);
      expect(JSON.stringify(plan)).toContain('"Node Type":"LockRows"');
      expect(sortsByActivity(plan)).toBe(false);
    }
  });

  it('ends a batch by its snapshot: a row ended or written meanwhile is waited for', async () => {
    const start = Date.parse('2026-01-01T00:00:00Z');
    const sessions = Array.from({ length: 10 }, (_, i) =>
      storedSession({ userId: 'racer', createdAt: start + i, lastActivityAt: start + i }),
    );
    for (const session of sessions) await store.insert(session);
    const input = { now: start + MINUTE, idleTimeout: 30 * MINUTE, reason: 'logout' as const };
    const holders = [await db.connect(), await db.connect()];
    try {
      // One transaction is ending the least recently active session (as a concurrent revoke
      // would), another is recording activity on the next (as a validation would); neither has
      // committed when the batch starts.
      const [ending, touching] = holders as [pg.PoolClient, pg.PoolClient];
      await ending.query('BEGIN');
      await ending.query(
        `UPDATE "${name}".curfew_sessions SET ended_at = $2, end_reason = 'admin_revoke'
         WHERE id = $1`,
        [sessions[0]!.id, start + MINUTE],
      );
      await touching.query('BEGIN');
      await touching.query(
        `UPDATE "${name}".curfew_sessions SET last_activity_at = $2 WHERE id = $1`,
        [sessions[1]!.id, start + MINUTE],
      );
      const batch = store.endUserSessions({ userId: 'racer' }, { ...input, limit: 5 });
      await expect
        .poll(async () => {
          const { rows } = await db.query(
            `SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`,
          );
          return rows[0].n;
        })
        .toBeGreaterThan(0);
      await ending.query('COMMIT');
      await touching.query('COMMIT');
      const step = await batch;
      // Five candidates: the one ended meanwhile is dropped, the touched one is still ended.
      // Four ended is fewer than the limit, yet five sessions are left: not done.
      expect(step.ended.map((s) => s.id).sort()).toEqual(
        sessions
          .slice(1, 5)
          .map((s) => s.id)
          .sort(),
      );
      expect(step.done).toBe(false);
    } finally {
      for (const holder of holders) {
        await holder.query('ROLLBACK').catch(() => {});
        holder.release();
      }
    }
    const next = await store.endUserSessions({ userId: 'racer' }, { ...input, limit: 5 });
    expect(next.ended.map((s) => s.id).sort()).toEqual(
      sessions
        .slice(5)
        .map((s) => s.id)
        .sort(),
    );
    expect(next.done).toBe(false); // five candidates again: it cannot know they were the last
    expect(await store.endUserSessions({ userId: 'racer' }, { ...input, limit: 5 })).toEqual({
      ended: [],
      done: true,
    });
    expect(await store.findById(sessions[0]!.id)).toMatchObject({ endReason: 'admin_revoke' });
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
         created_at, last_activity_at, absolute_expires_at, authenticated_at, idle_timeout,
         idle_expires_at)
       SELECT 'id-' || i, encode(sha256(('t' || i)::bytea), 'hex'), 'user-' || (i % 100), 'app',
         $1::bigint, $1::bigint + i, $1::bigint + CASE WHEN i % 2 = 0 THEN 60000 ELSE 43200000 END,
         $1::bigint, 1800000, $1::bigint + i + 1800000
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
      const swept = await store.sweep({ now: clock.now(), limit: 10 });
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

suite('PostgresStore.isUnavailable', () => {
  /** The error `run` fails with; the test fails if it succeeds. */
  async function failure(run: () => Promise<unknown>): Promise<unknown> {
    try {
      await run();
    } catch (error) {
      return error;
    }
    throw new Error('expected a failure');
  }

  /** A loopback port nothing listens on: a server that is down. */
  function closedPort(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
  }

  it('tells errors provoked on the real server apart: unreachable or too slow, or a bug', {
    timeout: 60_000,
  }, async () => {
    const admin = pool();
    const name = schema();
    const store = await PostgresStore.open(admin, { schema: name });
    const [session, other] = [storedSession(), storedSession()];
    await store.insert(session);
    await store.insert(other);
    const on = (target: PostgresPool) => new PostgresStore(target, { schema: name });
    const revoke = (target: PostgresPool) =>
      on(target).endSession({ id: session.id }, { now: session.createdAt, reason: 'logout' });

    // Answers nothing should produce.
    const duplicate = await failure(() => store.insert({ ...session, tokenHash: 'b'.repeat(64) }));
    const notAHash = await failure(() => store.insert(storedSession({ tokenHash: 'TOKEN' })));
    const noTable = await failure(() =>
      new PostgresStore(admin, { schema: schema() }).findById('x'),
    );
    const badSql = await failure(() => admin.query('SELEC 1'));
    // Two transactions each holding a row the other wants: the server aborts one.
    const [first, second] = [await admin.connect(), await admin.connect()];
    let deadlock: unknown;
    try {
      for (const client of [first, second]) {
        await client.query('BEGIN');
        await client.query(`SET LOCAL deadlock_timeout = '50ms'`);
      }
      const lock = (client: pg.PoolClient, id: string) =>
        client.query(`SELECT FROM "${name}".curfew_sessions WHERE id = $1 FOR UPDATE`, [id]);
      await lock(first, session.id);
      await lock(second, other.id);
      const outcomes = await Promise.allSettled([lock(first, other.id), lock(second, session.id)]);
      deadlock = outcomes.find((outcome) => outcome.status === 'rejected')?.reason;
    } finally {
      for (const client of [first, second]) {
        await client.query('ROLLBACK');
        client.release();
      }
    }

    // A transaction holds the session's row, as a validation's write would, so that a revoke
    // waits on it: for the server's timeouts, the client's, and an operator ending the backend.
    const holder = await admin.connect();
    const waits: Record<string, unknown> = {};
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT FROM "${name}".curfew_sessions WHERE id = $1 FOR UPDATE`, [
        session.id,
      ]);
      waits.statementTimeout = await failure(() => revoke(pool({ statement_timeout: 100 })));
      waits.lockTimeout = await failure(() =>
        revoke(pool({ statement_timeout: 0, options: '-c lock_timeout=100' })),
      );
      waits.queryTimeout = await failure(() =>
        revoke(pool({ statement_timeout: 0, query_timeout: 100 })),
      );
      const tag = `curfew_terminated_${process.pid}`;
      const terminated = failure(() =>
        revoke(pool({ statement_timeout: 0, application_name: tag })),
      );
      await expect
        .poll(async () => {
          const { rowCount } = await admin.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [tag],
          );
          return rowCount;
        })
        .toBeGreaterThan(0);
      waits.terminated = await terminated;
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }

    // The pool's own limits, a server that is not there, and a server out of connections.
    const single = pool({ max: 1, connectionTimeoutMillis: 100 });
    const taken = await single.connect();
    const checkoutTimeout = await failure(() => on(single).findById('x'));
    taken.release();
    const refused = await failure(async () => on(pool({ port: await closedPort() })).findById('x'));
    const ended = openPool();
    await ended.end();
    const poolEnded = await failure(() => on(ended).findById('x'));
    const role = uniqueSchema('curfew_full');
    await admin.query(`CREATE ROLE "${role}" LOGIN CONNECTION LIMIT 0`);
    let tooMany: unknown;
    try {
      const limited = openPool({ user: role });
      tooMany = await failure(() => on(limited).findById('x'));
      await limited.end();
    } finally {
      await admin.query(`DROP ROLE "${role}"`);
    }
    // A connection the server ended while it sat idle, then used.
    const client = new pg.Client(SHARED_POSTGRES);
    let dropped = false;
    client.on('error', () => {
      dropped = true;
    });
    await client.connect();
    const { rows } = await client.query('SELECT pg_backend_pid() AS pid');
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    await expect.poll(() => dropped).toBe(true);
    const droppedConnection = await failure(() => client.query('SELECT 1'));
    await client.end().catch(() => {});

    // States no test here can bring about on demand, as node-postgres reports them.
    const serverError = (code: string, message: string) =>
      Object.assign(new pg.DatabaseError(message, message.length, 'error'), { code });

    const cases: [string, unknown, string, boolean][] = [
      ['statement_timeout', waits.statementTimeout, '57014', true],
      ['lock_timeout', waits.lockTimeout, '55P03', true],
      ['query_timeout', waits.queryTimeout, 'Query read timeout', true],
      ['backend terminated', waits.terminated, '57P01', true],
      ['pool checkout timed out', checkoutTimeout, 'timeout exceeded when trying to connect', true],
      ['server down', refused, 'ECONNREFUSED', true],
      ['pool ended', poolEnded, 'Cannot use a pool after calling end on the pool', true],
      ['too many connections', tooMany, '53300', true],
      [
        'idle connection dropped',
        droppedConnection,
        'Client has encountered a connection error and is not queryable',
        true,
      ],
      ['starting up', serverError('57P03', 'the database system is starting up'), '57P03', true],
      ['crash reset', serverError('57P02', 'terminating connection'), '57P02', true],
      ['connection failure', serverError('08006', 'connection failure'), '08006', true],
      ['disk full', serverError('53100', 'could not extend file'), '53100', true],
      ['I/O error', serverError('58030', 'could not read block'), '58030', true],
      ['duplicate key', duplicate, '23505', false],
      ['CHECK refused a raw token', notAHash, '23514', false],
      ['no such table', noTable, '42P01', false],
      ['syntax error', badSql, '42601', false],
      ['deadlock', deadlock, '40P01', false],
      ['serialization failure', serverError('40001', 'could not serialize access'), '40001', false],
      ['read-only server', serverError('25006', 'cannot execute UPDATE'), '25006', true],
      ['not an error', 'ECONNREFUSED', '-', false],
    ];
    for (const [label, error, what, unavailable] of cases) {
      const seen = error as { code?: unknown; message?: unknown; errors?: { code?: unknown }[] };
      const found =
        typeof error === 'string' ? '-' : (seen.code ?? seen.message ?? seen.errors?.[0]?.code);
      expect({ label, found, unavailable: store.isUnavailable(error) }).toEqual({
        label,
        found: what,
        unavailable,
      });
    }
  });

  it('makes the manager say STORE_UNAVAILABLE for a timeout and STORE_ERROR for a bug', async () => {
    const admin = pool();
    const name = schema();
    const sessions = new SessionManager({
      store: await PostgresStore.open(pool({ statement_timeout: 100 }), { schema: name }),
    });
    const { token, session } = await sessions.create({ userId: 'u' });
    const holder = await admin.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT FROM "${name}".curfew_sessions WHERE id = $1 FOR UPDATE`, [
        session.id,
      ]);
      await expect(sessions.revoke(token)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    await admin.query(`DROP TABLE "${name}".curfew_sessions`);
    await expect(sessions.validate(token)).rejects.toMatchObject({ code: 'STORE_ERROR' });
  });
});
