import { availableParallelism, cpus, loadavg } from 'node:os';
import { createPool } from 'mysql2/promise';
import { SessionManager } from '../dist/index.js';
import { MysqlStore, migrateMysql } from '../dist/stores/mysql/index.js';
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
const BASELINE_MS = 10_000;
const TARGET_RATIO = 0.7;
const TARGET_SLOWDOWN = 0.3;
const TARGET_P99_MS = 20;

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const NOW = T0 + 1_000; // every stored session last active at T0: no write due
const DATABASE = `curfew_bench_${process.pid}`;
const DATABASES = { small: `${DATABASE}_small`, large: `${DATABASE}_large` };

// Another loopback server (say, one with a bigger buffer pool) can be named by port.
const PORT = Number(process.env.CURFEW_BENCH_MYSQL_PORT ?? 3306);
const server = { host: '127.0.0.1', port: PORT, user: 'root', password: '', connectTimeout: 5_000 };
const admin = createPool({ ...server, connectionLimit: 1 });
const pools = {
  small: createPool({ ...server, database: DATABASES.small, connectionLimit: POOL_MAX }),
  large: createPool({ ...server, database: DATABASES.large, connectionLimit: POOL_MAX }),
};

/** Every bench session's idle limit, as the default policy gives AAL2. */
const IDLE_MS = 30 * 60_000;

/** Sessions [from, to): last active at T0, absolute expiry `expiresAt`; `seq` is the sequence. */
function loadSql(from, to) {
  return `INSERT INTO curfew_sessions (id, token_hash, user_id, tenant_id, app_type, ip_address,
      user_agent, created_at, last_activity_at, absolute_expires_at, authenticated_at,
      idle_timeout, idle_expires_at, aal, methods)
    SELECT UUID(), SHA2(CONCAT('bench-token-', LPAD(seq, 12, '0')), 256),
      CONCAT('user-', seq % 100000), IF(seq % 3 = 0, NULL, CONCAT('tenant-', seq % 50)),
      'control_panel', '203.0.113.7',
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)', ?, ?, ?, ?,
      ${IDLE_MS}, ? + ${IDLE_MS}, 2, 'pwd otp'
    FROM seq_${from}_to_${to - 1}`;
}

/** Sessions [from, to), in chunks, through MariaDB's sequence tables or multi-row INSERTs. */
async function load(pool, from, to, expiresAt, mariadb) {
  const chunk = 200_000;
  for (let start = from; start < to; start += chunk) {
    const end = Math.min(to, start + chunk);
    if (mariadb) {
      await pool.query(loadSql(start, end), [T0, T0, expiresAt, T0, T0]);
      continue;
    }
    for (let i = start; i < end; i += 2_000) {
      const rows = [];
      for (let j = i; j < Math.min(end, i + 2_000); j += 1) {
        rows.push([
          crypto.randomUUID(),
          sha256(token(j)),
          `user-${j % 100_000}`,
          j % 3 === 0 ? null : `tenant-${j % 50}`,
          'control_panel',
          '203.0.113.7',
          'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)',
          T0,
          T0,
          expiresAt,
          T0,
          IDLE_MS,
          T0 + IDLE_MS,
          2,
          'pwd otp',
        ]);
      }
      await pool.query(
        `INSERT INTO curfew_sessions (id, token_hash, user_id, tenant_id, app_type, ip_address,
           user_agent, created_at, last_activity_at, absolute_expires_at, authenticated_at,
           idle_timeout, idle_expires_at, aal, methods) VALUES ?`,
        [rows],
      );
    }
  }
}

/**
 * Loads many rows the way a bulk import would: without the secondary indexes, which are then
 * built again, sorted, from their own definitions (read back from the server), so the table
 * ends exactly as migrated.
 */
