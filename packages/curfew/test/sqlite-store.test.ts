// What only the SQLite store must prove: its schema and migrations, WAL, sharing one file between
// connections and processes, one statement per validation, the indexes its listing and batched
// sign-out walk, which of its errors mean "unavailable", and no token in any stored byte.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CurfewError,
  hashSessionToken,
  type SessionEvent,
  SessionManager,
  type StoredSession,
} from '../src/index.js';
import {
  migrateSqlite,
  SQLITE_SCHEMA_VERSION,
  type SqliteDatabase,
  SqliteStore,
} from '../src/stores/sqlite/index.js';
import { ManualClock } from '../src/testing/index.js';

const MINUTE = 60_000;

let dir: string;
let file: string;
let open: Database.Database[];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'curfew-sqlite-'));
  file = join(dir, 'sessions.db');
  open = [];
});

afterEach(() => {
  for (const db of open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

function connect(options?: Database.Options): Database.Database {
  return connectTo(file, options);
}

function connectTo(path: string, options?: Database.Options): Database.Database {
  const db = new Database(path, options);
  open.push(db);
  return db;
}

function curfewIndexes(db: Database.Database): string[] {
  return db
    .prepare(
      `SELECT name FROM sqlite_schema
       WHERE type = 'index' AND tbl_name = ? AND name NOT LIKE 'sqlite_%' ORDER BY name`,
    )
    .pluck()
    .all('curfew_sessions') as string[];
}

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

/**
 * Wraps a connection to count what the store asks of it, and to run `afterHashRead` once, right
 * after the store's read by hash: the moment another process could change the row.
 */
function instrument(db: Database.Database) {
  const counts = { prepared: 0, executed: 0 };
  const sources: string[] = [];
  const hooks: { afterHashRead?: (() => void) | undefined } = {};
  const wrapped: SqliteDatabase = {
    prepare(source) {
      counts.prepared += 1;
      sources.push(source);
      const statement = db.prepare(source);
      const isHashRead = /^\s*SELECT[\s\S]*WHERE token_hash = \?\s*$/.test(source);
      const counted =
        (method: 'run' | 'get' | 'all') =>
        (...params: unknown[]) => {
          counts.executed += 1;
          const result = (statement[method] as (...args: unknown[]) => unknown)(...params);
          if (isHashRead && hooks.afterHashRead) {
            const hook = hooks.afterHashRead;
            hooks.afterHashRead = undefined;
            hook();
          }
          return result;
        };
      return {
        run: counted('run') as never,
        get: counted('get'),
        all: counted('all') as never,
        safeIntegers: (toggle) => statement.safeIntegers(toggle),
        pluck: (toggle) => statement.pluck(toggle),
      };
    },
    exec: (source) => db.exec(source),
    pragma: (source, options) => db.pragma(source, options),
    transaction: (fn) => db.transaction(fn),
  };
  return { db: wrapped, counts, sources, hooks };
}

describe('SqliteStore migrations', () => {
  it('are versioned, recorded and idempotent', () => {
    const db = connect();
    expect(migrateSqlite(db)).toEqual({ from: 0, to: SQLITE_SCHEMA_VERSION, applied: [1, 2, 3] });
    expect(migrateSqlite(db)).toEqual({
      from: SQLITE_SCHEMA_VERSION,
      to: SQLITE_SCHEMA_VERSION,
      applied: [],
    });
    new SqliteStore(db); // migrates again on construction: nothing to do
    const rows = db.prepare('SELECT version, description, applied_at FROM curfew_migrations').all();
    expect(rows).toEqual([
      { version: 1, description: expect.any(String), applied_at: expect.any(Number) },
      { version: 2, description: expect.any(String), applied_at: expect.any(Number) },
      { version: 3, description: expect.any(String), applied_at: expect.any(Number) },
    ]);
    expect(curfewIndexes(db)).toEqual([
      'curfew_sessions_absolute_active',
      'curfew_sessions_ended',
      'curfew_sessions_idle_deadline',
      'curfew_sessions_tenant_active',
      'curfew_sessions_token_hash',
      'curfew_sessions_user_activity',
      'curfew_sessions_user_tenant_activity',
    ]);
  });

  it('upgrade a version 1 database with its sessions in place', async () => {
    const db = connect();
    migrateSqlite(db);
    // Back to version 1 as it was released: none of version 3's columns and indexes, its user
    // index and none of version 2's.
    db.exec(`
      DROP INDEX curfew_sessions_idle_deadline;
      DROP INDEX curfew_sessions_tenant_active;
      ALTER TABLE curfew_sessions DROP COLUMN aal;
      ALTER TABLE curfew_sessions DROP COLUMN methods;
      ALTER TABLE curfew_sessions DROP COLUMN authenticated_at;
      ALTER TABLE curfew_sessions DROP COLUMN idle_timeout;
      ALTER TABLE curfew_sessions DROP COLUMN idle_expires_at;
      CREATE INDEX curfew_sessions_idle_active ON curfew_sessions (last_activity_at)
        WHERE ended_at IS NULL;
      DELETE FROM curfew_migrations WHERE version = 3;
      DROP INDEX curfew_sessions_user_tenant_activity;
      DROP INDEX curfew_sessions_user_activity;
      CREATE INDEX curfew_sessions_user_active ON curfew_sessions (user_id, tenant_id)
        WHERE ended_at IS NULL;
      DELETE FROM curfew_migrations WHERE version = 2;
    `);
    const session = storedSession({ tenantId: 'acme' });
    db.prepare(
      `INSERT INTO curfew_sessions (id, token_hash, user_id, tenant_id, app_type, created_at,
         last_activity_at, absolute_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      session.id,
      session.tokenHash,
      session.userId,
      session.tenantId,
      session.appType,
      session.createdAt,
      session.lastActivityAt,
      session.absoluteExpiresAt,
    );
    expect(() => new SqliteStore(db, { migrate: false })).toThrow(/version 1/);
    expect(migrateSqlite(db)).toEqual({ from: 1, to: 3, applied: [2, 3] });
    expect(curfewIndexes(db)).not.toContain('curfew_sessions_user_active');
    expect(curfewIndexes(db)).not.toContain('curfew_sessions_idle_active');
    const store = new SqliteStore(db, { migrate: false });
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
    expect(await store.validate(session.tokenHash, { now: idle - 1, touchInterval: null })).toEqual(
      { status: 'valid', session: upgraded, touched: false },
    );
    expect(await store.sweep({ now: idle, limit: 10 })).toEqual([
      expect.objectContaining({ id: session.id, endReason: 'idle_timeout', endedAt: idle }),
    ]);
  });

  it('with migrate: false, refuses a database that is not migrated, then accepts it', () => {
    const db = connect();
    expect(() => new SqliteStore(db, { migrate: false })).toThrow(
      expect.objectContaining({ code: 'STORE_UNAVAILABLE' }),
    );
    expect(db.prepare(`SELECT count(*) FROM sqlite_schema`).pluck().get()).toBe(0);
    migrateSqlite(db);
    expect(() => new SqliteStore(db, { migrate: false })).not.toThrow();
  });

  it('refuses a schema written by a newer curfew', () => {
    const db = connect();
    migrateSqlite(db);
    db.prepare(`INSERT INTO curfew_migrations VALUES (?, 'from the future', 0)`).run(
      SQLITE_SCHEMA_VERSION + 1,
    );
    for (const run of [() => migrateSqlite(db), () => new SqliteStore(db, { migrate: false })]) {
      expect(run).toThrow(CurfewError);
      expect(run).toThrow(/newer than this curfew/);
    }
  });

  it('apply once when several processes run them at the same moment', async () => {
    const outputs = await runProcesses(
      4,
      `const db = new Database(${JSON.stringify(file)});
       await go;
       console.log(JSON.stringify(sqlite.migrateSqlite(db)));
       db.close();`,
    );
    const results = outputs.map((out) => JSON.parse(out) as { applied: number[] });
    expect(results.flatMap((r) => r.applied)).toEqual([1, 2, 3]);
    const db = connect();
    expect(db.prepare('SELECT count(*) FROM curfew_migrations').pluck().get()).toBe(3);
  });
});

describe('SqliteStore connection setup', () => {
  it('puts the file in WAL mode and waits for locks', () => {
    const db = connect({ timeout: 0 });
    expect(db.pragma('busy_timeout', { simple: true })).toBe(0);
    new SqliteStore(db);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    // WAL is a property of the file: a new connection finds it already on.
    expect(connect().pragma('journal_mode', { simple: true })).toBe('wal');
    const patient = connect({ timeout: 30_000 });
    new SqliteStore(patient);
    expect(patient.pragma('busy_timeout', { simple: true })).toBe(30_000);
    new SqliteStore(patient, { busyTimeout: 250 });
    expect(patient.pragma('busy_timeout', { simple: true })).toBe(250);
  });

  it('returns times as numbers even when the connection defaults to BigInt', async () => {
    const db = connect();
    db.defaultSafeIntegers(true);
    const store = new SqliteStore(db);
    const session = storedSession();
    await store.insert(session);
    expect(await store.findById(session.id)).toEqual(session);
  });

  it('refuses bad constructor arguments', () => {
    expect(() => new SqliteStore(null as never)).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'db' }),
    );
    const db = connect();
    expect(() => new SqliteStore(db, { migrate: 'yes' as never })).toThrow(
      expect.objectContaining({ field: 'migrate' }),
    );
    expect(() => new SqliteStore(db, { busyTimeout: -1 })).toThrow(
      expect.objectContaining({ field: 'busyTimeout' }),
    );
  });

  it('answers ping', async () => {
    await expect(new SqliteStore(connect()).ping()).resolves.toBeUndefined();
  });
});

describe('SqliteStore statements', () => {
  it('prepares everything up front; a validation with no write due is one SELECT', async () => {
    const { db, counts } = instrument(connect());
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: new SqliteStore(db), clock: clock.now });
    const preparedAtStart = counts.prepared;
    const { token } = await sessions.create({ userId: 'u' });
    counts.executed = 0;
    clock.advance(1_000);
    expect((await sessions.validate(token)).valid).toBe(true);
    expect(counts.executed).toBe(1);
    clock.advance(MINUTE); // a write is due: the read, then one conditional UPDATE
    counts.executed = 0;
    expect((await sessions.validate(token)).valid).toBe(true);
    expect(counts.executed).toBe(2);
    await sessions.rotate(token);
    await sessions.listUserSessions('u');
    await sessions.revokeUserSessions('u');
    await sessions.purgeEnded({ endedBefore: clock.now() });
    expect(counts.prepared).toBe(preparedAtStart);
  });

  it('sweeps with one bounded statement per batch, absolute expiries first', async () => {
    const { db, counts } = instrument(connect());
    const store = new SqliteStore(db);
    const start = Date.parse('2026-01-01T00:00:00Z');
    const hour = 60 * MINUTE;
    // Three absolute expiries (12 h old) and three idle ones (1 h quiet), inserted interleaved.
    for (let i = 0; i < 6; i += 1) {
      const createdAt = i % 2 === 0 ? start : start + 11 * hour;
      await store.insert(
        storedSession({
          userId: `u${i}`,
          createdAt,
          lastActivityAt: createdAt,
          absoluteExpiresAt: createdAt + 12 * hour,
        }),
      );
    }
    await store.insert(
      storedSession({
        userId: 'live',
        createdAt: start + 12 * hour,
        lastActivityAt: start + 12 * hour,
        absoluteExpiresAt: start + 24 * hour,
      }),
    );
    const rule = { now: start + 12 * hour, idleTimeout: 30 * MINUTE };
    const batches: string[][] = [];
    counts.executed = 0;
    for (;;) {
      const ended = await store.sweep({ ...rule, limit: 4 });
      batches.push(ended.map((s) => `${s.userId}:${s.endReason}`));
      if (ended.length < 4) break;
    }
    expect(counts.executed).toBe(2);
    expect(batches).toEqual([
      ['u0:absolute_timeout', 'u2:absolute_timeout', 'u4:absolute_timeout', 'u1:idle_timeout'],
      ['u3:idle_timeout', 'u5:idle_timeout'],
    ]);
    expect(await store.sweep({ ...rule, limit: 4 })).toEqual([]);
  });

  it('lists a page and ends a batch by walking one index range, sorting nothing', async () => {
    const raw = connect();
    const { db, sources } = instrument(raw);
    const store = new SqliteStore(db);
    // A user with thousands of sessions among many users with few; planned before and after
    // ANALYZE, so whether the planner knows how lopsided it is changes nothing.
    const start = Date.parse('2026-01-01T00:00:00Z');
    raw.exec('BEGIN');
    for (let i = 0; i < 6000; i += 1) {
      const at = start + i;
      await store.insert(
        storedSession({
          userId: i < 5000 ? 'whale' : `user-${i % 200}`,
          tenantId: i % 3 === 0 ? null : 'acme',
          createdAt: at,
          lastActivityAt: at,
          endedAt: i % 7 === 0 ? at : null,
          endReason: i % 7 === 0 ? 'logout' : null,
        }),
      );
    }
    raw.exec('COMMIT');
    const plan = (source: string, params: Record<string, unknown>) =>
      (raw.prepare(`EXPLAIN QUERY PLAN ${source}`).all(params) as { detail: string }[])
        .map((row) => row.detail)
        .join('\n');
    const statement = (pattern: RegExp, tenant: boolean) => {
      const found = sources.filter((source) => pattern.test(source));
      expect(found).toHaveLength(2);
      return found.find((source) => source.includes('@tenantId') === tenant)!;
    };
    const list = /ORDER BY last_activity_at DESC, id DESC\s+LIMIT/;
    const end = /ORDER BY last_activity_at, id\s+LIMIT/;
    const listParams = {
      userId: 'whale',
      now: start,
      beforeAt: start + 4000,
      beforeId: 'x',
      limit: 101,
    };
    const endParams = {
      userId: 'whale',
      exceptId: null,
      limit: 500,
      now: start,
      idle: null,
      reason: 'logout',
    };
    const search = (index: string, terms: string) =>
      `SEARCH curfew_sessions USING INDEX curfew_sessions_${index} (${terms})`;
    const walk = '(last_activity_at,id)<(?,?)';
    for (const analyzed of [false, true]) {
      if (analyzed) raw.exec('ANALYZE');
      const plans = [
        [
          plan(statement(list, false), listParams),
          search('user_activity', `user_id=? AND ${walk}`),
        ],
        [
          plan(statement(list, true), { ...listParams, tenantId: 'acme' }),
          search('user_tenant_activity', `user_id=? AND tenant_id=? AND ${walk}`),
        ],
        [plan(statement(end, false), endParams), search('user_activity', 'user_id=?')],
        [
          plan(statement(end, true), { ...endParams, tenantId: null }),
          search('user_tenant_activity', 'user_id=? AND tenant_id=?'),
        ],
      ];
      for (const [text, expected] of plans) {
        expect(text).toContain(expected);
        expect(text).not.toContain('TEMP B-TREE');
      }
      // The sweep walks the deadline indexes; ending a tenant walks the tenant index.
      const sweep = sources.find((source) => source.includes('ORDER BY idle_expires_at'))!;
      const sweepPlan = plan(sweep, { now: start, reason: 'idle_timeout', limit: 1000 });
      expect(sweepPlan).toContain(search('absolute_active', 'absolute_expires_at<?'));
      expect(sweepPlan).toContain(
        search('idle_deadline', 'idle_expires_at>? AND idle_expires_at<?'),
      );
      const tenant = sources.find((source) =>
        /INDEXED BY curfew_sessions_tenant_active/.test(source),
      )!;
      expect(
        plan(tenant, {
          now: start,
          reason: 'logout',
          exceptId: null,
          limit: 500,
          tenantId: 'acme',
        }),
      ).toContain(search('tenant_active', 'tenant_id=?'));
    }
  });

  it('stores the token nowhere: no column of any row of any table, no byte of the files', async () => {
    const db = connect();
    const clock = new ManualClock();
    const sessions = new SessionManager({
      store: new SqliteStore(db),
      clock: clock.now,
      policy: { activityWriteInterval: 0 },
    });
    const tokens: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const { token } = await sessions.create({
        userId: `user-${i % 3}`,
        tenantId: i % 2 ? 'acme' : null,
        ipAddress: '203.0.113.9',
        userAgent: 'Mozilla/5.0',
      });
      tokens.push(token);
      clock.advance(1_000);
      await sessions.validate(token);
    }
    for (const token of tokens.slice(0, 5)) {
      const rotated = await sessions.rotate(token);
      if (rotated) tokens.push(rotated.token);
    }
    await sessions.revoke(tokens[6]!);
    await sessions.revokeUserSessions('user-2');
    clock.advance(31 * MINUTE);
    await sessions.sweepExpired();

    const tables = db
      .prepare(`SELECT name FROM sqlite_schema WHERE type = 'table'`)
      .pluck()
      .all() as string[];
    expect(tables).toEqual(expect.arrayContaining(['curfew_sessions', 'curfew_migrations']));
    let cells = 0;
    for (const table of tables) {
      for (const row of db.prepare(`SELECT * FROM "${table}"`).raw().all() as unknown[][]) {
        for (const value of row) {
          cells += 1;
          for (const token of tokens) expect(String(value)).not.toContain(token);
        }
      }
    }
    expect(cells).toBeGreaterThanOrEqual(20 * 12);
    // The stored form is the hash, and the schema itself refuses anything else.
    const hashes = db.prepare('SELECT token_hash FROM curfew_sessions').pluck().all();
    expect(hashes).toContain(hashSessionToken(tokens[20]!));
    const store = new SqliteStore(db);
    await expect(store.insert(storedSession({ tokenHash: tokens[0]! }))).rejects.toThrow(/CHECK/);
    // Nor in the raw pages, in the database file or its write-ahead log.
    for (const path of [file, `${file}-wal`]) {
      if (!existsSync(path)) continue;
      const bytes = readFileSync(path).toString('latin1');
      for (const token of tokens) expect(bytes).not.toContain(token);
    }
  });
});

describe('SqliteStore.isUnavailable', () => {
  /** The error `run` fails with; the test fails if it succeeds. */
  async function failure(run: () => unknown): Promise<unknown> {
    try {
      await run();
    } catch (error) {
      return error;
    }
    throw new Error('expected a failure');
  }

  it('tells errors provoked on real files apart: could not use the file, or a bug', async () => {
    const store = new SqliteStore(connect());
    const session = storedSession();
    await store.insert(session);

    // Another connection holds the write lock past a busy timeout of 0.
    const holder = connect();
    holder.exec('BEGIN IMMEDIATE');
    const busy = await failure(() =>
      new SqliteStore(connect(), { busyTimeout: 0 }).insert(storedSession()),
    );
    holder.exec('ROLLBACK');

    // The file may not grow by another page.
    const fullDb = new Database(join(dir, 'full.db'));
    open.push(fullDb);
    const small = new SqliteStore(fullDb);
    fullDb.pragma(`max_page_count = ${fullDb.pragma('page_count', { simple: true })}`);
    const full = await failure(async () => {
      for (let i = 0; i < 1000; i += 1) {
        await small.insert(storedSession({ userAgent: 'x'.repeat(2000) }));
      }
    });

    const closedDb = new Database(file);
    const closedStore = new SqliteStore(closedDb);
    closedDb.close();
    const closed = await failure(() => closedStore.findById(session.id));

    // A directory where the file should be.
    const cantOpen = await failure(() => new SqliteStore(connectTo(dir)));

    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, Buffer.alloc(8192, 7));
    const notADatabase = await failure(() => new SqliteStore(connectTo(garbage)));

    const duplicateId = await failure(() =>
      store.insert({ ...session, tokenHash: 'a'.repeat(64) }),
    );
    const duplicateHash = await failure(() => store.insert({ ...session, id: 'another' }));
    const notAHash = await failure(() => store.insert(storedSession({ tokenHash: 'TOKEN' })));
    connect().exec('DROP TABLE curfew_sessions');
    const noTable = await failure(() => store.findById(session.id));

    const { SqliteError } = Database;
    const cases: [string, unknown, string | undefined, boolean][] = [
      ['lock held past the busy timeout', busy, 'SQLITE_BUSY', true],
      ['disk (max_page_count) full', full, 'SQLITE_FULL', true],
      ['connection closed', closed, undefined, true],
      ['file cannot be opened', cantOpen, 'SQLITE_CANTOPEN', true],
      // Codes no test here can bring about on demand, as better-sqlite3 raises them.
      [
        'I/O error',
        new SqliteError('disk I/O error', 'SQLITE_IOERR_WRITE'),
        'SQLITE_IOERR_WRITE',
        true,
      ],
      [
        'WAL snapshot gone',
        new SqliteError('database is locked', 'SQLITE_BUSY_SNAPSHOT'),
        'SQLITE_BUSY_SNAPSHOT',
        true,
      ],
      [
        'table locked',
        new SqliteError('database table is locked', 'SQLITE_LOCKED'),
        'SQLITE_LOCKED',
        true,
      ],
      ['out of memory', new SqliteError('out of memory', 'SQLITE_NOMEM'), 'SQLITE_NOMEM', true],
      [
        'WAL lock race lost',
        new SqliteError('locking protocol', 'SQLITE_PROTOCOL'),
        'SQLITE_PROTOCOL',
        true,
      ],
      [
        'a network error under a shim',
        Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
        'ECONNRESET',
        true,
      ],
      ['not a database', notADatabase, 'SQLITE_NOTADB', false],
      ['duplicate id', duplicateId, 'SQLITE_CONSTRAINT_PRIMARYKEY', false],
      ['duplicate hash', duplicateHash, 'SQLITE_CONSTRAINT_UNIQUE', false],
      ['CHECK refused a raw token', notAHash, 'SQLITE_CONSTRAINT_CHECK', false],
      ['no such table', noTable, 'SQLITE_ERROR', false],
      [
        'corrupt file',
        new SqliteError('database disk image is malformed', 'SQLITE_CORRUPT'),
        'SQLITE_CORRUPT',
        false,
      ],
      [
        'file moved away',
        new SqliteError('attempt to write a readonly database', 'SQLITE_READONLY_DBMOVED'),
        'SQLITE_READONLY_DBMOVED',
        false,
      ],
      ['not an error', 'SQLITE_BUSY', undefined, false],
      ['nothing', null, undefined, false],
    ];
    const table = cases.map(([label, error, code, unavailable]) => ({
      label,
      code: (error as { code?: unknown } | null)?.code,
      unavailable: store.isUnavailable(error),
      expected: { label, code, unavailable },
    }));
    for (const row of table) {
      expect({ label: row.label, code: row.code, unavailable: row.unavailable }).toEqual(
        row.expected,
      );
    }
  });

  it('makes the manager say STORE_UNAVAILABLE for a busy file and STORE_ERROR for a bug', async () => {
    const sessions = new SessionManager({ store: new SqliteStore(connect(), { busyTimeout: 0 }) });
    const { token } = await sessions.create({ userId: 'u' });
    const holder = connect();
    holder.exec('BEGIN IMMEDIATE');
    await expect(sessions.create({ userId: 'u' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    holder.exec('ROLLBACK');
    holder.exec('DROP TABLE curfew_sessions');
    await expect(sessions.validate(token)).rejects.toMatchObject({ code: 'STORE_ERROR' });
  });
});

describe('SqliteStore with a read-lock holder', () => {
  const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
  // Another process's full checkpoint: it cannot finish while a reader keeps a WAL snapshot.
  const truncateWal = (db: Database.Database) =>
    (db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[])[0]!.busy === 0;

  function holding() {
    const db = connect();
    const holder = connect();
    const store = new SqliteStore(db, { readLockHolder: holder });
    return { store, db, holder, outsider: connect({ timeout: 0 }) };
  }

  it('holds the lock while the store reads, and lets go before a write and at the turn’s end', async () => {
    const { store, outsider } = holding();
    const session = storedSession();
    await store.insert(session);
    await store.findById(session.id);
    expect(truncateWal(outsider)).toBe(false);
    await store.insert(storedSession()); // same turn: the write let go first
    expect(truncateWal(outsider)).toBe(true);

    await store.insert(storedSession());
    await store.listUserSessions({ userId: 'user-1' }, { now: 0, limit: 10 });
    expect(truncateWal(outsider)).toBe(false);
    await nextTurn();
    expect(truncateWal(outsider)).toBe(true);
    expect(statSync(`${file}-wal`).size).toBe(0);
  });

  it('reads still see every commit, another process’s too, while the lock is held', async () => {
    const { store, outsider } = holding();
    const clock = new ManualClock();
    const here = new SessionManager({ store, clock: clock.now });
    const elsewhere = new SessionManager({ store: new SqliteStore(connect()), clock: clock.now });
    const { token } = await here.create({ userId: 'u' });
    const other = await here.create({ userId: 'u' });
    expect(await here.validate(token)).toMatchObject({ valid: true });
    expect(await elsewhere.revoke(token)).toBe(true); // as `curfew sessions revoke` would
    expect(truncateWal(outsider)).toBe(false); // still held, all in one turn
    expect(await here.validate(token)).toMatchObject({ valid: false, endReason: 'logout' });
    expect((await here.listUserSessions('u')).sessions.map((s) => s.id)).toEqual([
      other.session.id,
    ]);
  });

  // Each write of the store, run while a read of the same turn holds the lock: it must let go
  // first, or its own checkpoint stops short and the WAL cannot restart.
  const start = Date.parse('2026-01-01T00:00:00Z');
  const rule = { now: start + MINUTE, idleTimeout: 30 * MINUTE };
  const writes: [string, (store: SqliteStore, session: StoredSession) => Promise<unknown>][] = [
    ['insert', (store) => store.insert(storedSession())],
    [
      'validate, writing activity',
      (store, s) => store.validate(s.tokenHash, { ...rule, touchInterval: 0 }),
    ],
    [
      'validate, ending an expired session',
      (store, s) =>
        store.validate(s.tokenHash, { ...rule, now: start + 31 * MINUTE, touchInterval: 0 }),
    ],
    ['rotate', (store, s) => store.rotate(s.tokenHash, hashSessionToken('new'), rule)],
    [
      'endSession by hash',
      (store, s) => store.endSession({ tokenHash: s.tokenHash }, { ...rule, reason: 'logout' }),
    ],
    [
      'endSession by id',
      (store, s) => store.endSession({ id: s.id }, { ...rule, reason: 'logout' }),
    ],
    [
      'endUserSessions',
      (store, s) =>
        store.endUserSessions({ userId: s.userId }, { ...rule, reason: 'logout', limit: 10 }),
    ],
    ['sweep', (store) => store.sweep({ ...rule, now: start + 31 * MINUTE, limit: 10 })],
    ['purgeEnded', (store) => store.purgeEnded({ endedBefore: start + 60 * MINUTE, limit: 10 })],
  ];

  it.each(writes)('%s lets go of the lock before it writes', async (_, write) => {
    const { store, outsider } = holding();
    const session = storedSession({ createdAt: start, lastActivityAt: start });
    await store.insert(session);
    await store.insert(storedSession({ endedAt: start, endReason: 'logout' })); // to purge
    await store.findById(session.id);
    expect(truncateWal(outsider)).toBe(false); // held
    await write(store, session);
    expect(truncateWal(outsider)).toBe(true); // same turn, let go
  });

  it('lets go before every write, so the WAL keeps restarting instead of growing', async () => {
    const { store, db } = holding();
    const pageSize = Number(db.pragma('page_size', { simple: true }));
    db.pragma('wal_autocheckpoint = 8'); // a checkpoint after every commit past 8 pages
    let largest = 0;
    // All in one turn, reads and writes alternating, the way a busy server interleaves them.
    for (let i = 0; i < 300; i += 1) {
      const session = storedSession();
      await store.insert(session);
      await store.findById(session.id);
      largest = Math.max(largest, statSync(`${file}-wal`).size);
    }
    // Kept while writing, the held snapshot would stop every checkpoint short of the last
    // commit, so the WAL could never restart: it would pass 1,000 pages here.
    expect(largest).toBeLessThan(40 * pageSize);
  });

  it('refuses a holder it cannot use', () => {
    const db = connect();
    const refused = (holder: unknown, target = db) =>
      expect(() => new SqliteStore(target, { readLockHolder: holder as SqliteDatabase })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'readLockHolder' }),
      );
    refused(db);
    refused({});
    const elsewhere = new Database(join(dir, 'other.db'));
    open.push(elsewhere);
    refused(elsewhere);
    const inMemory = new Database(':memory:');
    open.push(inMemory);
    refused(connect(), inMemory);
    // A file kept out of WAL by its owner: a held read there would block every writer.
    const journalFile = join(dir, 'journal.db');
    const [rollbackJournal, itsHolder] = [new Database(journalFile), new Database(journalFile)];
    open.push(rollbackJournal, itsHolder);
    rollbackJournal.pragma('journal_mode = MEMORY');
    refused(itsHolder, rollbackJournal);
    expect(() => new SqliteStore(db, { readLockHolder: connect() })).not.toThrow();
  });

  it('a holder closed in the middle of a turn leaves nothing to fail at its end', async () => {
    const { store, holder } = holding();
    const session = storedSession();
    await store.insert(session);
    await store.findById(session.id);
    holder.close();
    await nextTurn();
    expect(truncateWal(connect())).toBe(true);
  });
});

describe('SqliteStore shared between connections', () => {
  it('each connection sees the other’s writes; an expired session ends exactly once', async () => {
    const clock = new ManualClock();
    const events: SessionEvent[] = [];
    const on = (db: Database.Database) =>
      new SessionManager({
        store: new SqliteStore(db),
        clock: clock.now,
        onEvent: (event) => events.push(event),
      });
    const one = on(connect());
    const two = on(connect());
    const { token, session } = await one.create({ userId: 'u' });
    expect(await two.validate(token)).toMatchObject({ valid: true });
    const other = await two.create({ userId: 'u' });
    expect((await one.listUserSessions('u')).sessions.map((s) => s.id).sort()).toEqual(
      [session.id, other.session.id].sort(),
    );
    expect(await one.revoke(other.token)).toBe(true);
    expect(await two.validate(other.token)).toMatchObject({ valid: false, endReason: 'logout' });

    clock.advance(30 * MINUTE);
    const expired = { valid: false, reason: 'idle', sessionId: session.id };
    expect(await one.validate(token)).toMatchObject(expired);
    expect(await two.validate(token)).toMatchObject(expired);
    expect(await one.validate(token)).toMatchObject(expired);
    const ended = events.filter((e) => e.type === 'ended' && e.sessionId === session.id);
    expect(ended).toHaveLength(1);
    expect(ended[0]).toMatchObject({ reason: 'idle_timeout', at: new Date(clock.now()) });
  });

  it('a validation whose write loses a race looks again and reports what won', async () => {
    const clock = new ManualClock();
    const events: SessionEvent[] = [];
    const racing = instrument(connect());
    const one = new SessionManager({
      store: new SqliteStore(racing.db),
      clock: clock.now,
      onEvent: (event) => events.push(event),
    });
    const two = new SessionManager({ store: new SqliteStore(connect()), clock: clock.now });

    // Another connection ends the expired session between this one's read and its write.
    const { token, session } = await one.create({ userId: 'u' });
    clock.advance(30 * MINUTE);
    racing.hooks.afterHashRead = () => void two.validate(token);
    expect(await one.validate(token)).toMatchObject({ valid: false, reason: 'idle' });
    expect(events.filter((e) => e.type === 'ended')).toHaveLength(0); // `two` ended it, not `one`

    // Another connection rotates the token between this one's read and its activity write.
    const fresh = await one.create({ userId: 'u' });
    clock.advance(2 * MINUTE);
    racing.hooks.afterHashRead = () => void two.rotate(fresh.token);
    expect(await one.validate(fresh.token)).toEqual({ valid: false, reason: 'not_found' });

    // Another connection revokes between the read and the write.
    const third = await one.create({ userId: 'u' });
    clock.advance(2 * MINUTE);
    racing.hooks.afterHashRead = () => void two.revoke(third.token);
    expect(await one.validate(third.token)).toMatchObject({ valid: false, endReason: 'logout' });
    expect(await one.getSession(session.id)).toMatchObject({ endReason: 'idle_timeout' });
  });

  it.each([
    ['alone', false],
    ['each with a read-lock holder', true],
  ])(
    'several processes validating the same expired sessions end each exactly once (%s)',
    async (_, withHolder) => {
      const db = connect();
      const store = new SqliteStore(db);
      const start = Date.parse('2026-01-01T00:00:00Z');
      const hashes: string[] = [];
      for (let i = 0; i < 300; i += 1) {
        const session = storedSession({ userId: `u${i}`, createdAt: start, lastActivityAt: start });
        await store.insert(session);
        hashes.push(session.tokenHash);
      }
      const list = join(dir, 'hashes.json');
      writeFileSync(list, JSON.stringify(hashes));
      const outputs = await runProcesses(
        4,
        `const db = new Database(${JSON.stringify(file)});
       const store = new sqlite.SqliteStore(db, { readLockHolder: ${withHolder ? `new Database(${JSON.stringify(file)})` : 'undefined'} });
       const hashes = JSON.parse(fs.readFileSync(${JSON.stringify(list)}, 'utf8'));
       const input = { now: ${start + 31 * MINUTE}, idleTimeout: ${30 * MINUTE}, touchInterval: 0 };
       await go;
       let endedNow = 0;
       for (const hash of hashes) {
         const result = await store.validate(hash, input);
         if (result.status === 'expired' && result.endedNow) endedNow += 1;
         else if (result.status !== 'ended' && result.status !== 'expired') throw new Error(result.status);
       }
       console.log(endedNow);
       db.close();`,
      );
      const total = outputs.reduce((sum, out) => sum + Number(out), 0);
      expect(total).toBe(hashes.length);
      const rows = db
        .prepare(`SELECT end_reason, count(*) AS n FROM curfew_sessions GROUP BY end_reason`)
        .all();
      expect(rows).toEqual([{ end_reason: 'idle_timeout', n: hashes.length }]);
    },
  );
});

/**
 * Runs `body` in `count` separate Node processes at once (each waits for `go` until all have
 * started) and resolves with what each printed. `Database`, `sqlite` (the built curfew/sqlite)
 * and `fs` are in scope.
 */
async function runProcesses(count: number, body: string): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const driver = require.resolve('better-sqlite3');
  const built = new URL('../dist/stores/sqlite/index.js', import.meta.url);
  if (!existsSync(fileURLToPath(built))) throw new Error('run `npm run build` first');
  const script = join(dir, `child-${crypto.randomUUID()}.mjs`);
  writeFileSync(
    script,
    `import fs from 'node:fs';
     import { createRequire } from 'node:module';
     const Database = createRequire(import.meta.url)(${JSON.stringify(driver)});
     const sqlite = await import(${JSON.stringify(built.href)});
     const go = new Promise((resolve) => process.stdin.once('data', resolve));
     process.stdout.write('ready\\n');
     ${body}
     process.exit(0);`,
  );
  const children = Array.from({ length: count }, () => {
    const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let resolveReady = () => {};
    const ready = new Promise<void>((resolve) => {
      resolveReady = resolve;
    });
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.startsWith('ready\n')) resolveReady();
    });
    child.stdin.on('error', () => {}); // a dead child's pipe: its exit code tells the story
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    const done = new Promise<string>((resolve, reject) => {
      child.on('close', (code) => {
        resolveReady(); // a child that died early must fail the test, not hang it
        if (code === 0) resolve(out.slice('ready\n'.length).trim());
        else reject(new Error(`child exited with ${code}: ${err}`));
      });
    });
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const { child } of children) child.stdin.end('go\n');
  return Promise.all(children.map((c) => c.done));
}
