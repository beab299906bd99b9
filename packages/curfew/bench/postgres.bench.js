import { createRequire } from 'node:module';
import { availableParallelism, cpus, loadavg } from 'node:os';
import pg from 'pg';
import { SessionManager } from '../dist/index.js';
import { migratePostgres, PostgresStore } from '../dist/stores/postgres/index.js';
import {
  alternateRounds,
  fmt,
  median,
  pct,
  percentile,
  printTable,
  progress,
  rate,
  roundSlowdown,
  sha256,
  token,
} from './support/measure.js';

const SMALL = 10_000;
const LARGE = 1_000_000;
const SWEPT = 1_000_000;
const IN_FLIGHT = [1, 64];
const POOL_MAX = 16;
const ROUNDS = 6;
const SLICE_MS = 400;
const SWEEP_BATCH = 1_000;
const SWEEP_VALIDATIONS_PER_SECOND = 1_000;
const BASELINE_MS = 5_000;
const TARGET_RATIO = 0.7;
const TARGET_SLOWDOWN = 0.3;
const TARGET_P99_MS = 20;

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const NOW = T0 + 1_000; // every stored session last active at T0: no write due
const IDLE = 30 * 60_000;
const INTERVAL = 60_000;
const SCHEMAS = {
  small: `curfew_bench_${process.pid}_small`,
  large: `curfew_bench_${process.pid}_large`,
};

const require = createRequire(import.meta.url);
const TOKEN_SQL = `'bench-token-' || lpad(i::text, 12, '0')`;

// Another loopback server (say, one with shared_buffers sized for the data) can be named by port.
const PORT = Number(process.env.CURFEW_BENCH_PG_PORT ?? 5432);
const connection = { host: '127.0.0.1', port: PORT, user: 'postgres', database: 'test' };
const pool = new pg.Pool({
  ...connection,
  max: POOL_MAX,
  connectionTimeoutMillis: 5_000,
  query_timeout: 120_000,
});
pool.on('error', (error) => progress(`idle connection error: ${error.message}`));

