// Instructions per request on the validate route, counted by valgrind's callgrind: the same
// servers as http.bench.js (bare Fastify route, curfew serve on SQLite and on memory:), each
// under callgrind, warmed up, then counted over a fixed number of requests. On a shared machine
// req/s and CPU time drift by a third from run to run; an instruction count drifts far less
// (two windows of one run differ by up to 4% on the machines in docs/benchmarks.md; the lower
// is taken, as a window that catches a major GC or a recompilation reads up to a seventh
// higher), so it shows whether a change to the request path made it cheaper by more than that.
// It is not the target (that is req/s, in http.bench.js): it leaves out system calls, which
// callgrind does not see, and memory stalls. Counts are of the main thread only: V8's compiler
// and GC helper threads still run during warm-up under valgrind's slower clock.
//
//   npm run build && npm run bench:instructions -w @curfew/server
//   BENCH_WARMUP=8000 BENCH_REQUESTS=4000 npm run bench:instructions -w @curfew/server
//
// Needs valgrind (Debian: apt-get install valgrind); takes about a minute per server.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WARMUP = Number(process.env.BENCH_WARMUP ?? 8000);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONNECTIONS = 10;
const WINDOWS = 2;
const KEY = 'bench-key-0123456789abcdefghijklmnopqrstuvwxyz';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'curfew-instructions-'));

try {
  execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('valgrind is not installed (Debian: apt-get install valgrind)');
  process.exit(1);
}

/** Starts `args` under callgrind; resolves once the server says where it listens. */
function start(name, args, env = {}) {
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--separate-threads=yes',
      // V8 writes machine code into anonymous memory; valgrind must notice when it changes.
      '--smc-check=all-non-file',
      `--callgrind-out-file=${join(dir, `${name}.%p`)}`,
      process.execPath,
      ...args,
    ],
    {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', openSync('/dev/null', 'w'), 'pipe'],
    },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start in 120 s:\n${output}`)), 120_000);
    child.stderr.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ name, url: match[1], child });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
}

function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          text += chunk;
        });
        response.on('end', () => resolve({ status: response.statusCode, text }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** Sends `count` validations over CONNECTIONS keep-alive connections. */
async function validations(agent, url, body, count) {
  let sent = 0;
  const worker = async () => {
    while (sent < count) {
      sent += 1;
      const { status, text } = await post(agent, `${url}/v1/sessions/validate`, body);
      if (status !== 200) throw new Error(`validate answered ${status}: ${text}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

/** Main-thread instructions per request of one server, in each counted window. */
async function count(server, needsSession) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let token = 'x'.repeat(43);
  if (needsSession) {
    const created = await post(
      agent,
      `${server.url}/v1/sessions`,
      JSON.stringify({ userId: '42' }),
    );
    token = JSON.parse(created.text).token;
  }
  const body = JSON.stringify({ token });
  const pid = String(server.child.pid);
  await validations(agent, server.url, body, WARMUP);
  // Two windows: now and then one catches a major GC or a recompilation and reads a tenth
  // higher; the lower of the two is the request path's own cost.
  for (let window = 0; window < WINDOWS; window += 1) {
    execFileSync('callgrind_control', ['--zero', pid], { stdio: 'ignore' });
    await validations(agent, server.url, body, REQUESTS);
    execFileSync('callgrind_control', ['--dump', pid], { stdio: 'ignore' });
  }
  agent.destroy();
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
  // Dump n is window n; thread 1 is the event loop's thread.
  const perWindow = [];
  for (let window = 1; window <= WINDOWS; window += 1) {
    const file = join(dir, `${server.name}.${pid}.${window}-01`);
    const summary = /^summary: (\d+)$/m.exec(readFileSync(file, 'utf8'));
    if (summary === null) throw new Error(`no summary line in ${file}`);
    perWindow.push(Number(summary[1]) / REQUESTS);
  }
  return perWindow;
}

const curfewEnv = (store) => ({
  CURFEW_HOST: '127.0.0.1',
  CURFEW_PORT: '0',
  CURFEW_STORE: store,
  CURFEW_API_KEYS: `bench:${KEY}:*`,
  CURFEW_API_KEYS_FILE: join(dir, 'no-such-file'),
  CURFEW_SWEEP_INTERVAL: '0',
});

try {
  // One server at a time: two under valgrind at once change each other's timing, and with it
  // how many requests share an event-loop turn.
  const bare = await count(await start('bare', [here('./bare-server.js')]), false);
  const sqlite = await count(
    await start(
      'sqlite',
      [here('../dist/cli.js'), 'serve'],
      curfewEnv(`sqlite:${join(dir, 'c.db')}`),
    ),
    true,
  );
  const memory = await count(
    await start('memory', [here('../dist/cli.js'), 'serve'], curfewEnv('memory:')),
    true,
  );
  const k = (n) => `${(n / 1000).toFixed(1)}k`;
  const row = (name, counts) =>
    `  ${name.padEnd(38)}${k(Math.min(...counts)).padStart(8)}   (windows: ${counts.map(k).join(', ')})`;
  console.log(
    `\nInstructions per POST /v1/sessions/validate (callgrind, main thread, lower of ${WINDOWS} windows of ${REQUESTS} requests after ${WARMUP}, ${CONNECTIONS} connections)`,
  );
  console.log(row('bare Fastify route (fixed JSON body)', bare));
  console.log(row('curfew serve, SQLite, touch: true', sqlite));
  console.log(row('curfew serve, memory: (reference)', memory));
  console.log(
    `  ratio bare / curfew (SQLite): ${(Math.min(...bare) / Math.min(...sqlite)).toFixed(2)} (the req/s target, >= 0.6, is measured by http.bench.js)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
