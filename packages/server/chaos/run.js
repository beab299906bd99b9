// `npm run chaos`: every store × fault of faults.js, each a scenario of harness.js on servers the
// harness starts itself on spare loopback ports (never the shared ones), then one table: calls,
// faults, violations by rule, 5xx other than 503, lost and revived sessions, longest answer,
// recovery time. Exits 1 on any violation or failed integrity check.
//
//   npm run build && npm run chaos -w @curfew/server [-- --short] [--only redis:kill,sqlite]
//     [--seconds S] [--rate R] [--report ../../docs/reliability.md] [--json FILE]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { startFaultProxy } from './fault-proxy.js';
import { FAULTS, SHORT } from './faults.js';
import { runScenario, saveHistory } from './harness.js';
import {
  destroyAll,
  startMariadb,
  startPostgres,
  startRedis,
  startRedisCluster,
} from './private-stores.js';
import { replaceSection, scenarioTable } from './report.js';

const STORES = ['sqlite', 'postgres', 'mariadb', 'redis', 'redis-cluster'];

const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    only: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string', default: '120' },
    report: { type: 'string' },
    json: { type: 'string' },
  },
});

/** The scenarios to run: [store, fault] pairs. */
function plan() {
  if (values.short) return SHORT;
  const all = STORES.flatMap((store) =>
    Object.entries(FAULTS)
      .filter(([, fault]) => fault.stores.includes(store))
      .map(([name]) => [store, name]),
  );
  if (values.only === undefined) return all;
  const wanted = values.only.split(',').map((item) => item.split(':'));
  return all.filter(([store, fault]) =>
    wanted.some(([s, f]) => s === store && (f === undefined || f === fault)),
  );
}

/** Starts the private server for a store kind; SQLite needs none (a file per scenario). */
async function openStoreServer(kind) {
  if (kind === 'postgres') return startPostgres();
  if (kind === 'mariadb') return startMariadb();
  if (kind === 'redis') {
    const redis = await startRedis({ persistence: true });
    // Every write on disk before it is acknowledged: a restart must lose nothing acknowledged.
    await redis.config('SET', 'appendfsync', 'always');
    return redis;
  }
  if (kind === 'redis-cluster') return startRedisCluster();
  return null;
}

/** The URL with its port replaced (the proxy's). */
function viaPort(url, port) {
  const parsed = new URL(url);
  parsed.port = String(port);
  return parsed.toString().replace(/\/$/, '');
}

const seconds = Number(values.seconds ?? (values.short ? 12 : 15));
const rate = Number(values.rate);
const scenarios = plan();
const results = [];
const began = performance.now();
const scratch = mkdtempSync(join(tmpdir(), 'curfew-chaos-'));
let failed = false;
try {
  let current = { kind: null, server: null };
  for (const [kind, faultName] of scenarios) {
    const fault = { name: faultName, ...FAULTS[faultName] };
    if (current.kind !== kind) {
      await current.server?.destroy();
      current = { kind, server: await openStoreServer(kind) };
    }
    const sqliteFile = join(scratch, `${kind}-${faultName}.db`);
    let storeUrl = current.server?.url ?? `sqlite:${sqliteFile}`;
    const context = { store: current.server };
    if (fault.proxy) {
      context.proxy = await startFaultProxy({
        target: { host: '127.0.0.1', port: current.server.port },
      });
      storeUrl = viaPort(storeUrl, context.proxy.port);
    }
    const t0 = performance.now();
    let outcome;
    try {
      outcome = await runScenario({ storeUrl, fault, context, seconds, rate });
    } finally {
      await context.proxy?.close();
    }
    const figures = { store: kind, fault: faultName, ...outcome.figures };
    if (kind === 'sqlite') {
      const db = new Database(sqliteFile, { readonly: true });
      figures.integrity = db.pragma('integrity_check', { simple: true });
      db.close();
    }
    results.push(figures);
    const bad = figures.violations > 0 || (figures.integrity ?? 'ok') !== 'ok';
    failed ||= bad;
    console.log(
      `${bad ? 'FAIL' : 'ok  '} ${kind.padEnd(13)} ${faultName.padEnd(13)} ${String(figures.calls).padStart(5)} calls, ` +
        `${figures.violations} violations, ${figures.refused503} × 503, ${figures.unanswered} unanswered, ` +
        `longest ${figures.longestMs} ms, recovery ${figures.recoveryMs ?? '-'} ms ` +
        `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
    );
    if (bad) {
      for (const violation of outcome.violations.slice(0, 10)) {
        console.log(`     ! ${violation.rule}: ${violation.detail}`);
      }
      const file = saveHistory(`curfew-chaos-${kind}-${faultName}`, outcome.history);
      console.log(`     history: ${file}`);
    }
  }
} finally {
  await destroyAll();
  rmSync(scratch, { recursive: true, force: true });
}
const total = (performance.now() - began) / 1000;
console.log(
  `chaos: ${results.length} scenarios, ${results.reduce((n, r) => n + r.calls, 0)} calls, ` +
    `${results.reduce((n, r) => n + r.violations, 0)} violations, ${total.toFixed(0)} s`,
);
if (values.json) writeFileSync(values.json, JSON.stringify({ seconds, rate, total, results }));
if (values.report) {
  const command = `npm run chaos -w @curfew/server${values.short ? ' -- --short' : ''}`;
  const table = scenarioTable(results, {
    command,
    date: new Date().toISOString().slice(0, 10),
    seconds,
    rate,
    total,
  });
  writeFileSync(values.report, replaceSection(readFileSync(values.report, 'utf8'), 'chaos', table));
  console.log(`chaos: table written to ${values.report}`);
}
process.exitCode = failed ? 1 : 0;
