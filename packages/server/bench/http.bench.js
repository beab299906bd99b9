// HTTP benchmark, two pairings measured in the same run on loopback with autocannon (50
// connections, bounded duration), in alternating rounds:
// - POST /v1/sessions/validate on `curfew serve` with its SQLite store, next to a bare Fastify
//   route answering a fixed JSON body (the floor), with the same service on memory: beside them,
//   and a second process of the bare route as a control: two processes of the same code differ
//   by what the machine does to each, and that difference is the run's own error;
// - `curfew serve` on Redis validating with touch (the same request), next to an Express app
//   keeping sessions with express-session and connect-redis, set up for rolling sessions
//   (bench/express-session-server.js), answering a GET that reads the session, with a valid
//   session cookie; both on one private redis-server that this bench starts on a spare port and
//   always stops. Target: curfew at least 2.5 times the peer's rate.
// Each server is its own process, started from the built dist/, with curfew in its default
// configuration (info request logs, to /dev/null). Where `taskset` can pin processes and there
// are at least two CPUs, the servers run on the last CPU and this process (autocannon) on the
// first: a load generator sharing a core with the server it measures caps the floor at its own
// capacity rather than Fastify's.
//
//   npm run build && npm run bench -w @curfew/server
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 npm run bench -w @curfew/server
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
// The library's bench helper for private redis-servers, so both packages start them one way.
import { startRedis } from '../../curfew/bench/support/redis-servers.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 10;
const TARGET_PEER_RATIO = 2.5;
const KEY = 'bench-key-0123456789abcdefghijklmnopqrstuvwxyz';
// JIT compilation and SQLite's page cache settle within a few seconds of load.
const WARMUP_SECONDS = 3;

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'curfew-bench-'));
const children = [];
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(130)); // children and redis-server are killed on exit
}
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * The CPU the servers run on, with this process (and every thread of it) moved to CPU 0; `null`
 * where that cannot be done (one CPU, or no taskset), and then nothing is pinned.
 */
function pinLoadGenerator() {
  const count = availableParallelism();
  if (count < 2) return null;
  try {
    execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', '0', String(process.pid)], {
      stdio: 'ignore',
    });
    return count - 1;
  } catch {
    return null;
  }
}
const serverCpu = pinLoadGenerator();

/** Lets a child of this process, which inherits its CPU, run on any again. */
function unpin(pid) {
  if (serverCpu === null) return;
  execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', `0-${serverCpu}`, String(pid)], {
    stdio: 'ignore',
  });
}

/** Starts a server process and resolves with its URL and pid once it says it is listening. */
function start(args, env = {}) {
  const [command, argv] =
    serverCpu === null
      ? [process.execPath, args]
      : ['taskset', ['--cpu-list', String(serverCpu), process.execPath, ...args]];
  const child = spawn(command, argv, {
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

function run(url, { title, body, headers, seconds, path = '/v1/sessions/validate' }) {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${url}${path}`,
        method: body === undefined ? 'GET' : 'POST',
        connections: CONNECTIONS,
        duration: seconds,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body,
        title,
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

/** One autocannon run; with `redisPid`, also redis-server's CPU time per request. */
async function measure(server, options, redisPid = null) {
  const before = cpuMs(server.pid);
  const redisBefore = redisPid === null ? null : cpuMs(redisPid);
  const result = await run(server.url, options);
  const after = cpuMs(server.pid);
  const redisAfter = redisPid === null ? null : cpuMs(redisPid);
  if (result.errors > 0 || result.non2xx > 0 || result.timeouts > 0) {
    throw new Error(
      `${result.title}: ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`,
    );
  }
  const cpuUs =
    before === null || after === null ? null : ((after - before) * 1000) / result.requests.total;
  const redisUs =
    redisBefore === null || redisAfter === null
      ? null
      : ((redisAfter - redisBefore) * 1000) / result.requests.total;
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuUs,
    redisUs,
  };
}

/** Creates a session on a running `curfew serve`; returns the validate request's options. */
async function curfewSession(server, title) {
  const created = await fetch(`${server.url}/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: '42' }),
  });
  if (created.status !== 201 && created.status !== 200) {
    throw new Error(`${title}: creating a session answered ${created.status}`);
  }
  const { token } = await created.json();
  return { title, body: JSON.stringify({ token }), headers: { authorization: `Bearer ${KEY}` } };
}

