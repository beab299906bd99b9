// How fast SessionManager.validate is on PostgresStore, next to its floor measured in the same
// run: the very statement the store sends (same text, same prepared-statement name, same
// values), issued by hand through the bare pg pool, after hashing the token as curfew does.
//
// - 1 and 64 validations in flight, at 10,000 and at 1,000,000 stored sessions. Tokens are drawn
//   at random from the whole table. The clock is held still 1 s after the rows' last activity,
//   so no activity write is due: the coalesced path, which all but one validation per session
//   per minute takes. Ours and floor run in alternating slices, round after round, and each
//   ratio is the median of the per-round ratios, so drift hits both sides alike.
// - Then 1,000,000 expired sessions are swept through SessionManager in batches of 1,000 while
//   validations of live sessions arrive at a fixed rate; their latency is measured from the
//   moment each was due (open loop), so a stall cannot hide by delaying the next request.
//
// Loopback only (127.0.0.1:5432, database `test`, user `postgres`), in a schema of its own that
// is dropped at the end. Imports the built library: `npm run build` first.
// Exits 1 when a count is wrong or a validation fails; a ratio below target prints MISS.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { availableParallelism, cpus } from 'node:os';
import pg from 'pg';
import { SessionManager } from '../dist/index.js';
import { migratePostgres, PostgresStore } from '../dist/stores/postgres/index.js';

const SMALL = 10_000;
const LARGE = 1_000_000;
const SWEPT = 1_000_000;
const IN_FLIGHT = [1, 64];
const POOL_MAX = 16;
const ROUNDS = 6;
const SLICE_MS = 400;
const SWEEP_BATCH = 1_000;
const SWEEP_VALIDATIONS_PER_SECOND = 1_000;
const TARGET_RATIO = 0.7;
const TARGET_SLOWDOWN = 0.3;
const TARGET_P99_MS = 20;

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const NOW = T0 + 1_000; // every stored session last active at T0: no write due
const IDLE = 30 * 60_000;
const INTERVAL = 60_000;
const SCHEMA = `curfew_bench_${process.pid}`;
const require = createRequire(import.meta.url);

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const pct = (x) => `${(x * 100).toFixed(1)}%`;
const progress = (message) => process.stderr.write(`… ${message}\n`);
const sha256 = (token) => createHash('sha256').update(token, 'utf8').digest('hex');
/** Session i's token: known without storing a million of them. */
const token = (i) => `bench-token-${String(i).padStart(12, '0')}`;
const TOKEN_SQL = `'bench-token-' || lpad(i::text, 12, '0')`;

