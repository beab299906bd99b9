// The fault harness's driver, first form: no faults yet. Starts `curfew serve` instances from the
// built dist/ on one store, sends a fixed-rate mix of every kind of call to them (round robin),
// records each call as the checker reads it (tokens by name only: no token is written anywhere),
// then checks the history and prints the violations by rule. Exits 1 on any violation.
//
//   npm run build && node packages/server/chaos/run.js [--store URL] [--instances N] [--seconds S] [--rate R]
//
// Loopback only; every instance it starts, it stops.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkHistory, countByRule, RULES } from './checker.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    instances: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '15' },
    rate: { type: 'string', default: '150' },
  },
});
const dir = mkdtempSync(join(tmpdir(), 'curfew-chaos-'));
const STORE = values.store ?? `sqlite:${join(dir, 'sessions.db')}`;
const INSTANCES = Number(values.instances);
const SECONDS = Number(values.seconds);
const RATE = Number(values.rate);
const KEY = `cfk_${randomBytes(32).toString('base64url')}`;
// The longest a call may take: the store timeout (2 s by default) and slack for a busy machine.
const BOUND = 5_000;
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

const children = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Starts one instance; resolves with its URL once it listens. */
function startInstance(name) {
  const child = spawn(process.execPath, [cli, 'serve'], {
    env: {
      PATH: process.env.PATH,
      CURFEW_STORE: STORE,
      CURFEW_HOST: '127.0.0.1',
      CURFEW_PORT: '0',
      CURFEW_API_KEYS: `chaos:${KEY}:*`,
      CURFEW_LOG_LEVEL: 'warn',
      CURFEW_SWEEP_INTERVAL: '0',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 20_000);
    child.stderr.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ name, url: match[1], child });
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}:\n${output}`)));
  });
}

const history = [];
const tokens = new Map(); // name -> token (kept in memory only)
const live = []; // { name, user, session } of tokens not yet known to be ended
let counter = 0;
const started = performance.now();
const now = () => performance.now() - started;

/** One call, recorded. `token` is a name; the request carries the real token. */
async function send(instance, op, { method = 'POST', path, body, token, user, session }) {
  const record = {
    id: `c${++counter}`,
    instance: instance.name,
    op,
    start: now(),
    end: null,
    token,
    user,
    session,
    status: null,
    headers: {},
    answer: null,
  };
  history.push(record);
  try {
    const response = await fetch(`${instance.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(BOUND * 2),
    });
    const text = await response.text();
    record.end = now();
    record.status = response.status;
    const retryAfter = response.headers.get('retry-after');
    if (retryAfter !== null) record.headers['retry-after'] = retryAfter;
    let answer = null;
    try {
      answer = JSON.parse(text);
    } catch {}
    // What the checker needs of an answer; a new token becomes a name.
    if (answer?.token) {
      const name = `t${tokens.size + 1}`;
      tokens.set(name, answer.token);
      answer = { ...answer, token: undefined, newToken: name };
    }
    record.answer = answer;
    return record;
  } catch {
    // No answer: the call may or may not have happened.
    return record;
  }
}

const pick = (list) => list[Math.floor(Math.random() * list.length)];
const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);

/** One operation of the mix, on a random instance. */
async function operate(instances) {
  const instance = pick(instances);
  const roll = Math.random();
  const target = live.length > 0 ? pick(live) : null;
  if (roll < 0.15 || target === null) {
    const user = pick(users);
    const record = await send(instance, 'create', {
      path: '/v1/sessions',
      body: { userId: user },
      user,
    });
    if (record.status === 201) {
      record.token = record.answer.newToken;
      record.session = record.answer.session.id;
      live.push({ name: record.token, user, session: record.session });
    }
    return;
  }
  const { name, user, session } = target;
  const token = tokens.get(name);
  const common = { token: name, user, session };
  const retire = () => {
    const index = live.indexOf(target);
    if (index >= 0) live.splice(index, 1);
  };
  if (roll < 0.55) {
    await send(instance, 'validate', {
      path: '/v1/sessions/validate',
      body: { token, touch: Math.random() < 0.5 },
      ...common,
    });
  } else if (roll < 0.62) {
    await send(instance, 'touch', { path: '/v1/sessions/touch', body: { token }, ...common });
  } else if (roll < 0.72) {
    retire();
    await send(instance, 'revoke', { path: '/v1/sessions/revoke', body: { token }, ...common });
  } else if (roll < 0.8) {
    retire();
    const record = await send(instance, 'rotate', {
      path: '/v1/sessions/rotate',
      body: { token },
      ...common,
    });
    if (record.answer?.newToken) live.push({ name: record.answer.newToken, user, session });
  } else if (roll < 0.86) {
    retire();
    const record = await send(instance, 'reauthenticate', {
      path: '/v1/sessions/reauthenticate',
      body: { token, aal: 2 },
      ...common,
    });
    if (record.answer?.newToken) live.push({ name: record.answer.newToken, user, session });
  } else if (roll < 0.88) {
    for (const entry of live.filter((other) => other.user === user))
      live.splice(live.indexOf(entry), 1);
    await send(instance, 'revoke-all', {
      path: `/v1/users/${user}/sessions/revoke`,
      body: {},
      user,
    });
  } else if (roll < 0.97) {
    await send(instance, 'list', { method: 'GET', path: `/v1/users/${user}/sessions`, user });
  } else {
    await send(instance, 'sweep', { path: '/v1/sweep', body: {} });
  }
  // Now and then an ended token is tried again: it must stay ended.
  if (Math.random() < 0.05) {
    const ended = pick([...tokens.keys()]);
    if (!live.some((entry) => entry.name === ended)) {
      await send(instance, 'validate', {
        path: '/v1/sessions/validate',
        body: { token: tokens.get(ended), touch: true },
        token: ended,
      });
    }
  }
}

let failed = false;
try {
  const instances = [];
  for (let i = 0; i < INSTANCES; i += 1) instances.push(await startInstance(`i${i + 1}`));
  // A fixed rate, open loop: calls start on schedule whether or not earlier ones answered.
  const pending = new Set();
  const total = SECONDS * RATE;
  for (let i = 0; i < total; i += 1) {
    const due = (i / RATE) * 1000;
    const wait = due - now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const call = operate(instances).finally(() => pending.delete(call));
    pending.add(call);
  }
  await Promise.all(pending);
  for (const { child } of instances) child.kill('SIGTERM');
  const violations = checkHistory(history, { bound: BOUND });
  const counts = countByRule(violations);
  const calls = history.length;
  const slowest = Math.max(...history.filter((r) => r.end !== null).map((r) => r.end - r.start));
  const fivexx = history.filter((r) => r.status >= 500 && r.status !== 503).length;
  console.log(
    `chaos: ${STORE.replace(/\/\/[^@]*@/, '//***@')}, ${INSTANCES} instance(s), ${calls} calls in ${SECONDS} s, no faults`,
  );
  console.log(`  5xx other than 503: ${fivexx}; slowest answer ${Math.round(slowest)} ms`);
  for (const [rule, count] of Object.entries(counts)) {
    console.log(`  ${rule.padEnd(20)} ${String(count).padStart(5)}   ${RULES[rule]}`);
  }
  for (const violation of violations.slice(0, 10))
    console.log(`  ! ${violation.rule}: ${violation.detail}`);
  const file = join(tmpdir(), `curfew-chaos-history-${process.pid}.jsonl`);
  writeFileSync(file, history.map((record) => JSON.stringify(record)).join('\n'));
  console.log(`  history: ${file}`);
  failed = violations.length > 0;
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
