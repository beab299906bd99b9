// How fast SessionManager.validate is on the memory and SQLite stores, each next to its floor:
// the least work any implementation must do on the same table, measured in the same run.
//
// - read mode (coalesced writes: default 60 s interval, clock held still, so nothing is written):
//   floor = SHA-256 of the token + a prepared SELECT by hash (memory: + a Map lookup).
// - write mode (activityWriteInterval 0, clock moved 1 ms per call, so every call writes):
//   floor = SHA-256 + SELECT by hash + UPDATE of last_activity_at (memory: + an assignment).
//
// Each store is loaded at 10,000 and at 1,000,000 sessions, and all four (ours and floor, at both
// sizes) run in alternating slices, round after round, in an order that rotates. Every ratio is
// the median of the per-round ratios, so drift (CPU frequency, page cache, GC) hits both sides of
// a ratio alike. The clock is a variable the bench moves; nothing sleeps. Exits 1 when a write
// count is wrong (those are exact); a ratio below target is printed as MISS, not failed on.
//
// Imports the built library: `npm run bench` at the root builds first.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  generateSessionToken,
  hashSessionToken,
  MemoryStore,
  SessionManager,
} from '../dist/index.js';
import { SqliteStore } from '../dist/stores/sqlite/index.js';
import {
  alternateRounds,
  fmt,
  median,
  pct,
  printTable,
  progress,
  roundSlowdown,
  sha256,
} from './support/measure.js';

const SMALL = 10_000;
const LARGE = 1_000_000;
// Sessions validated in turn: the active working set, spread evenly through the table.
const WORKING_SET = 1_000;
const ROUNDS = 25;
const SLICE_MS = 80;
const BURST = 10_000;
const TARGET_RATIO = 0.6;
const TARGET_SLOWDOWN = 0.3;

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
let now = T0;
const clock = () => now;

/** The rows of a table of `size` sessions; the working set's tokens are known, evenly spaced. */
function* sessionRows(size, tokens) {
  const every = Math.floor(size / tokens.length);
  const random = randomBytes(32 * size);
  for (let i = 0; i < size; i += 1) {
    const token = i % every === 0 ? tokens[i / every] : undefined;
    // Created in the last ten minutes and valid; the working set was last active at T0.
    const createdAt = T0 - (i % 600_000);
    yield {
      id: randomUUID(),
      tokenHash: token === undefined ? random.toString('hex', i * 32, i * 32 + 32) : sha256(token),
      userId: `user-${i % 100_000}`,
      tenantId: i % 3 === 0 ? null : `tenant-${i % 50}`,
      appType: 'control_panel',
      ipAddress: '203.0.113.7',
      userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
      createdAt,
      lastActivityAt: token === undefined ? createdAt : T0,
      absoluteExpiresAt: createdAt + 12 * 3_600_000,
      idleTimeout: 30 * 60_000,
      aal: 2,
      methods: ['pwd', 'otp'],
      authenticatedAt: createdAt,
      endedAt: null,
      endReason: null,
    };
  }
}

/** A WAL file with curfew's schema (made by SqliteStore itself) and `size` sessions. */
function openSqlite(dir, size, tokens) {
  const started = performance.now();
  const db = new Database(join(dir, `sessions-${size}.db`));
  const store = new SqliteStore(db);
  const insert = db.prepare(`
    INSERT INTO curfew_sessions (
      id, token_hash, user_id, tenant_id, app_type, ip_address, user_agent,
      created_at, last_activity_at, absolute_expires_at, ended_at, end_reason,
      idle_timeout, idle_expires_at, aal, methods, authenticated_at
    ) VALUES (
      @id, @tokenHash, @userId, @tenantId, @appType, @ipAddress, @userAgent,
      @createdAt, @lastActivityAt, @absoluteExpiresAt, @endedAt, @endReason,
      @idleTimeout, @lastActivityAt + @idleTimeout, @aal, @methods, @authenticatedAt
    )`);
  // Bulk load: drop the secondary indexes, insert, and build them again from their own SQL,
  // all in one transaction. Building an index from sorted data is several times faster than
  // a million random inserts into it, and the schema ends up exactly as migrated.
  const indexes = db
    .prepare(
      `SELECT name, sql FROM sqlite_schema
       WHERE type = 'index' AND tbl_name = 'curfew_sessions' AND sql IS NOT NULL`,
    )
    .all();
  db.transaction(() => {
    for (const { name } of indexes) db.exec(`DROP INDEX "${name}"`);
    for (const row of sessionRows(size, tokens))
      insert.run({ ...row, methods: row.methods.join(' ') });
    for (const { sql } of indexes) db.exec(sql);
  })();
  db.pragma('wal_checkpoint(TRUNCATE)');

  // One JSON array per row, parsed, as the store reads them: cheaper than better-sqlite3 building
  // the row value by value.
  const select = db
    .prepare(
      `SELECT json_array(id, token_hash, user_id, tenant_id, app_type, ip_address, user_agent,
         created_at, last_activity_at, absolute_expires_at, ended_at, end_reason, idle_timeout,
         aal, methods, authenticated_at)
       FROM curfew_sessions WHERE token_hash = ?`,
    )
    .pluck();
  const update = db.prepare('UPDATE curfew_sessions SET last_activity_at = ? WHERE id = ?');
  const totalChanges = db.prepare('SELECT total_changes()').pluck();
  return {
    size,
    tokens,
    store,
    db,
    setupMs: performance.now() - started,
    writes: () => totalChanges.get(),
    floorRead(token) {
      const text = select.get(sha256(token));
      if (text === undefined) throw new Error('floor: missing row');
      JSON.parse(text);
    },
    floorWrite(token) {
      const text = select.get(sha256(token));
      if (text === undefined) throw new Error('floor: missing row');
      update.run(now, JSON.parse(text)[0]);
    },
    close: () => db.close(),
  };
}