const pool = new pg.Pool({
  host: '127.0.0.1',
  port: 5432,
  user: 'postgres',
  database: 'test',
  max: POOL_MAX,
  connectionTimeoutMillis: 5_000,
  query_timeout: 60_000,
});
pool.on('error', (error) => progress(`idle connection error: ${error.message}`));
// Ctrl-C must not leave a million rows behind in the shared database.
process.once('SIGINT', () => {
  progress(`interrupted: dropping schema ${SCHEMA}`);
  const admin = new pg.Client({
    host: '127.0.0.1',
    port: 5432,
    user: 'postgres',
    database: 'test',
  });
  admin
    .connect()
    .then(() => admin.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`))
    .finally(() => process.exit(130));
});

/**
 * Sessions [from, to), all valid at NOW. The live ones expire at T0 + 12 h; the filler between
 * T0 + 10 min and T0 + 1 h, spread to the millisecond as real expiries are.
 */
async function load(db, from, to, live) {
  await db.query(
    `INSERT INTO "${SCHEMA}".curfew_sessions (id, token_hash, user_id, tenant_id, app_type,
       ip_address, user_agent, created_at, last_activity_at, absolute_expires_at)
     SELECT gen_random_uuid()::text, encode(sha256(convert_to(${TOKEN_SQL}, 'UTF8')), 'hex'),
       'user-' || (i % 100000), CASE WHEN i % 3 = 0 THEN NULL ELSE 'tenant-' || (i % 50) END,
       'control_panel', '203.0.113.7',
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
       $1::bigint, $1::bigint,
       CASE WHEN $2::boolean THEN $1::bigint + ${12 * HOUR} ELSE $1::bigint + ${HOUR} - (i % 3000000) END
     FROM generate_series($3::integer, $4::integer - 1) AS i`,
    [T0, live, from, to],
  );
}

/** A connection for loading: bulk work need not wait for each commit to reach the disk. */
async function loader() {
  const client = await pool.connect();
  await client.query(`SET synchronous_commit = off`);
  await client.query(`SET maintenance_work_mem = '256MB'`);
  return client;
}

/**
 * Loads many rows the way a bulk import would: without the table's indexes and unique
 * constraints, which are then built again from their own definitions (a sorted build is many
 * times faster than a million random inserts), so the schema ends exactly as migrated.
 */
async function bulkLoad(from, to) {
  const db = await loader();
  try {
    const table = `"${SCHEMA}".curfew_sessions`;
    const { rows: constraints } = await db.query(
      `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid = $1::regclass AND contype IN ('p', 'u')`,
      [table],
    );
    const { rows: indexes } = await db.query(
      `SELECT indexname, indexdef FROM pg_indexes
       WHERE schemaname = $1 AND tablename = 'curfew_sessions' AND indexname <> ALL ($2)`,
      [SCHEMA, constraints.map((c) => c.conname)],
    );
    for (const { indexname } of indexes) await db.query(`DROP INDEX "${SCHEMA}"."${indexname}"`);
    for (const { conname } of constraints) {
      await db.query(`ALTER TABLE ${table} DROP CONSTRAINT "${conname}"`);
    }
    await load(db, from, to, false);
    for (const { conname, def } of constraints) {
      await db.query(`ALTER TABLE ${table} ADD CONSTRAINT "${conname}" ${def}`);
    }
    for (const { indexdef } of indexes) await db.query(indexdef);
  } finally {
    db.release();
  }
}

async function smallLoad(from, to, live) {
  const db = await loader();
  try {
    await load(db, from, to, live);
  } finally {
    db.release();
  }
}

async function vacuum() {
  // Sets hint bits and the visibility map once, instead of leaving it to the first readers.
  await pool.query(`VACUUM (ANALYZE) "${SCHEMA}".curfew_sessions`);
}

/** The exact statement PostgresStore sends to validate, captured from the store itself. */
async function captureValidateStatement() {
  let captured;
  const recording = {
    query: (config) => {
      captured = config;
      return pool.query(config);
    },
    connect: () => pool.connect(),
  };
  const store = new PostgresStore(recording, { schema: SCHEMA });
  await store.validate(sha256(token(0)), { now: NOW, idleTimeout: IDLE, touchInterval: INTERVAL });
  const values = [sha256(token(0)), NOW, IDLE, INTERVAL];
  if (JSON.stringify(captured.values) !== JSON.stringify(values)) {
    throw new Error('the floor would not send what the store sends');
  }
  return { name: captured.name, text: captured.text };
}

/** Runs `step` with `inFlight` callers for about `ms`; returns operations per second. */
async function rate(step, inFlight, ms) {
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await step();
        ops += 1;
      }
    }),
  );
  return (ops / (performance.now() - start)) * 1000;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

let failures = 0;

/** Ours and floor at one table size, for each in-flight count, in alternating slices. */
async function compare(size, statement) {
  const sessions = new SessionManager({
    store: new PostgresStore(pool, { schema: SCHEMA }),
    clock: () => NOW,
  });
  const pick = () => token(Math.floor(Math.random() * size));
  const ours = async () => {
    const result = await sessions.validate(pick());
    if (!result.valid) {
      failures += 1;
      throw new Error(`ours: ${result.reason}`);
    }
  };
  const floor = async () => {
    const { rows } = await pool.query({
      ...statement,
      values: [sha256(pick()), NOW, IDLE, INTERVAL],
    });
    if (rows[0]?.source !== 'snapshot' || rows[0].ended_at !== null) {
      failures += 1;
      throw new Error('floor: not a valid session');
    }
  };
  const results = [];
  for (const inFlight of IN_FLIGHT) {
    progress(`${fmt(size)} stored, ${inFlight} in flight`);
    await rate(ours, inFlight, SLICE_MS); // warm: every pooled connection prepares the statement
    await rate(floor, inFlight, SLICE_MS);
    const samples = { ours: [], floor: [], ratio: [] };
    for (let round = 0; round < ROUNDS; round += 1) {
      let o;
      let f;
      if (round % 2 === 0) {
        o = await rate(ours, inFlight, SLICE_MS);
        f = await rate(floor, inFlight, SLICE_MS);
      } else {
        f = await rate(floor, inFlight, SLICE_MS);
        o = await rate(ours, inFlight, SLICE_MS);
      }
      samples.ours.push(o);
      samples.floor.push(f);
      samples.ratio.push(o / f);
    }
    results.push({
      size,
      inFlight,
      ours: median(samples.ours),
      floor: median(samples.floor),
      ratio: median(samples.ratio),
      oursSamples: samples.ours,
    });
  }
  return results;
}

/** Sweeps everything expired while validations of live sessions arrive at a fixed rate. */
async function sweepUnderLoad(liveCount) {
  const sweeper = new SessionManager({
    store: new PostgresStore(pool, { schema: SCHEMA }),
    // Past the filler's absolute expiry, before the live sessions'; no idle rule, so only the
    // filler is due and the live sessions stay valid for the validations below.
    clock: () => T0 + 2 * HOUR,
    policy: { idleTimeout: null, custom: true },
  });
  const validator = new SessionManager({
    store: new PostgresStore(pool, { schema: SCHEMA }),
    clock: () => NOW,
  });
  const latencies = [];
  let sweeping = true;
  const pending = [];
  const load = (async () => {
    const every = 1_000 / SWEEP_VALIDATIONS_PER_SECOND;
    const start = performance.now();
    for (let n = 0; sweeping; n += 1) {
      const due = start + n * every;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      pending.push(
        validator.validate(token(Math.floor(Math.random() * liveCount))).then((result) => {
          latencies.push(performance.now() - due);
          if (!result.valid) failures += 1;
        }),
      );
    }
  })();
  const started = performance.now();
  const swept = await sweeper.sweepExpired({ batchSize: SWEEP_BATCH });
  const sweepMs = performance.now() - started;
  sweeping = false;
  await load;
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { swept, sweepMs, latencies };
}

function printTable(header, lines, rightAligned) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(line(l));
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
  console.log(`${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'})`);
  console.log(
    `PostgreSQL ${server[0].version} on 127.0.0.1 (shared_buffers ${server[0].shared_buffers}, ` +
      `synchronous_commit ${server[0].synchronous_commit}), pg ${require('pg/package.json').version}, ` +
      `pool max ${POOL_MAX}, schema ${SCHEMA}`,
  );

  const setups = [];
  const timed = async (label, run) => {
    const t = performance.now();
    await run();
    setups.push(`${label} ${fmt(performance.now() - t)} ms`);
  };
  const rows = [];
  let sweep;
  try {
    await migratePostgres(pool, { schema: SCHEMA });
    progress(`loading ${fmt(SMALL)} sessions`);
    // The first SMALL sessions are the live ones: valid until T0 + 12 h.
    await timed(`load ${fmt(SMALL)}`, async () => {
      await smallLoad(0, SMALL, true);
      await vacuum();
    });
    const statement = await captureValidateStatement();
    rows.push(...(await compare(SMALL, statement)));

    progress(`loading up to ${fmt(LARGE)} sessions`);
    // The rest are filler, valid now but due to expire within the hour: the sweep's backlog.
    await timed(`load to ${fmt(LARGE)}`, async () => {
      await bulkLoad(SMALL, LARGE);
      await vacuum();
    });
    rows.push(...(await compare(LARGE, statement)));

    progress(`adding filler so that exactly ${fmt(SWEPT)} sessions are expired`);
    await timed(`load to ${fmt(LARGE + SMALL)}`, async () => {
      await smallLoad(LARGE, SWEPT + SMALL, false);
      await vacuum();
    });
    progress(`sweeping ${fmt(SWEPT)} expired sessions under load`);
    sweep = await sweepUnderLoad(SMALL);
    const { rows: left } = await pool.query(
      `SELECT count(*) FILTER (WHERE ended_at IS NULL)::int AS active,
         count(*) FILTER (WHERE end_reason = 'absolute_timeout'
           AND ended_at = absolute_expires_at)::int AS swept
       FROM "${SCHEMA}".curfew_sessions`,
    );
    sweep.active = left[0].active;
    sweep.stored = left[0].swept;
  } finally {
    progress(`dropping schema ${SCHEMA}`);
    await pool.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    await pool.end();
  }

  console.log(
    `\nvalidations/s through SessionManager (ours) and by hand through the bare pool (floor): ` +
      `${ROUNDS} rounds of ${SLICE_MS} ms slices, tokens drawn at random from the whole table; ` +
      'rates are medians, ratio the median of the per-round ratios\n',
  );
  printTable(
    ['stored', 'in flight', 'ours/s', 'floor/s', 'ratio', 'target', ''],
    rows.map((r) => [
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

  console.log(`\n${fmt(LARGE)} vs ${fmt(SMALL)} stored sessions, ours (median rates)`);
  printTable(
    ['in flight', `at ${fmt(SMALL)}/s`, `at ${fmt(LARGE)}/s`, 'slower by', 'target', ''],
    IN_FLIGHT.map((inFlight) => {
      const small = rows.find((r) => r.size === SMALL && r.inFlight === inFlight);
      const large = rows.find((r) => r.size === LARGE && r.inFlight === inFlight);
      const slowdown = 1 - large.ours / small.ours;
      return [
        String(inFlight),
        fmt(small.ours),
        fmt(large.ours),
        slowdown >= 0 ? pct(slowdown) : `${pct(slowdown)} (faster)`,
        `≤ ${pct(TARGET_SLOWDOWN)}`,
        slowdown <= TARGET_SLOWDOWN ? 'ok' : 'MISS',
      ];
    }),
    [1, 2, 3],
  );

  const total = sweep.swept.absolute + sweep.swept.idle;
  const countsOk = total === SWEPT && sweep.stored === SWEPT && sweep.active === SMALL;
  if (!countsOk) failures += 1;
  const l = sweep.latencies;
  const p99 = percentile(l, 0.99);
  console.log(
    `\nsweep of ${fmt(SWEPT)} expired sessions through SessionManager.sweepExpired, batches of ` +
      `${fmt(SWEEP_BATCH)}, ${fmt(SMALL)} live sessions left alone:`,
  );
  console.log(
    `ended ${fmt(total)} (absolute ${fmt(sweep.swept.absolute)}, idle ${fmt(sweep.swept.idle)}); ` +
      `in the table: ${fmt(sweep.stored)} ended at their expiry, ${fmt(sweep.active)} active ` +
      `${countsOk ? 'ok' : 'WRONG'}`,
  );
  console.log(
    `took ${(sweep.sweepMs / 1000).toFixed(1)} s in ${fmt(Math.ceil(total / SWEEP_BATCH))} ` +
      `batches (${fmt((total / sweep.sweepMs) * 1000)} sessions/s)`,
  );
  console.log(
    `validations meanwhile: ${fmt(l.length)} arriving at ${fmt(SWEEP_VALIDATIONS_PER_SECOND)}/s, ` +
      `latency from when each was due: p50 ${percentile(l, 0.5).toFixed(1)} ms, ` +
      `p99 ${p99.toFixed(1)} ms (target < ${TARGET_P99_MS} ms) ${p99 < TARGET_P99_MS ? 'ok' : 'MISS'}, ` +
      `max ${l[l.length - 1].toFixed(1)} ms`,
  );
  console.log(`\nsetup: ${setups.join('; ')}`);
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (failures > 0) {
    console.error(`${failures} failure(s): see above`);
    process.exit(1);
  }
}

await main();