/** The installed version of a package, from the package.json above its entry point. */
function version(name) {
  let at = dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(at, 'package.json'), 'utf8'));
      if (manifest.name === name) return manifest.version;
    } catch {}
    if (dirname(at) === at) return '?';
    at = dirname(at);
  }
}
const best = (list) => list.reduce((a, b) => (b.rps > a.rps ? b : a));
const mark = (ok) => (ok ? 'ok' : 'MISS');
const cpu = (us) => (us === null ? '-' : us.toFixed(0));
const list = (rs) => rs.map((r) => r.rps.toFixed(0)).join(', ');
/** Each round's ratio compares two runs taken back to back; their median resists drift. */
function perRoundLine(ours, peer) {
  const perRound = ours.map((r, i) => r.rps / peer[i].rps);
  const middle = [...perRound].sort((x, y) => x - y)[Math.floor(perRound.length / 2)];
  return `  ratio in each round: ${perRound.map((x) => x.toFixed(2)).join(', ')} (median ${middle.toFixed(2)})`;
}

let redis = null;
try {
  redis = await startRedis('http');
  unpin(redis.pid);
  const redisUrl = `redis://127.0.0.1:${redis.port}`;
  const curfewServer = await start([here('../dist/cli.js'), 'serve'], {
    CURFEW_HOST: '127.0.0.1',
    CURFEW_PORT: '0',
    CURFEW_STORE: `sqlite:${join(dir, 'curfew.db')}`,
    CURFEW_API_KEYS: `bench:${KEY}:*`,
    CURFEW_SWEEP_INTERVAL: '0',
  });
  // The same service on memory:, to show how much of the difference is the store.
  const memoryServer = await start([here('../dist/cli.js'), 'serve'], {
    CURFEW_HOST: '127.0.0.1',
    CURFEW_PORT: '0',
    CURFEW_STORE: 'memory:',
    CURFEW_API_KEYS: `bench:${KEY}:*`,
    CURFEW_SWEEP_INTERVAL: '0',
    CURFEW_API_KEYS_FILE: join(dir, 'no-such-file'),
  });
  const bareServer = await start([here('./bare-server.js')]);
  // A second, identical bare server: the control. Two processes of the same code, measured the
  // same way, should read the same; how far apart they read is this run's own measurement error.
  const controlServer = await start([here('./bare-server.js')]);
  // The Redis pairing: the service and the Express peer on the same private redis-server.
  const redisServer = await start([here('../dist/cli.js'), 'serve'], {
    CURFEW_HOST: '127.0.0.1',
    CURFEW_PORT: '0',
    CURFEW_STORE: redisUrl,
    CURFEW_API_KEYS: `bench:${KEY}:*`,
    CURFEW_SWEEP_INTERVAL: '0',
  });
  const peerServer = await start([here('./express-session-server.js')], {
    REDIS_URL: redisUrl,
    SESSION_SECRET: 'bench-secret-0123456789abcdefghijklmnop',
    NODE_ENV: 'production',
  });

  const curfew = await curfewSession(curfewServer, 'curfew');
  const memory = await curfewSession(memoryServer, 'memory');
  // The floor gets the very same request, Authorization header included: every server parses
  // the headers it is sent, whether or not it reads them.
  const bare = { ...curfew, title: 'bare' };
  const onRedis = await curfewSession(redisServer, 'curfew-redis');
  const login = await fetch(`${peerServer.url}/login`, { method: 'POST' });
  const cookie = login.headers.get('set-cookie')?.split(';')[0];
  if (login.status !== 200 || cookie === undefined) {
    throw new Error(`the peer's login answered ${login.status} without a session cookie`);
  }
  const peer = { title: 'express-session', path: '/me', headers: { cookie } };
  const check = await fetch(`${peerServer.url}/me`, { headers: { cookie } });
  if (check.status !== 200 || (await check.json()).userId !== '42') {
    throw new Error(`the peer did not read its session: ${check.status}`);
  }

  // Warm every server up (JIT, SQLite page cache), then alternate rounds so drift hits all alike.
  const warm = { seconds: WARMUP_SECONDS };
  await run(bareServer.url, { ...bare, ...warm });
  await run(controlServer.url, { ...bare, ...warm });
  await run(curfewServer.url, { ...curfew, ...warm });
  await run(memoryServer.url, { ...memory, ...warm });
  await run(redisServer.url, { ...onRedis, ...warm });
  await run(peerServer.url, { ...peer, ...warm });
  const results = { bare: [], curfew: [], memory: [], control: [], redis: [], peer: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    results.bare.push(await measure(bareServer, { ...bare, seconds: SECONDS }));
    results.curfew.push(await measure(curfewServer, { ...curfew, seconds: SECONDS }));
    results.memory.push(await measure(memoryServer, { ...memory, seconds: SECONDS }));
    results.control.push(await measure(controlServer, { ...bare, seconds: SECONDS }));
    // Which of the Redis pair goes first alternates too.
    const pair = [
      () => measure(redisServer, { ...onRedis, seconds: SECONDS }, redis.pid),
      () => measure(peerServer, { ...peer, seconds: SECONDS }, redis.pid),
    ];
    if (round % 2 === 0) {
      results.redis.push(await pair[0]());
      results.peer.push(await pair[1]());
    } else {
      results.peer.push(await pair[1]());
      results.redis.push(await pair[0]());
    }
  }
  const pinning =
    serverCpu === null
      ? 'not pinned'
      : `servers on CPU ${serverCpu}, autocannon on CPU 0, redis-server unpinned`;
  const b = best(results.bare);
  const c = best(results.curfew);
  const ratio = c.rps / b.rps;

  console.log(
    `\nHTTP: POST /v1/sessions/validate, ${CONNECTIONS} connections, ${SECONDS} s x ${ROUNDS} rounds (best round), loopback, ${pinning}, load average ${loadavg()[0].toFixed(1)}`,
  );
  console.log(
    '  server                                 req/s    p50 ms   p99 ms  server CPU us/req',
  );
  const row = (name, r) =>
    `  ${name.padEnd(36)}${r.rps.toFixed(0).padStart(8)}${r.p50.toFixed(2).padStart(10)}${r.p99.toFixed(2).padStart(9)}${cpu(r.cpuUs).padStart(19)}`;
  console.log(row('bare Fastify route (fixed JSON body)', b));
  console.log(row('curfew serve, SQLite, touch: true', c));
  console.log(row('curfew serve, memory: (reference)', best(results.memory)));
  const k = best(results.control);
  console.log(row('bare route again, second process', k));
  console.log(
    `  ratio curfew / bare: ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}: ${mark(ratio >= TARGET_RATIO)})`,
  );
  // The control's distance from 1 is what this run can resolve: a ratio closer to its target
  // than that is inside the run's own error, whichever side of the line it printed.
  const error = Math.abs(k.rps / b.rps - 1);
  const undecided = Math.abs(ratio / TARGET_RATIO - 1) <= error;
  console.log(
    `  control, bare route / itself in a second process: ${(k.rps / b.rps).toFixed(2)} (this run's error: ${(error * 100).toFixed(0)}%${undecided ? '; the ratio is within it of its target, so this run does not decide the target' : ''})`,
  );
  console.log(
    `  curfew p99: ${c.p99.toFixed(2)} ms (target < ${TARGET_P99_MS} ms: ${mark(c.p99 < TARGET_P99_MS)})`,
  );
  if (b.cpuUs !== null && c.cpuUs !== null) {
    console.log(`  CPU-time ratio bare / curfew per request: ${(b.cpuUs / c.cpuUs).toFixed(2)}`);
  }
  const load = loadavg()[0];
  if (load > cpus().length) {
    console.log(
      `  note: other work was running (load average ${load.toFixed(1)} on ${cpus().length} cores); req/s and p99 are not reliable, CPU per request is less affected`,
    );
  }
  console.log(
    `  every round, req/s: bare ${list(results.bare)}; curfew ${list(results.curfew)}; control ${list(results.control)}`,
  );
  console.log(perRoundLine(results.curfew, results.bare));

  const r = best(results.redis);
  const p = best(results.peer);
  const peerRatio = r.rps / p.rps;
  const redisVersion = /v=(\S+)/.exec(
    (await promisify(execFile)('redis-server', ['--version'])).stdout,
  )?.[1];
  console.log(
    `\nHTTP on Redis: curfew serve validating with touch (POST /v1/sessions/validate) next to Express ${version('express')} + express-session ${version('express-session')} + connect-redis ${version('connect-redis')} (node-redis ${version('redis')}; rolling: true, resave: false, saveUninitialized: false, signed cookie; GET /me reading the session), one private redis-server ${redisVersion}; ${CONNECTIONS} connections, ${SECONDS} s x ${ROUNDS} rounds, alternating (best round)`,
  );
  console.log(
    '  server                                 req/s    p50 ms   p99 ms  server CPU us/req  redis CPU us/req',
  );
  const redisRow = (name, x) => `${row(name, x)}${cpu(x.redisUs).padStart(18)}`;
  console.log(redisRow('curfew serve, Redis, touch: true', r));
  console.log(redisRow('express-session + connect-redis', p));
  console.log(
    `  ratio curfew / peer: ${peerRatio.toFixed(2)} (target >= ${TARGET_PEER_RATIO}: ${mark(peerRatio >= TARGET_PEER_RATIO)})`,
  );
  console.log(
    `  every round, req/s: curfew on Redis ${list(results.redis)}; express-session ${list(results.peer)}`,
  );
  console.log(perRoundLine(results.redis, results.peer));
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children.map((child) =>
      child.exitCode === null ? new Promise((resolve) => child.once('exit', resolve)) : null,
    ),
  );
  if (redis !== null) await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