async function openMemory(size, tokens) {
  const started = performance.now();
  const store = new MemoryStore();
  // The floor's own map holds the same rows: what a bare in-memory lookup costs.
  const byHash = new Map();
  for (const row of sessionRows(size, tokens)) {
    await store.insert(row); // the store keeps its own copy, so the floor can keep this one
    byHash.set(row.tokenHash, row);
  }
  return {
    size,
    tokens,
    store,
    setupMs: performance.now() - started,
    writes: () => 0,
    floorRead(token) {
      if (byHash.get(sha256(token)) === undefined) throw new Error('floor: missing row');
    },
    floorWrite(token) {
      const row = byHash.get(sha256(token));
      if (row === undefined) throw new Error('floor: missing row');
      row.lastActivityAt = now;
    },
    close: () => byHash.clear(),
  };
}

/** Runs `step` for about `ms` and returns operations per second. */
async function timeAsync(step, ms) {
  let ops = 0;
  let elapsed = 0;
  const start = performance.now();
  do {
    for (let i = 0; i < 128; i += 1) await step();
    ops += 128;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (ops / elapsed) * 1000;
}

function timeSync(step, ms) {
  let ops = 0;
  let elapsed = 0;
  const start = performance.now();
  do {
    for (let i = 0; i < 128; i += 1) step();
    ops += 128;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (ops / elapsed) * 1000;
}

/** What one slice runs for a target in a mode: ours through SessionManager, and the floor. */
function contestants(target, mode) {
  let next = 0;
  const token = () => {
    const t = target.tokens[next];
    next = next + 1 === target.tokens.length ? 0 : next + 1;
    return t;
  };
  const write = mode === 'write';
  const sessions = new SessionManager({
    store: target.store,
    clock,
    policy: write ? { activityWriteInterval: 0 } : {},
  });
  return {
    async ours() {
      if (write) now += 1;
      const result = await sessions.validate(token());
      if (!result.valid) throw new Error(`ours: ${result.reason}`);
    },
    floor() {
      if (write) {
        now += 1;
        target.floorWrite(token());
      } else {
        target.floorRead(token());
      }
    },
  };
}

/** Both sizes, ours and floor, in rotating order, round after round. */
async function compare(targets, mode) {
  const runs = targets.map((target) => ({ target, ...contestants(target, mode) }));
  for (const run of runs) {
    await timeAsync(run.ours, SLICE_MS); // warm both paths
    timeSync(run.floor, SLICE_MS);
  }
  const samples = await alternateRounds(
    runs.map((run) => ({
      ours: () => timeAsync(run.ours, SLICE_MS),
      floor: async () => timeSync(run.floor, SLICE_MS),
    })),
    ROUNDS,
  );
  return {
    sizes: samples.map((s, i) => ({
      size: targets[i].size,
      ours: median(s.ours),
      floor: median(s.floor),
      ratio: median(s.ratio),
    })),
    slowdown: roundSlowdown(samples[0].ours, samples[1].ours),
  };
}

/** A burst of validations of one session inside the write interval: how many rows it wrote. */
async function burst(target) {
  const sessions = new SessionManager({ store: target.store, clock });
  const { token } = await sessions.create({ userId: 'burst' });
  now += 61_000; // the stored activity is now older than the 60 s interval: one write is due
  const before = target.writes();
  for (let i = 0; i < BURST; i += 1) {
    now += 1; // 10 s in all, well inside the interval
    const result = await sessions.validate(token);
    if (!result.valid) throw new Error(`burst: ${result.reason}`);
  }
  return target.writes() - before;
}

async function measureKind(kind, open, results) {
  const targets = [];
  for (const size of [SMALL, LARGE]) {
    progress(`${kind}: loading ${fmt(size)} sessions`);
    const tokens = Array.from({ length: WORKING_SET }, () => generateSessionToken());
    const target = await open(size, tokens);
    results.setups.push(`${kind} ${fmt(size)} in ${fmt(target.setupMs)} ms`);
    targets.push(target);
  }
  if (kind === 'sqlite') results.sqliteSettings = sqliteSettings(targets[1].db);
  for (const mode of ['read', 'write']) {
    progress(`${kind}: ${mode} mode`);
    now = T0; // read mode: the working set was last active now, so no write is due
    const before = targets.map((t) => t.writes());
    const { sizes, slowdown } = await compare(targets, mode);
    const written = targets.map((t, i) => t.writes() - before[i]);
    for (const [i, row] of sizes.entries()) {
      results.rows.push({ kind, mode, ...row, written: written[i] });
    }
    results.slowdowns.push({ kind, mode, slowdown, small: sizes[0].ours, large: sizes[1].ours });
  }
  if (kind === 'sqlite') {
    progress(`${kind}: burst`);
    results.burstWrites = await burst(targets[1]);
  }
  for (const target of targets) target.close();
}

function sqliteSettings(db) {
  const pragma = (name) => db.pragma(name, { simple: true });
  return (
    `journal_mode=${pragma('journal_mode')}, ` +
    `synchronous=${['OFF', 'NORMAL', 'FULL', 'EXTRA'][pragma('synchronous')]}, ` +
    `cache_size=${pragma('cache_size')}, page_size=${pragma('page_size')}; file in ${tmpdir()}`
  );
}

async function main() {
  const started = performance.now();
  if (sha256('x'.repeat(43)) !== hashSessionToken('x'.repeat(43))) {
    throw new Error('the floor hashes differently from curfew');
  }
  const require = createRequire(import.meta.url);
  const probe = new Database(':memory:');
  console.log('curfew: SessionManager.validate against its floor');
  console.log(`node ${process.version}, ${process.platform} ${process.arch}, pid ${process.pid}`);
  console.log(`${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
  console.log(
    `better-sqlite3 ${require('better-sqlite3/package.json').version}, ` +
      `SQLite ${probe.prepare('SELECT sqlite_version()').pluck().get()}`,
  );
  probe.close();

  const dir = mkdtempSync(join(tmpdir(), 'curfew-bench-'));
  const results = { rows: [], slowdowns: [], setups: [], burstWrites: Number.NaN };
  try {
    await measureKind('sqlite', (size, tokens) => openSqlite(dir, size, tokens), results);
    await measureKind('memory', openMemory, results);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  console.log(`SQLite: ${results.sqliteSettings}`);
  console.log(
    `working set of ${fmt(WORKING_SET)} sessions spread through each table; ${ROUNDS} rounds ` +
      `of ${SLICE_MS} ms slices; rates are medians, ratio (ours/floor) the median of the ` +
      'per-round ratios\n',
  );
  const modeName = {
    read: 'read: coalesced writes, 60 s interval',
    write: 'write: interval 0, +1 ms per call',
  };
  printTable(
    ['sessions', 'store', 'mode', 'ours/s', 'floor/s', 'ratio', 'target', ''],
    results.rows.map((r) => {
      const graded = r.kind === 'sqlite';
      return [
        fmt(r.size),
        r.kind,
        modeName[r.mode],
        fmt(r.ours),
        fmt(r.floor),
        r.ratio.toFixed(2),
        graded ? `≥ ${TARGET_RATIO.toFixed(2)}` : '-',
        graded ? (r.ratio >= TARGET_RATIO ? 'ok' : 'MISS') : '',
      ];
    }),
    [3, 4, 5],
  );

  console.log(
    `\n${fmt(LARGE)} vs ${fmt(SMALL)} stored sessions, ours. slowdown: median over rounds of ` +
      `1 - rate at ${fmt(LARGE)} / rate at ${fmt(SMALL)}, both from the same round`,
  );
  printTable(
    ['store', 'mode', `at ${fmt(SMALL)}/s`, `at ${fmt(LARGE)}/s`, 'slowdown', 'target', ''],
    results.slowdowns.map((s) => {
      const graded = s.kind === 'sqlite';
      return [
        s.kind,
        s.mode,
        fmt(s.small),
        fmt(s.large),
        s.slowdown >= 0 ? pct(s.slowdown) : `${pct(s.slowdown)} (faster)`,
        graded ? `≤ ${pct(TARGET_SLOWDOWN)}` : '-',
        graded ? (s.slowdown <= TARGET_SLOWDOWN ? 'ok' : 'MISS') : '',
      ];
    }),
    [2, 3, 4],
  );

  const readWritten = results.rows.filter((r) => r.kind === 'sqlite' && r.mode === 'read');
  console.log(
    `\nrows written during SQLite read-mode rounds (total_changes): ` +
      `${readWritten.map((r) => r.written).join(', ')} (target 0)`,
  );
  console.log(
    `burst of ${fmt(BURST)} validations of one session inside the 60 s write interval ` +
      `(SQLite, ${fmt(LARGE)} sessions), rows written counted with total_changes():`,
  );
  const burstOk = results.burstWrites === 1;
  console.log(`writes: ${results.burstWrites} (target 1) ${burstOk ? 'ok' : 'MISS'}`);
  console.log(`\nsetup: ${results.setups.join('; ')}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);

  // Ratios are measurements and wobble on a busy machine; write counts are exact.
  if (!burstOk || readWritten.some((r) => r.written !== 0)) process.exitCode = 1;
}

await main();
