// One scenario of the fault harness: instances of the built service on one store, behind the
// harness's balancer, a fixed-rate open-loop mix of every kind of call, a fault injected and
// cleared on schedule, then an audit (every token the run made is validated once more, so a
// lost session shows) and the checker over the whole record. Tokens are kept in memory by name;
// the record holds names only, so no token is ever written anywhere.
//
// Loopback only; every process it starts, it stops.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBalancer } from './balancer.js';
import { checkHistory, countByRule } from './checker.js';

/** The longest a call may take: the store timeout (2 s by default) and slack for a busy machine. */
export const BOUND = 5_000;
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const brokenEntry = fileURLToPath(new URL('./broken-instance.js', import.meta.url));

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts one instance of `curfew serve` (or, with `broken`, the broken one) and resolves once it
 * listens. `port` 0 picks one; a restart passes the port it had, so the balancer finds it again.
 */
function startInstance({ name, storeUrl, key, port = 0, broken }) {
  const child = spawn(
    process.execPath,
    [broken ? brokenEntry : cli, ...(broken ? [] : ['serve'])],
    {
      env: {
        PATH: process.env.PATH,
        CURFEW_STORE: storeUrl,
        CURFEW_HOST: '127.0.0.1',
        CURFEW_PORT: String(port),
        CURFEW_API_KEYS: `chaos:${key}:*`,
        CURFEW_LOG_LEVEL: 'warn',
        CURFEW_SWEEP_INTERVAL: '0',
        ...(broken ? { CURFEW_CHAOS_BROKEN: broken } : {}),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  running.add(child);
  child.once('exit', () => running.delete(child));
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 30_000);
    const onExit = (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${output}`));
    };
    child.once('exit', onExit);
    child.stderr.on('data', (chunk) => {
      // Keep the tail only: an instance under faults logs a line per store trouble.
      output = (output + chunk).slice(-20_000);
      const match = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve({ name, url: match[1], port: Number(match[2]), child, log: () => output });
      }
    });
  });
}

/**
 * Writes a scenario's history, one JSON record a line, to `<name>-<pid>.jsonl` in the temporary
 * folder, so that a violation can be read in full afterwards; returns the file's path.
 */
export function saveHistory(name, history) {
  const file = join(tmpdir(), `${name}-${process.pid}.jsonl`);
  writeFileSync(file, history.map((record) => JSON.stringify(record)).join('\n'));
  return file;
}

/**
 * Runs one scenario and returns its record, its violations and its figures.
 *
 * @param {object} options
 * @param {string} options.storeUrl what the instances use as CURFEW_STORE
 * @param {{ name: string, inject?: (ctx: object) => Promise<void>, clear?: (ctx: object) => Promise<void>, duration?: number }} [options.fault]
 * @param {object} [options.context] handed to the fault (the store's handle, the proxy)
 * @param {number} [options.seconds] how long the mix runs
 * @param {number} [options.rate] calls started per second
 * @param {number} [options.instances]
 * @param {string} [options.broken] a mode of broken-store.js, for the harness's own test
 * @param {(ctx: { instances: Array<{ name: string, url: string }>, key: string, at: number }) => Promise<void>} [options.sample]
 *   called once a second while the mix runs (the soak reads each instance's /metrics with it)
 * @param {boolean} [options.deferCheck] return `check()` instead of checking: the check is
 *   synchronous (about a second for 80,000 calls), and while it runs no other scenario in this
 *   process hears its answers, so scenarios run side by side check after all have finished
 */
export async function runScenario({
  storeUrl,
  fault = { name: 'none' },
  context = {},
  seconds = 15,
  rate = 120,
  instances: count = 2,
  broken,
  sample,
  deferCheck = false,
}) {
  const key = `cfk_${randomBytes(32).toString('base64url')}`;
  const history = [];
  const tokens = new Map(); // name -> token, in memory only
  const live = []; // { name, user, session } of tokens not yet ended by this harness
  let counter = 0;
  const started = performance.now();
  const now = () => performance.now() - started;

  const instances = [];
  for (let i = 0; i < count; i += 1) {
    instances.push(await startInstance({ name: `i${i + 1}`, storeUrl, key, broken }));
  }
  const balancer = await startBalancer(instances);
  const timeline = { injectedAt: null, clearedAt: null };
  const ctx = {
    ...context,
    instances,
    /** SIGKILLs an instance; its calls without an answer become uncertain. */
    kill(name) {
      const instance = instances.find((i) => i.name === name);
      history.push({ event: 'died', instance: name, at: now() });
      instance.child.kill('SIGKILL');
    },
    async restart(name) {
      const index = instances.findIndex((i) => i.name === name);
      const old = instances[index];
      instances[index] = await startInstance({ name, storeUrl, key, port: old.port, broken });
    },
    signal(name, signal) {
      instances.find((i) => i.name === name).child.kill(signal);
    },
  };

  /** One call through the balancer, recorded. `token` is a name; the request carries the real one. */
  const send = async (op, { method = 'POST', path, body, token, user, session }) => {
    const record = {
      id: `c${++counter}`,
      instance: null,
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
      const response = await fetch(`${balancer.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          'x-chaos-call': record.id,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(BOUND * 2),
      });
      const text = await response.text();
      record.end = now();
      record.status = response.status;
      record.instance = response.headers.get('x-chaos-instance');
      const retryAfter = response.headers.get('retry-after');
      if (retryAfter !== null) record.headers['retry-after'] = retryAfter;
      let answer = null;
      try {
        answer = JSON.parse(text);
      } catch {}
      // What the checker needs of an answer; a new token becomes a name.
      if (typeof answer?.token === 'string') {
        const name = `t${tokens.size + 1}`;
        tokens.set(name, answer.token);
        answer = { ...answer, token: undefined, newToken: name };
      }
      record.answer = answer;
    } catch {
      // No answer: the call may or may not have happened.
    }
    return record;
  };

  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const users = Array.from({ length: 20 }, (_, i) => `user-${i}`);

  /** One operation of the mix. */
  const operate = async () => {
    const roll = Math.random();
    const target = live.length > 0 ? pick(live) : null;
    if (roll < 0.15 || target === null) {
      const user = pick(users);
      const record = await send('create', { path: '/v1/sessions', body: { userId: user }, user });
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
      await send('validate', {
        path: '/v1/sessions/validate',
        body: { token, touch: Math.random() < 0.5 },
        ...common,
      });
    } else if (roll < 0.62) {
      await send('touch', { path: '/v1/sessions/touch', body: { token }, ...common });
    } else if (roll < 0.72) {
      retire();
      await send('revoke', { path: '/v1/sessions/revoke', body: { token }, ...common });
    } else if (roll < 0.8) {
      retire();
      const record = await send('rotate', {
        path: '/v1/sessions/rotate',
        body: { token },
        ...common,
      });
      if (record.answer?.newToken) live.push({ name: record.answer.newToken, user, session });
    } else if (roll < 0.86) {
      retire();
      const record = await send('reauthenticate', {
        path: '/v1/sessions/reauthenticate',
        body: { token, aal: 2 },
        ...common,
      });
      if (record.answer?.newToken) live.push({ name: record.answer.newToken, user, session });
    } else if (roll < 0.88) {
      for (const entry of live.filter((other) => other.user === user)) {
        live.splice(live.indexOf(entry), 1);
      }
      await send('revoke-all', { path: `/v1/users/${user}/sessions/revoke`, body: {}, user });
    } else if (roll < 0.97) {
      await send('list', { method: 'GET', path: `/v1/users/${user}/sessions`, user });
    } else {
      await send('sweep', { path: '/v1/sweep', body: {} });
    }
    // Now and then an ended token is tried again: it must stay ended.
    if (Math.random() < 0.05) {
      const ended = pick([...tokens.keys()]);
      if (!live.some((entry) => entry.name === ended)) {
        await send('validate', {
          path: '/v1/sessions/validate',
          body: { token: tokens.get(ended), touch: true },
          token: ended,
        });
      }
    }
  };

  // The fault's schedule: in at 30% of the run, out after its duration (3 s unless it says).
  const injectAt = seconds * 300;
  const faultDone = (async () => {
    if (fault.inject === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, injectAt - now()));
    timeline.injectedAt = now();
    await fault.inject(ctx);
    await new Promise((resolve) => setTimeout(resolve, fault.duration ?? 3_000));
    await fault.clear?.(ctx);
    timeline.clearedAt = now();
  })();

  let sampling = sample !== undefined;
  const sampled = (async () => {
    while (sampling) {
      const due = performance.now() + 1_000;
      await sample({ instances, key, at: now() });
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
    }
  })();

  let failure;
  try {
    // A fixed rate, open loop: calls start on schedule whether or not earlier ones answered.
    const pending = new Set();
    const total = seconds * rate;
    for (let i = 0; i < total; i += 1) {
      const wait = (i / rate) * 1000 - now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      const call = operate().finally(() => pending.delete(call));
      pending.add(call);
    }
    await Promise.all(pending);
    sampling = false;
    await sampled;
    await faultDone;
    // The audit: every token once more, without touching. A session acknowledged and never ended
    // must be valid; one ended must say why.
    const names = [...tokens.keys()];
    for (let i = 0; i < names.length; i += 16) {
      await Promise.all(
        names.slice(i, i + 16).map((name) =>
          send('validate', {
            path: '/v1/sessions/validate',
            body: { token: tokens.get(name), touch: false },
            token: name,
          }),
        ),
      );
    }
  } catch (error) {
    failure = error;
  } finally {
    sampling = false;
    await balancer.close();
    await Promise.all(
      instances.map(
        (instance) =>
          new Promise((resolve) => {
            if (instance.child.exitCode !== null || instance.child.signalCode !== null) {
              resolve();
              return;
            }
            instance.child.once('exit', resolve);
            instance.child.kill('SIGCONT');
            instance.child.kill('SIGTERM');
            setTimeout(() => instance.child.kill('SIGKILL'), 10_000).unref();
          }),
      ),
    );
  }
  if (failure) throw failure;
  // Calls that got no answer still have their instance: the balancer logged where it sent them.
  for (const record of history) {
    if (record.op !== undefined && record.instance === null) {
      record.instance = balancer.routes.get(record.id) ?? null;
    }
  }
  const check = () => {
    const violations = checkHistory(history, { bound: BOUND });
    return { history, violations, figures: figuresOf(history, violations, timeline) };
  };
  return deferCheck ? { history, check } : check();
}