async function dropSchemas(db) {
  for (const schema of Object.values(SCHEMAS)) {
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

// Ctrl-C must not leave a million rows behind in the shared database.
process.once('SIGINT', () => {
  progress('interrupted: dropping the bench schemas');
  const admin = new pg.Client(connection);
  void admin
    .connect()
    .then(() => dropSchemas(admin))
    .finally(() => process.exit(130));
});

/**
 * Sessions [from, to), all valid at NOW. The live ones expire at T0 + 12 h; the filler between
 * T0 + 10 min and T0 + 1 h, spread to the millisecond as real expiries are.
 */
async function insert(db, schema, from, to, live) {
  await db.query(
    `INSERT INTO "${schema}".curfew_sessions (id, token_hash, user_id, tenant_id, app_type,
       ip_address, user_agent, created_at, last_activity_at, absolute_expires_at,
       authenticated_at, idle_timeout, idle_expires_at, aal, methods)
     SELECT gen_random_uuid()::text, encode(sha256(convert_to(${TOKEN_SQL}, 'UTF8')), 'hex'),
       'user-' || (i % 100000), CASE WHEN i % 3 = 0 THEN NULL ELSE 'tenant-' || (i % 50) END,
       'control_panel', '203.0.113.7',
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
       $1::bigint, $1::bigint,
       CASE WHEN $2::boolean THEN $1::bigint + ${12 * HOUR}
         ELSE $1::bigint + ${HOUR} - (i % 3000000) END,
       $1::bigint, ${30 * 60_000}, $1::bigint + ${30 * 60_000}, 2, 'pwd otp'
     FROM generate_series($3::integer, $4::integer - 1) AS i`,
    [T0, live, from, to],
  );
}

/**
 * Loads rows on a connection of its own, where bulk work need not wait for each commit to reach
 * the disk. With `rebuild`, the way a bulk import would: without the table's indexes and unique
 * constraints, built again afterwards from their own definitions (a sorted build is many times
 * faster than a million random inserts), so the schema ends exactly as migrated.
 */
async function load(schema, batches, { rebuild = false } = {}) {
  const db = await pool.connect();
  try {
    await db.query(`SET synchronous_commit = off`);
    await db.query(`SET maintenance_work_mem = '256MB'`);
    const table = `"${schema}".curfew_sessions`;
    const { rows: constraints } = rebuild
      ? await db.query(
          `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid = $1::regclass AND contype IN ('p', 'u')`,
          [table],
        )
      : { rows: [] };
    const { rows: indexes } = rebuild
      ? await db.query(
          `SELECT indexname, indexdef FROM pg_indexes
           WHERE schemaname = $1 AND tablename = 'curfew_sessions' AND indexname <> ALL ($2)`,
          [schema, constraints.map((c) => c.conname)],
        )
      : { rows: [] };
    for (const { indexname } of indexes) await db.query(`DROP INDEX "${schema}"."${indexname}"`);
    for (const { conname } of constraints) {
      await db.query(`ALTER TABLE ${table} DROP CONSTRAINT "${conname}"`);
    }
    for (const [from, to, live] of batches) await insert(db, schema, from, to, live);
    for (const { conname, def } of constraints) {
      await db.query(`ALTER TABLE ${table} ADD CONSTRAINT "${conname}" ${def}`);
    }
    for (const { indexdef } of indexes) await db.query(indexdef);
    // Sets hint bits and the visibility map once, instead of leaving it to the first readers.
    await db.query(`VACUUM (ANALYZE) ${table}`);
  } finally {
    db.release();
  }
}

/** The exact statement PostgresStore sends to validate, captured from the store itself. */
async function captureValidateStatement(schema) {
  let captured;
  const recording = {
    query: (config) => {
      captured = config;
      return pool.query(config);
    },
    connect: () => pool.connect(),
  };
  const store = new PostgresStore(recording, { schema });
  await store.validate(sha256(token(0)), { now: NOW, idleTimeout: IDLE, touchInterval: INTERVAL });
  const values = [sha256(token(0)), NOW, IDLE, INTERVAL];
  if (JSON.stringify(captured.values) !== JSON.stringify(values)) {
    throw new Error('the floor would not send what the store sends');
  }
  return { name: captured.name, text: captured.text };
}

let failures = 0;

/** Ours (through SessionManager) and floor (the bare statement) on one table. */
async function contestants(schema, size) {
  const statement = await captureValidateStatement(schema);
  const sessions = new SessionManager({
    store: new PostgresStore(pool, { schema }),
    clock: () => NOW,
  });
  const pick = () => token(Math.floor(Math.random() * size));
  return {
    size,
    async ours() {
      const result = await sessions.validate(pick());
      if (!result.valid) {
        failures += 1;
        throw new Error(`ours: ${result.reason}`);
      }
    },
    async floor() {
      const { rows } = await pool.query({
        ...statement,
        values: [sha256(pick()), NOW, IDLE, INTERVAL],
      });
      if (rows[0]?.source !== 'snapshot' || rows[0].ended_at !== null) {
        failures += 1;
        throw new Error('floor: not a valid session');
      }
    },
  };
}

/** Both tables, ours and floor, per in-flight count, in rotating order, round after round. */
async function compare(tables) {
  const rows = [];
  const slowdowns = [];
  for (const inFlight of IN_FLIGHT) {
    progress(`${inFlight} in flight`);
    for (const table of tables) {
      // Warm: every pooled connection prepares the statement, caches fill.
      await rate(table.ours, inFlight, SLICE_MS);
      await rate(table.floor, inFlight, SLICE_MS);
    }
    const samples = await alternateRounds(
      tables.map((table) => ({
        ours: () => rate(table.ours, inFlight, SLICE_MS),
        floor: () => rate(table.floor, inFlight, SLICE_MS),
      })),
      ROUNDS,
    );
    for (const [i, s] of samples.entries()) {
      rows.push({
        size: tables[i].size,
        inFlight,
        ours: median(s.ours),
        floor: median(s.floor),
        ratio: median(s.ratio),
      });
    }
    slowdowns.push({
      inFlight,
      small: median(samples[0].ours),
      large: median(samples[1].ours),
      slowdown: roundSlowdown(samples[0].ours, samples[1].ours),
    });
  }
  return { rows, slowdowns };
}

/**
 * Validations of live sessions arriving at a fixed rate until `until` settles; returns their
 * latencies, sorted, each measured from the moment it was due.
 */
async function validationsArriving(schema, liveCount, until) {
  const validator = new SessionManager({
    store: new PostgresStore(pool, { schema }),
    clock: () => NOW,
  });
  const latencies = [];
  const pending = [];
  let going = true;
  const arrivals = (async () => {
    const every = 1_000 / SWEEP_VALIDATIONS_PER_SECOND;
    const start = performance.now();
    for (let n = 0; going; n += 1) {
      const due = start + n * every;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      // Sent up to 1 ms early rather than waiting on a timer: timed from when it was sent.
      const from = Math.min(due, performance.now());
      pending.push(
        validator.validate(token(Math.floor(Math.random() * liveCount))).then((result) => {
          latencies.push(performance.now() - from);
          if (!result.valid) failures += 1;
        }),
      );
    }
  })();
  const outcome = await until;
  going = false;
  await arrivals;
  await Promise.all(pending);
  return { outcome, latencies: latencies.sort((a, b) => a - b) };
}

/** Sweeps everything expired while validations of live sessions arrive at a fixed rate. */
async function sweepUnderLoad(schema, liveCount) {
  // The same arrivals with no sweep first: what this machine gives them anyway.
  const baseline = await validationsArriving(
    schema,
    liveCount,
    new Promise((resolve) => setTimeout(resolve, BASELINE_MS)),
  );
  const store = new PostgresStore(pool, { schema });
  const batches = [];
  const sweeper = new SessionManager({
    // Timed per store call: one batch is one statement, holding its row locks that long.
    store: new Proxy(store, {
      get(target, property) {
        if (property === 'sweep') {
          return async (input) => {
            const started = performance.now();
            const ended = await target.sweep(input);
            batches.push(performance.now() - started);
            return ended;
          };
        }
        const value = target[property];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }),
    // Past every filler expiry, before the live sessions'; no idle rule, so only the filler is
    // due and the live sessions stay valid for the validations.
    clock: () => T0 + 2 * HOUR,
    policy: { idleTimeout: null, custom: true },
  });
  const started = performance.now();
  const { outcome: swept, latencies } = await validationsArriving(
    schema,
    liveCount,
    sweeper.sweepExpired({ batchSize: SWEEP_BATCH }),
  );
  const sweepMs = performance.now() - started;
  const { rows } = await pool.query(
    `SELECT count(*) FILTER (WHERE ended_at IS NULL)::int AS active,
       count(*) FILTER (WHERE end_reason = 'absolute_timeout'
         AND ended_at = absolute_expires_at)::int AS ended
     FROM "${schema}".curfew_sessions`,
  );
  return {
    swept,
    sweepMs,
    latencies,
    baseline: baseline.latencies,
    batches: batches.sort((a, b) => a - b),
    active: rows[0].active,
    ended: rows[0].ended,
  };
}

async function main() {
  const started = performance.now();
  const { rows: server } = await pool.query(
    `SELECT current_setting('server_version') AS version,
       current_setting('shared_buffers') AS shared_buffers,
       current_setting('synchronous_commit') AS synchronous_commit`,
  );
  console.log('curfew: PostgresStore validations and sweep against their floor');
  console.log(`node ${process.version}, ${process.platform} ${process.arch}, pid ${process.pid}`);
  console.log(
    `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), ` +
      `load average at start ${loadavg()[0].toFixed(1)}`,
  );
  console.log(
    `PostgreSQL ${server[0].version} on 127.0.0.1 (shared_buffers ${server[0].shared_buffers}, ` +
      `synchronous_commit ${server[0].synchronous_commit}), ` +
      `pg ${require('pg/package.json').version}, pool max ${POOL_MAX}`,
  );

  const setups = [];
  const timed = async (label, run) => {
    const t = performance.now();
    await run();
    setups.push(`${label} ${fmt(performance.now() - t)} ms`);
  };
  let compared;
  let sweep;
  try {
    await dropSchemas(pool);
    for (const schema of Object.values(SCHEMAS)) await migratePostgres(pool, { schema });
    progress(`loading ${fmt(SMALL)} and ${fmt(LARGE)} sessions`);
    // In both tables the first SMALL sessions are live (valid until T0 + 12 h); in the large one
    // the rest are filler, valid now but due to expire within the hour: the sweep's backlog.
    await timed(fmt(SMALL), () => load(SCHEMAS.small, [[0, SMALL, true]]));
    await timed(fmt(LARGE), () =>
      load(
        SCHEMAS.large,
        [
          [0, SMALL, true],
          [SMALL, LARGE, false],
        ],
        { rebuild: true },
      ),
    );
    compared = await compare([
      await contestants(SCHEMAS.small, SMALL),
      await contestants(SCHEMAS.large, LARGE),
    ]);

    progress(`adding filler so that exactly ${fmt(SWEPT)} sessions are expired`);
    await timed(`+${fmt(SWEPT + SMALL - LARGE)}`, () =>
      load(SCHEMAS.large, [[LARGE, SWEPT + SMALL, false]]),
    );
    progress(`sweeping ${fmt(SWEPT)} expired sessions under load`);
    sweep = await sweepUnderLoad(SCHEMAS.large, SMALL);
  } finally {
    progress('dropping the bench schemas');
    await dropSchemas(pool);
    await pool.end();
  }

  console.log(
    `\nvalidations/s through SessionManager (ours) and by hand through the bare pool (floor): ` +
      `${ROUNDS} rounds of ${SLICE_MS} ms slices, tokens drawn at random from the whole table; ` +
      'rates are medians, ratio the median of the per-round ratios\n',
  );
  printTable(
    ['stored', 'in flight', 'ours/s', 'floor/s', 'ratio', 'target', ''],
    compared.rows.map((r) => [
      fmt(r.size),
      String(r.inFlight),
      fmt(r.ours),
      fmt(r.floor),
      r.ratio.toFixed(2),
      `≥ ${TARGET_RATIO.toFixed(2)}`,
      r.ratio >= TARGET_RATIO ? 'ok' : 'MISS',
    ]),
    [1, 2, 3, 4],
  );

  console.log(
    `\n${fmt(LARGE)} vs ${fmt(SMALL)} stored sessions, ours. slower by: median over rounds of ` +
      `1 - rate at ${fmt(LARGE)} / rate at ${fmt(SMALL)}, both from the same round`,
  );
  printTable(
    ['in flight', `at ${fmt(SMALL)}/s`, `at ${fmt(LARGE)}/s`, 'slower by', 'target', ''],
    compared.slowdowns.map((s) => [
      String(s.inFlight),
      fmt(s.small),
      fmt(s.large),
      s.slowdown >= 0 ? pct(s.slowdown) : `${pct(s.slowdown)} (faster)`,
      `≤ ${pct(TARGET_SLOWDOWN)}`,
      s.slowdown <= TARGET_SLOWDOWN ? 'ok' : 'MISS',
    ]),
    [1, 2, 3],
  );

  const total = sweep.swept.absolute + sweep.swept.idle;
  const countsOk = total === SWEPT && sweep.ended === SWEPT && sweep.active === SMALL;
  if (!countsOk) failures += 1;
  const l = sweep.latencies;
  const p99 = percentile(l, 0.99);
  console.log(
    `\nsweep of ${fmt(SWEPT)} expired sessions through SessionManager.sweepExpired, batches of ` +
      `${fmt(SWEEP_BATCH)}, ${fmt(SMALL)} live sessions left alone:`,
  );
  console.log(
    `ended ${fmt(total)} (absolute ${fmt(sweep.swept.absolute)}, idle ${fmt(sweep.swept.idle)}); ` +
      `in the table: ${fmt(sweep.ended)} ended at their expiry, ${fmt(sweep.active)} active ` +
      `${countsOk ? 'ok' : 'WRONG'}`,
  );
  const b = sweep.batches;
  console.log(
    `took ${(sweep.sweepMs / 1000).toFixed(1)} s in ${fmt(b.length)} batches ` +
      `(${fmt((total / sweep.sweepMs) * 1000)} sessions/s); one batch, one statement: ` +
      `p50 ${percentile(b, 0.5).toFixed(0)} ms, p99 ${percentile(b, 0.99).toFixed(0)} ms, ` +
      `max ${b[b.length - 1].toFixed(0)} ms`,
  );
  const latency = (sorted) =>
    `p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, ` +
    `max ${sorted[sorted.length - 1].toFixed(1)} ms`;
  console.log(
    `validations of live sessions arriving at ${fmt(SWEEP_VALIDATIONS_PER_SECOND)}/s, latency ` +
      'from when each was due:',
  );
  console.log(
    `  during the sweep (${fmt(l.length)}): ${latency(l)}; ` +
      `p99 target < ${TARGET_P99_MS} ms ${p99 < TARGET_P99_MS ? 'ok' : 'MISS'}`,
  );
  console.log(
    `  before it, no sweep, same machine (${fmt(sweep.baseline.length)}): ${latency(sweep.baseline)}`,
  );
  console.log(`\nloaded: ${setups.join('; ')}`);
  console.log(
    `total ${((performance.now() - started) / 1000).toFixed(0)} s, ` +
      `load average at end ${loadavg()[0].toFixed(1)}`,
  );
  if (failures > 0) {
    console.error(`${failures} failure(s): see above`);
    process.exit(1);
  }
}

await main();
