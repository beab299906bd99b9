// HTTP benchmark: POST /v1/sessions/validate on `curfew serve` with its SQLite store, next to a
// bare Fastify route answering a fixed JSON body, measured in the same run on loopback with
// autocannon (50 connections, bounded duration). Each server is its own process, started from
// the built dist/, with curfew in its default configuration (info request logs, to /dev/null).
//
//   npm run build && npm run bench -w @curfew/server
//   BENCH_SECONDS=10 npm run bench -w @curfew/server
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 50;
const ROUNDS = 2;
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 10;
const KEY = 'bench-key-0123456789abcdefghijklmnopqrstuvwxyz';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'curfew-bench-'));
const children = [];

function start(args, env = {}) {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH, ...env },
    // Logs go nowhere, but they are still written: the server pays for them as in production.
    stdio: ['ignore', openSync('/dev/null', 'w'), 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start in 15 s:\n${output}`)), 15_000);
    const onData = (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
}

function run(url, { title, body, headers, seconds }) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${url}/v1/sessions/validate`,
        method: 'POST',
        connections: CONNECTIONS,
        duration: seconds,
        headers: { 'content-type': 'application/json', ...headers },
        body,
        title,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

function summary(result) {
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
    throw new Error(
      `${result.title}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`,
    );
  }
  return { rps: result.requests.average, p99: result.latency.p99, p50: result.latency.p50 };
}

try {
  const curfewUrl = await start([here('../dist/cli.js'), 'serve'], {
    CURFEW_HOST: '127.0.0.1',
    CURFEW_PORT: '0',
    CURFEW_STORE: `sqlite:${join(dir, 'curfew.db')}`,
    CURFEW_API_KEYS: `bench:${KEY}`,
    CURFEW_SWEEP_INTERVAL: '0',
  });
  const bareUrl = await start([here('./bare-server.js')]);

  const created = await fetch(`${curfewUrl}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: '42' }),
  });
  const { token } = await created.json();
  const body = JSON.stringify({ token });
  const curfew = { title: 'curfew', body, headers: { authorization: `Bearer ${KEY}` } };
  const bare = { title: 'bare', body, headers: {} };

  // Warm both up (JIT, SQLite page cache), then alternate rounds so drift hits both alike.
  await run(bareUrl, { ...bare, seconds: 1 });
  await run(curfewUrl, { ...curfew, seconds: 1 });
  const results = { bare: [], curfew: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    results.bare.push(summary(await run(bareUrl, { ...bare, seconds: SECONDS })));
    results.curfew.push(summary(await run(curfewUrl, { ...curfew, seconds: SECONDS })));
  }
  const best = (list) => list.reduce((a, b) => (b.rps > a.rps ? b : a));
  const b = best(results.bare);
  const c = best(results.curfew);
  const ratio = c.rps / b.rps;
  const mark = (ok) => (ok ? 'ok' : 'MISSED');

  console.log(
    `\nHTTP: POST /v1/sessions/validate, ${CONNECTIONS} connections, ${SECONDS} s x ${ROUNDS} rounds (best round), loopback`,
  );
  console.log('  server                                req/s     p50 ms   p99 ms');
  const row = (name, r) =>
    `  ${name.padEnd(36)}${r.rps.toFixed(0).padStart(8)}${r.p50.toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(9)}`;
  console.log(row('bare Fastify route (fixed JSON body)', b));
  console.log(row('curfew serve, SQLite, touch: true', c));
  console.log(
    `  ratio curfew / bare: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}: ${mark(ratio >= TARGET_RATIO)})`,
  );
  console.log(
    `  curfew p99: ${c.p99.toFixed(2)} ms (target < ${TARGET_P99_MS} ms: ${mark(c.p99 < TARGET_P99_MS)})`,
  );
  console.log(
    `  rounds: bare ${results.bare.map((r) => r.rps.toFixed(0)).join(', ')}; curfew ${results.curfew.map((r) => r.rps.toFixed(0)).join(', ')}`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map((child) =>
      child.exitCode === null ? new Promise((r) => child.once('exit', r)) : null,
    ),
  );
  rmSync(dir, { recursive: true, force: true });
}