/** What the report shows of one scenario. */
function figuresOf(history, violations, timeline) {
  const calls = history.filter((record) => record.op !== undefined);
  const answered = calls.filter((record) => record.end !== null);
  const failed = (record) => record.end === null || record.status >= 500;
  let recoveryMs = null;
  if (timeline.clearedAt !== null) {
    // From the fault's end to the end of the last call that failed (no answer or a 5xx) after it
    // began; 0 when nothing failed after the fault cleared.
    const lastFailure = Math.max(
      0,
      ...calls
        .filter((record) => record.start >= timeline.injectedAt && failed(record))
        .map((record) => record.end ?? record.start),
    );
    recoveryMs = Math.max(0, Math.round(lastFailure - timeline.clearedAt));
  }
  const byRule = countByRule(violations);
  return {
    calls: calls.length,
    answered: answered.length,
    unanswered: calls.length - answered.length,
    refused503: answered.filter((record) => record.status === 503).length,
    other5xx: answered.filter((record) => record.status >= 500 && record.status !== 503).length,
    created: calls.filter((record) => record.op === 'create' && record.status === 201).length,
    violations: violations.length,
    byRule,
    longestMs: Math.round(Math.max(0, ...answered.map((record) => record.end - record.start))),
    recoveryMs,
    faultMs:
      timeline.injectedAt === null ? null : Math.round(timeline.clearedAt - timeline.injectedAt),
  };
}
