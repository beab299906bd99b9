// What only the SQLite store must prove: its schema and migrations, WAL, sharing one file between
// connections and processes, one statement per validation, and no token in any stored byte.
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
  const db = new Database(file, options);
  open.push(db);
  return db;
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
  const hooks: { afterHashRead?: (() => void) | undefined } = {};
  const wrapped: SqliteDatabase = {
    prepare(source) {
      counts.prepared += 1;
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
  return { db: wrapped, counts, hooks };
}

describe('SqliteStore migrations', () => {
  it('are versioned, recorded and idempotent', () => {
    const db = connect();
    expect(migrateSqlite(db)).toEqual({ from: 0, to: SQLITE_SCHEMA_VERSION, applied: [1] });
    expect(migrateSqlite(db)).toEqual({
      from: SQLITE_SCHEMA_VERSION,
      to: SQLITE_SCHEMA_VERSION,
      applied: [],
    });
    new SqliteStore(db); // migrates again on construction: nothing to do
    const rows = db.prepare('SELECT version, description, applied_at FROM curfew_migrations').all();
    expect(rows).toEqual([
      { version: 1, description: expect.any(String), applied_at: expect.any(Number) },
    ]);
    const indexes = db
      .prepare(`SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? ORDER BY name`)
      .pluck()
      .all('curfew_sessions');
    expect(indexes).toEqual(
      expect.arrayContaining([
        'curfew_sessions_absolute_active',
        'curfew_sessions_ended',
        'curfew_sessions_idle_active',
        'curfew_sessions_token_hash',
        'curfew_sessions_user_active',
      ]),
    );
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
    expect(results.flatMap((r) => r.applied)).toEqual([1]);
    const db = connect();
    expect(db.prepare('SELECT count(*) FROM curfew_migrations').pluck().get()).toBe(1);
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
    await store.listUserSessions({ userId: 'user-1' }, { now: 0, idleTimeout: null, limit: 10 });
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
    expect((await here.listUserSessions('u')).map((s) => s.id)).toEqual([other.session.id]);
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
      (store, s) => store.endUserSessions({ userId: s.userId }, { ...rule, reason: 'logout' }),
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
    expect((await one.listUserSessions('u')).map((s) => s.id).sort()).toEqual(
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
