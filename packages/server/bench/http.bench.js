// HTTP benchmark: POST /v1/sessions/validate on `curfew serve` with its SQLite store, next to a
// bare Fastify route answering a fixed JSON body, measured in the same run on loopback with
// autocannon (50 connections, bounded duration). Each server is its own process, started from
// the built dist/, with curfew in its default configuration (info request logs, to /dev/null).
//
//   npm run build && npm run bench -w @curfew/server
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 npm run bench -w @curfew/server
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 10;
const KEY = 'bench-key-0123456789abcdefghijklmnopqrstuvwxyz';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'curfew-bench-'));
const children = [];

/** Starts a server process and resolves with its URL and pid once it says it is listening. */
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
    child.stderr.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], pid: child.pid });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
}

// CPU time a process has used, in milliseconds (Linux /proc; null elsewhere). On a shared
// machine req/s moves with other load; CPU time per request moves much less.
function cpuMs(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return null;
  }
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

async function measure(server, options) {
  const before = cpuMs(server.pid);
  const result = await run(server.url, options);
  const after = cpuMs(server.pid);
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
    throw new Error(
      `${result.title}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`,
    );
  }
  const cpuUs =
    before === null || after === null ? null : ((after - before) * 1000) / result.requests.total;
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, cpuUs };
}

try {
  const curfewServer = await start([here('../dist/cli.js'), 'serve'], {
    CURFEW_HOST: '127.0.0.1',
    CURFEW_PORT: '0',
    CURFEW_STORE: `sqlite:${join(dir, 'curfew.db')}`,
    CURFEW_API_KEYS: `bench:${KEY}`,
    CURFEW_SWEEP_INTERVAL: '0',
  });
  // The same service on memory:, to show how much of the difference is the store.
  const memoryServer = await start([here('../dist/cli.js'), 'serve'], {
    CURFEW_HOST: '127.0.0.1',
    CURFEW_PORT: '0',
    CURFEW_STORE: 'memory:',
    CURFEW_API_KEYS: `bench:${KEY}`,
    CURFEW_SWEEP_INTERVAL: '0',
    CURFEW_API_KEYS_FILE: join(dir, 'no-such-file'),
  });
  const bareServer = await start([here('./bare-server.js')]);

  const created = await fetch(`${curfewServer.url}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: '42' }),
  });
  const { token } = await created.json();
  const body = JSON.stringify({ token });
  const curfew = { title: 'curfew', body, headers: { authorization: `Bearer ${KEY}` } };
  const createdInMemory = await fetch(`${memoryServer.url}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: '42' }),
  });
  const memory = {
    title: 'memory',
    body: JSON.stringify({ token: (await createdInMemory.json()).token }),
    headers: { authorization: `Bearer ${KEY}` },
  };
  // The floor gets the very same request, Authorization header included: every server parses
  // the headers it is sent, whether or not it reads them.
  const bare = { title: 'bare', body, headers: { authorization: `Bearer ${KEY}` } };

  // Warm both up (JIT, SQLite page cache), then alternate rounds so drift hits both alike.
  await run(bareServer.url, { ...bare, seconds: 1 });
  await run(curfewServer.url, { ...curfew, seconds: 1 });
  await run(memoryServer.url, { ...memory, seconds: 1 });
  const results = { bare: [], curfew: [], memory: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    results.bare.push(await measure(bareServer, { ...bare, seconds: SECONDS }));
    results.curfew.push(await measure(curfewServer, { ...curfew, seconds: SECONDS }));
    results.memory.push(await measure(memoryServer, { ...memory, seconds: SECONDS }));
  }
  const best = (list) => list.reduce((a, b) => (b.rps > a.rps ? b : a));
  const b = best(results.bare);
  const c = best(results.curfew);
  const ratio = c.rps / b.rps;
  const mark = (ok) => (ok ? 'ok' : 'MISSED');
  const cpu = (r) => (r.cpuUs === null ? '-' : r.cpuUs.toFixed(0));

  console.log(
    `\nHTTP: POST /v1/sessions/validate, ${CONNECTIONS} connections, ${SECONDS} s x ${ROUNDS} rounds (best round), loopback, load average ${loadavg()[0].toFixed(1)}`,
  );
  console.log(
    '  server                                 req/s    p50 ms   p99 ms  server CPU us/req',
  );
  const row = (name, r) =>
    `  ${name.padEnd(36)}${r.rps.toFixed(0).padStart(8)}${r.p50.toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(9)}${cpu(r).padStart(19)}`;
  console.log(row('bare Fastify route (fixed JSON body)', b));
  console.log(row('curfew serve, SQLite, touch: true', c));
  console.log(row('curfew serve, memory: (reference)', best(results.memory)));
  console.log(
    `  ratio curfew / bare: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}: ${mark(ratio >= TARGET_RATIO)})`,
  );
  console.log(
    `  curfew p99: ${c.p99.toFixed(2)} ms (target < ${TARGET_P99_MS} ms: ${mark(c.p99 < TARGET_P99_MS)})`,
  );
  if (b.cpuUs !== null && c.cpuUs !== null) {
    console.log(`  CPU-time ratio bare / curfew per request: ${(b.cpuUs / c.cpuUs).toFixed(2)}`);
  }
  const list = (rs) => rs.map((r) => r.rps.toFixed(0)).join(', ');
  const load = loadavg()[0];
  if (load > cpus().length) {
    console.log(
      `  note: other work was running (load average ${load.toFixed(1)} on ${cpus().length} cores); req/s and p99 are not reliable, CPU per request is less affected`,
    );
  }
  console.log(`  every round, req/s: bare ${list(results.bare)}; curfew ${list(results.curfew)}`);
  // The best rounds above may come from different moments of a drifting machine; each round's
  // ratio compares two runs taken back to back, so its median is steadier across runs.
  const perRound = results.curfew.map((r, i) => r.rps / results.bare[i].rps);
  const middle = [...perRound].sort((x, y) => x - y)[Math.floor(perRound.length / 2)];
  console.log(
    `  ratio in each round: ${perRound.map((x) => x.toFixed(2)).join(', ')} (median ${middle.toFixed(2)})`,
  );
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map((child) =>
      child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : null,
    ),
  );
  rmSync(dir, { recursive: true, force: true });
}