async function bulkLoad(pool, from, to, expiresAt, mariadb) {
  const [[created]] = await pool.query('SHOW CREATE TABLE curfew_sessions');
  const definitions = created['Create Table']
    .split('\n')
    .map((line) => line.trim().replace(/,$/, ''))
    .filter((line) => /^(UNIQUE )?KEY /.test(line));
  const names = definitions.map((line) => line.match(/KEY `([^`]+)`/)[1]);
  await pool.query(
    `ALTER TABLE curfew_sessions ${names.map((name) => `DROP INDEX \`${name}\``).join(', ')}`,
  );
  await load(pool, from, to, expiresAt, mariadb);
  await pool.query(
    `ALTER TABLE curfew_sessions ${definitions.map((line) => `ADD ${line}`).join(', ')}`,
  );
}

async function analyze(pool) {
  await pool.query('ANALYZE TABLE curfew_sessions');
}

/** The exact statement MysqlStore sends to validate, captured from the store itself. */
async function captureValidateStatement(pool) {
  let captured;
  const recording = {
    execute: (statement, values) => {
      captured = { statement, values };
      return pool.execute(statement, values);
    },
    query: (statement, values) => pool.query(statement, values),
    getConnection: () => pool.getConnection(),
  };
  const store = new MysqlStore(recording);
  const hash = sha256(token(0));
  await store.validate(hash, { now: NOW, idleTimeout: 30 * 60_000, touchInterval: 60_000 });
  if (JSON.stringify(captured.values) !== JSON.stringify([hash])) {
    throw new Error('the floor would not send what the store sends');
  }
  return captured.statement;
}

let failures = 0;

/** Ours and floor on one database, with tokens drawn from sessions [0, drawFrom). */
function contestants(pool, statement, size, drawFrom, label) {
  const sessions = new SessionManager({ store: new MysqlStore(pool), clock: () => NOW });
  const pick = () => token(Math.floor(Math.random() * drawFrom));
  return {
    size,
    label,
    async ours() {
      const result = await sessions.validate(pick());
      if (!result.valid) {
        failures += 1;
        throw new Error(`ours: ${result.reason}`);
      }
    },
    async floor() {
      const [rows] = await pool.execute(statement, [sha256(pick())]);
      // ended_at (column 11) NULL and absolute expiry (10) ahead: a live session, as ours checks.
      const row = rows[0];
      if (row === undefined || row[11] !== null || Number(row[10]) <= NOW) {
        failures += 1;
        throw new Error('floor: not a valid session');
      }
    },
  };
}

/**
 * Every target (a size and where tokens come from), ours and floor, for each in-flight count:
 * slices in a rotating order, round after round. The 1,000,000 vs 10,000 comparison is the
 * median of the per-round ratios of targets 0 and 1.
 */
async function compare(targets) {
  const results = [];
  const slowdowns = [];
  for (const inFlight of IN_FLIGHT) {
    progress(`comparing, ${inFlight} in flight`);
    for (const target of targets) {
      await rate(target.ours, inFlight, SLICE_MS); // warm: every connection prepares
      await rate(target.floor, inFlight, SLICE_MS);
    }
    const samples = await alternateRounds(
      targets.map((target) => ({
        ours: () => rate(target.ours, inFlight, SLICE_MS),
        floor: () => rate(target.floor, inFlight, SLICE_MS),
      })),
      ROUNDS,
    );
    targets.forEach((target, i) => {
      results.push({
        size: target.size,
        label: target.label,
        inFlight,
        ours: median(samples[i].ours),
        floor: median(samples[i].floor),
        ratio: median(samples[i].ratio),
      });
    });
    slowdowns.push({
      inFlight,
      slowdown: roundSlowdown(samples[0].ours, samples[1].ours),
      floorSlowdown: roundSlowdown(samples[0].floor, samples[1].floor),
    });
  }
  return { results, slowdowns };
}

/**
 * Validations of live sessions arriving at a fixed rate until `until` settles; their latency is
 * measured from the moment each was due (open loop), so a stall cannot hide by delaying the next.
 */
async function openLoop(pool, liveCount, until) {
  const validator = new SessionManager({ store: new MysqlStore(pool), clock: () => NOW });
  const latencies = [];
  const errors = [];
  let running = true;
  const pending = [];
  const stopped = until.finally(() => {
    running = false;
  });
  const every = 1_000 / SWEEP_VALIDATIONS_PER_SECOND;
  const start = performance.now();
  for (let n = 0; running; n += 1) {
    const due = start + n * every;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    // Timers fire to the millisecond: one sent a little early is timed from when it was sent.
    const from = Math.min(due, performance.now());
    pending.push(
      validator.validate(token(Math.floor(Math.random() * liveCount))).then(
        (result) => {
          latencies.push(performance.now() - from);
          if (!result.valid) failures += 1;
        },
        (error) => {
          // Counted, and its latency kept: a timed-out validation is the worst case, not noise.
          latencies.push(performance.now() - from);
          failures += 1;
          errors.push(`${error.code}: ${error.cause?.message ?? error.message}`);
        },
      ),
    );
  }
  await stopped;
  await Promise.all(pending);
  latencies.sort((a, b) => a - b);
  return { latencies, errors };
}

/**
 * The same validations first alone (the machine's own baseline at this rate), then while
 * everything expired is swept.
 */
async function sweepUnderLoad(pool, liveCount) {
  const baseline = await openLoop(
    pool,
    liveCount,
    new Promise((resolve) => setTimeout(resolve, BASELINE_MS)),
  );
  const store = new MysqlStore(pool);
  const batches = [];
  const timedStore = {
    ...Object.fromEntries(
      ['insert', 'validate', 'rotate', 'findById', 'endSession', 'endUserSessions']
        .concat(['listUserSessions', 'purgeEnded', 'ping'])
        .map((name) => [name, store[name].bind(store)]),
    ),
    async sweep(input) {
      const t = performance.now();
      const ended = await store.sweep(input);
      batches.push(performance.now() - t);
      return ended;
    },
  };
  const sweeper = new SessionManager({
    store: timedStore,
    // Past the filler's absolute expiry, before the live sessions'; no idle rule, so only the
    // filler is due and the live sessions stay valid for the validations below.
    clock: () => T0 + 2 * HOUR,
    policy: { idleTimeout: null, custom: true },
  });
  const started = performance.now();
  const sweeping = sweeper.sweepExpired({ batchSize: SWEEP_BATCH });
  const during = await openLoop(pool, liveCount, sweeping);
  const swept = await sweeping;
  const sweepMs = performance.now() - started;
  batches.sort((a, b) => a - b);
  return { swept, sweepMs, baseline, ...during, batches };
}

async function main() {
  const started = performance.now();
  const [[info]] = await admin.query(
    `SELECT VERSION() AS version, @@innodb_buffer_pool_size AS bufferPool,
       @@innodb_flush_log_at_trx_commit AS flushLog`,
  );
  const mariadb = String(info.version).includes('MariaDB');
  console.log('curfew: MysqlStore validations and sweep against their floor');
  console.log(`node ${process.version}, ${process.platform} ${process.arch}, pid ${process.pid}`);
  console.log(
    `${availableParallelism()} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average at start ` +
      loadavg()
        .map((n) => n.toFixed(1))
        .join(' '),
  );
  console.log(
    `${mariadb ? 'MariaDB' : 'MySQL'} ${info.version} on 127.0.0.1:${PORT} (innodb_buffer_pool_size ` +
      `${fmt(Number(info.bufferPool) / 2 ** 20)} MiB, innodb_flush_log_at_trx_commit ` +
      `${info.flushLog}), mysql2 pools of ${POOL_MAX}, databases ${DATABASE}_*`,
  );

  const setups = [];
  const timed = async (label, run) => {
    const t = performance.now();
    await run();
    setups.push(`${label} ${fmt(performance.now() - t)} ms`);
  };
  let compared;
  let sweep;
  for (const name of Object.values(DATABASES)) await admin.query(`CREATE DATABASE \`${name}\``);
  try {
    await migrateMysql(pools.small);
    await migrateMysql(pools.large);
    progress(`loading ${fmt(SMALL)} sessions, twice`);
    // The first SMALL sessions of each database are the live ones: valid until T0 + 12 h.
    await timed(`load ${fmt(SMALL)} twice`, async () => {
      for (const pool of Object.values(pools)) {
        await load(pool, 0, SMALL, T0 + 12 * HOUR, mariadb);
        await analyze(pool);
      }
    });
    progress(`loading the second database up to ${fmt(LARGE)} sessions`);
    // The rest are filler, valid now but due to expire at T0 + 1 h: the sweep's backlog.
    await timed(`load to ${fmt(LARGE)}`, async () => {
      await bulkLoad(pools.large, SMALL, LARGE, T0 + HOUR, mariadb);
      await analyze(pools.large);
    });
    const statement = await captureValidateStatement(pools.small);
    compared = await compare([
      contestants(pools.small, statement, SMALL, SMALL, 'active set'),
      contestants(pools.large, statement, LARGE, SMALL, 'active set'),
      contestants(pools.large, statement, LARGE, LARGE, 'whole table'),
    ]);

    progress(`adding filler so that exactly ${fmt(SWEPT)} sessions are expired`);
    await timed(`load to ${fmt(LARGE + SMALL)}`, async () => {
      await load(pools.large, LARGE, SWEPT + SMALL, T0 + HOUR, mariadb);
      await analyze(pools.large);
    });
    progress(`sweeping ${fmt(SWEPT)} expired sessions under load`);
    sweep = await sweepUnderLoad(pools.large, SMALL);
    const [[left]] = await pools.large.query(
      `SELECT SUM(ended_at IS NULL) AS active,
         SUM(end_reason = 'absolute_timeout' AND ended_at = absolute_expires_at) AS swept
       FROM curfew_sessions`,
    );
    sweep.active = Number(left.active);
    sweep.stored = Number(left.swept);
  } finally {
    progress(`dropping databases ${Object.values(DATABASES).join(', ')}`);
    await Promise.all(Object.values(pools).map((pool) => pool.end()));
    for (const name of Object.values(DATABASES)) {
      await admin.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
    await admin.end();
  }

  console.log(
    '\nvalidations/s through SessionManager (ours) and by hand through the bare pool (floor): ' +
      `${ROUNDS} rounds of ${SLICE_MS} ms slices, every target in turn; rates are medians, ratio ` +
      'the median of the per-round ratios. Tokens from the active set (the first 10,000 ' +
      'sessions), or from the whole table\n',
  );
  printTable(
    ['stored', 'tokens from', 'in flight', 'ours/s', 'floor/s', 'ratio', 'target', ''],
    compared.results.map((r) => [
      fmt(r.size),
      r.label,
      String(r.inFlight),
      fmt(r.ours),
      fmt(r.floor),
      r.ratio.toFixed(2),
      `≥ ${TARGET_RATIO.toFixed(2)}`,
      r.ratio >= TARGET_RATIO ? 'ok' : 'MISS',
    ]),
    [2, 3, 4, 5],
  );

  console.log(
    `\n${fmt(LARGE)} vs ${fmt(SMALL)} stored sessions, ours, active set ` +
      '(median rates; slowdown: median of the per-round ratios)',
  );
  printTable(
    [
      'in flight',
      `at ${fmt(SMALL)}/s`,
      `at ${fmt(LARGE)}/s`,
      'slower by',
      'floor: by',
      'target',
      '',
    ],
    compared.slowdowns.map(({ inFlight, slowdown, floorSlowdown }) => {
      const pickRow = (size) =>
        compared.results.find(
          (r) => r.size === size && r.inFlight === inFlight && r.label === 'active set',
        );
      return [
        String(inFlight),
        fmt(pickRow(SMALL).ours),
        fmt(pickRow(LARGE).ours),
        slowdown >= 0 ? pct(slowdown) : `${pct(-slowdown)} faster`,
        floorSlowdown >= 0 ? pct(floorSlowdown) : `${pct(-floorSlowdown)} faster`,
        `≤ ${pct(TARGET_SLOWDOWN)}`,
        slowdown <= TARGET_SLOWDOWN ? 'ok' : 'MISS',
      ];
    }),
    [1, 2, 3, 4],
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
  const b = sweep.batches;
  console.log(
    `took ${(sweep.sweepMs / 1000).toFixed(1)} s in ${fmt(b.length)} store calls ` +
      `(${fmt((total / sweep.sweepMs) * 1000)} sessions/s); each call (one transaction): ` +
      `p50 ${percentile(b, 0.5).toFixed(0)} ms, p99 ${percentile(b, 0.99).toFixed(0)} ms, ` +
      `max ${b[b.length - 1].toFixed(0)} ms`,
  );
  const base = sweep.baseline.latencies;
  console.log(
    `validations meanwhile: ${fmt(l.length)} arriving at ${fmt(SWEEP_VALIDATIONS_PER_SECOND)}/s, ` +
      `latency from when each was due: p50 ${percentile(l, 0.5).toFixed(1)} ms, ` +
      `p99 ${p99.toFixed(1)} ms (target < ${TARGET_P99_MS} ms) ${p99 < TARGET_P99_MS ? 'ok' : 'MISS'}, ` +
      `max ${l[l.length - 1].toFixed(1)} ms`,
  );
  console.log(
    `the same validations for ${BASELINE_MS / 1000} s just before, with no sweep (this machine's ` +
      `own baseline): p50 ${percentile(base, 0.5).toFixed(1)} ms, ` +
      `p99 ${percentile(base, 0.99).toFixed(1)} ms, max ${base[base.length - 1].toFixed(1)} ms`,
  );
  const errors = [...sweep.baseline.errors, ...sweep.errors];
  if (errors.length > 0) {
    console.log(`validation errors: ${fmt(errors.length)}, first: ${errors[0]}`);
  }
  console.log(`\nsetup: ${setups.join('; ')}`);
  console.log(
    `load average at end ${loadavg()
      .map((n) => n.toFixed(1))
      .join(' ')}`,
  );
  console.log(`total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  if (failures > 0) {
    console.error(`${failures} failure(s): see above`);
    process.exit(1);
  }
}

await main();
