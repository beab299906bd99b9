// The service when its store goes away and comes back, each engine on a private server this file
// starts itself, never a shared one: a redis-server on a spare port whose append-only file is
// synced before every reply, a PostgreSQL cluster made with initdb, a MariaDB made with
// mariadb-install-db. Under a bounded HTTP load that creates, validates and revokes sessions, the
// store is killed (or crashed, or shut down), and then frozen with SIGSTOP so that connections
// stay open and nothing answers. Meanwhile every answer must be a 503 STORE_UNAVAILABLE with
// Retry-After, within the store timeout plus a second: never a 500, never a hang; and /readyz
// must say 503. Started again on the same port and data, the store must be used again by the same
// service, not restarted, by itself; and at the end every session the service acknowledged with a
// 2xx must still be there, and no session whose revoke it acknowledged may validate again.
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateMariadb } from '../../curfew/test/support/private-mariadb.js';
import {
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from '../../curfew/test/support/private-postgres.js';
import { type PrivateRedis, startPrivateRedis } from '../../curfew/test/support/redis-server.js';
import { serviceAvailable } from '../../curfew/test/support/services.js';
import { loadConfig } from '../src/config.js';
import { type RunningServer, startServer } from '../src/serve.js';

const KEY = 'fault-admin-key-0123456789abcdefghijklmn';
const STORE_TIMEOUT_MS = 1_000;
/** No request may take longer than this, store up, down or restarting. */
const ANSWER_BOUND_MS = STORE_TIMEOUT_MS + 1_000;
const WORKERS = 8;
/** The load stops at whichever comes first. */
const MAX_REQUESTS = 50_000;
const MAX_LOAD_MS = 40_000;
/** Waits for a state (the store seen down, the service ready again) give up after this. */
const WAIT_BOUND_MS = 15_000;

/** One way to take the store away and bring it back, on the same port and data. */
interface Outage {
  what: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

type Op = 'create' | 'validate' | 'revoke';
// `down`: the store is stopped; `restarting`: being started, may already answer; `up`: running.
type Phase = 'up' | 'down' | 'restarting';

interface Answer {
  op: Op;
  phase: Phase;
  /** The phase when the answer arrived. */
  endPhase: Phase;
  /** How many outages were over when the request began. */
  round: number;
  status: number;
  ms: number;
  retryAfter: string | null;
  contentType: string | null;
  code: unknown;
}

interface Reply {
  status: number;
  ms: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: bodies are checked by the assertions
  body: Record<string, any>;
}

async function call(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const started = performance.now();
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    // A hang is reported as a failure of its own instead of stalling the test.
    signal: AbortSignal.timeout(ANSWER_BOUND_MS + 5_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    ms: performance.now() - started,
    headers: response.headers,
    body: text === '' ? {} : JSON.parse(text),
  };
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<number> {
  const since = performance.now();
  while (!(await check())) {
    if (performance.now() - since > WAIT_BOUND_MS) throw new Error(`not within bound: ${what}`);
    await sleep(20);
  }
  return performance.now() - since;
}

async function readyStatus(base: string): Promise<number> {
  return (await call(base, 'GET', '/readyz')).status;
}

async function startService(storeUrl: string): Promise<RunningServer> {
  const config = loadConfig({
    CURFEW_HOST: '127.0.0.1',
    CURFEW_PORT: '0',
    CURFEW_STORE: storeUrl,
    CURFEW_STORE_TIMEOUT: `${STORE_TIMEOUT_MS}ms`,
    CURFEW_SWEEP_INTERVAL: '0',
    CURFEW_API_KEYS: `admin:${KEY}:*`,
    // A file that does not exist: only the key above, whatever lies in ./data.
    CURFEW_API_KEYS_FILE: join(tmpdir(), `curfew-no-keys-${process.pid}`),
    // Every store failure is logged at error level; the assertions say what went wrong.
    CURFEW_LOG_LEVEL: 'fatal',
  });
  return startServer(config, { write: () => {} });
}

/**
 * Runs the whole scenario against one service on `storeUrl`: a bounded load throughout; each
 * outage in turn (stop, 503s, start, recovery without touching the service); then the check that
 * nothing acknowledged was lost or undone.
 */
async function surviveOutages(name: string, storeUrl: string, outages: Outage[]): Promise<void> {
  const service = await startService(storeUrl);
  const base = service.url;
  try {
    const created = new Map<string, string>(); // token → session id, acknowledged with a 201
    const revoked = new Set<string>(); // tokens whose revoke was acknowledged with revoked: true
    const revokeTried = new Set<string>(); // every token a revoke was sent for
    const answers: Answer[] = [];
    const problems: string[] = [];
    let phase: Phase = 'up';
    let restarts = 0;
    let stopping = false;
    let sent = 0;

    for (let i = 0; i < 30; i += 1) {
      const reply = await call(base, 'POST', '/v1/sessions', { userId: `seed-${i % 6}` });
      expect(reply.status).toBe(201);
      created.set(reply.body.token, reply.body.session.id);
    }

    const loadStarted = performance.now();
    const worker = async (w: number) => {
      for (let n = 0; ; n += 1) {
        if (stopping || sent >= MAX_REQUESTS || performance.now() - loadStarted > MAX_LOAD_MS) {
          return;
        }
        sent += 1;
        const tokens = [...created.keys()];
        const open = tokens.filter((token) => !revokeTried.has(token));
        const slot = n % 10;
        // Three creates, six validations and one revoke in ten; revokes leave a pool to validate.
        const op: Op = slot < 3 ? 'create' : slot === 9 && open.length > 20 ? 'revoke' : 'validate';
        const token =
          op === 'revoke'
            ? open[(n * 31 + w * 7) % open.length]!
            : tokens[(n * 17 + w * 13) % tokens.length]!;
        const revokedBefore = revoked.has(token);
        if (op === 'revoke') revokeTried.add(token);
        const startPhase = phase;
        const round = restarts;
        let reply: Reply;
        try {
          reply =
            op === 'create'
              ? await call(base, 'POST', '/v1/sessions', { userId: `load-${w}` })
              : op === 'validate'
                ? await call(base, 'POST', '/v1/sessions/validate', { token })
                : await call(base, 'POST', '/v1/sessions/revoke', { token });
        } catch (error) {
          problems.push(`${op} got no answer: ${String(error)}`);
          continue;
        }
        answers.push({
          op,
          phase: startPhase,
          endPhase: phase,
          round,
          status: reply.status,
          ms: reply.ms,
          retryAfter: reply.headers.get('retry-after'),
          contentType: reply.headers.get('content-type'),
          code: reply.body.code,
        });
        if (reply.status === 201 && op === 'create') {
          created.set(reply.body.token, reply.body.session.id);
        } else if (reply.status === 200 && op === 'revoke') {
          // Each token is revoked at most once: `false` means an acknowledged session was gone.
          if (reply.body.revoked === true) revoked.add(token);
          else problems.push('the revoke of an acknowledged session found no valid session');
        } else if (reply.status === 200 && op === 'validate') {
          if (reply.body.valid && revokedBefore) problems.push('a revoked session validated');
          if (!reply.body.valid && !revokeTried.has(token)) {
            problems.push(`an acknowledged session did not validate: ${reply.body.reason}`);
          }
        }
        await sleep(5); // a bounded load: at most 200 requests a second per worker
      }
    };
    const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));

    const timings: string[] = [];
    try {
      const servedIn = (round: number) =>
        answers.filter((a) => a.phase === 'up' && a.round === round && a.status < 300);
      await waitFor('load served before the outage', () => servedIn(0).length >= 100);

      for (const outage of outages) {
        await outage.stop();
        const downAt = performance.now();
        phase = 'down';
        const notReady = await waitFor(
          `/readyz says 503 (${outage.what})`,
          async () => (await readyStatus(base)) === 503,
        );
        // Down for longer than the store timeout, so that calls that wait on it are seen too.
        await waitFor(
          `answers while the store is down (${outage.what})`,
          () =>
            performance.now() - downAt > STORE_TIMEOUT_MS * 1.5 &&
            answers.filter(
              (a) => a.phase === 'down' && a.endPhase === 'down' && a.round === restarts,
            ).length >= 20,
        );

        phase = 'restarting';
        await outage.start();
        phase = 'up';
        restarts += 1;
        const ready = await waitFor(
          `/readyz says 200 (${outage.what})`,
          async () => (await readyStatus(base)) === 200,
        );
        await waitFor(`every operation served again (${outage.what})`, () => {
          const served = servedIn(restarts);
          return (
            served.length >= 100 &&
            (['create', 'validate', 'revoke'] as const).every((op) =>
              served.some((a) => a.op === op),
            )
          );
        });
        timings.push(
          `${outage.what}: /readyz 503 after ${Math.round(notReady)} ms, ` +
            `200 ${Math.round(ready)} ms after the start`,
        );
      }
    } finally {
      stopping = true;
      await load;
    }

    const down = answers.filter((a) => a.phase === 'down' && a.endPhase === 'down');
    const unavailable = answers.filter((a) => a.status === 503);
    const slowest = Math.max(...answers.map((a) => a.ms));
    console.info(
      `${name}: ${answers.length} answers (${unavailable.length} 503, ${down.length} of them ` +
        `while down), slowest ${Math.round(slowest)} ms; ${timings.join('; ')}`,
    );

    expect(problems).toEqual([]);
    // Only the answers the API documents for these calls: no 500, nothing else.
    const statuses = new Set(answers.map((a) => a.status));
    expect([...statuses].filter((status) => ![200, 201, 503].includes(status))).toEqual([]);
    for (const answer of unavailable) {
      expect(answer.code).toBe('STORE_UNAVAILABLE');
      expect(answer.retryAfter).toMatch(/^[1-9]\d*$/);
      expect(answer.contentType).toMatch(/^application\/problem\+json/);
    }
    // While the store was down nothing was acknowledged, and every answer came within the bound.
    for (let round = 0; round < outages.length; round += 1) {
      expect(down.filter((a) => a.round === round).length).toBeGreaterThan(0);
    }
    expect(down.filter((a) => a.status !== 503)).toEqual([]);
    expect(slowest).toBeLessThan(ANSWER_BOUND_MS);
    expect(revoked.size).toBeGreaterThan(0);

    // Every acknowledged session is still there; no acknowledged revoke was undone. A revoke that
    // got a 503 may or may not have reached the store: its session may be either.
    const tokens = [...created.keys()];
    let checkedLive = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async () => {
        for (let token = tokens.pop(); token !== undefined; token = tokens.pop()) {
          const id = created.get(token)!;
          const stored = await call(base, 'GET', `/v1/sessions/${id}`);
          expect(stored.status, `acknowledged session ${id}`).toBe(200);
          const check = await call(base, 'POST', '/v1/sessions/validate', { token, touch: false });
          expect(check.status).toBe(200);
          if (revoked.has(token)) {
            expect(check.body.valid, `revoked session ${id}`).toBe(false);
            expect(stored.body.endReason, `revoked session ${id}`).toBe('logout');
          } else if (!revokeTried.has(token)) {
            expect(check.body.valid, `acknowledged session ${id}`).toBe(true);
            checkedLive += 1;
          }
        }
      }),
    );
    expect(checkedLive).toBeGreaterThanOrEqual(20);
  } finally {
    await service.close();
  }
}

/** Processes frozen with SIGSTOP by a `paused` outage, to thaw whatever happens. */
const paused: number[] = [];

function resume(): void {
  for (const pid of paused.splice(0)) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // Already gone.
    }
  }
}

/** The PostgreSQL postmaster's process id, from the postmaster.pid file in its data directory. */
async function postmasterPid(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ data_directory: string }>('SHOW data_directory');
    const text = await readFile(join(rows[0]!.data_directory, 'postmaster.pid'), 'utf8');
    return Number(text.split('\n')[0]);
  } finally {
    await client.end();
  }
}

/** The processes whose parent is `parent`, read from /proc (no procps needed). */
async function childPids(parent: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === parent) children.push(Number(entry));
  }
  return children;
}

/** The mariadbd process id, from its pid file. */
async function mariadbPid(port: number): Promise<number> {
  const connection = await createConnection({ host: '127.0.0.1', port, user: 'root' });
  try {
    const [rows] = await connection.query('SELECT @@pid_file AS file');
    const file = (rows as Array<{ file: string }>)[0]!.file;
    return Number((await readFile(file, 'utf8')).trim());
  } finally {
    await connection.end();
  }
}

const redis: { server?: PrivateRedis } = {};
const redisAvailable = await serviceAvailable(
  'redis-server (private, for fault tests)',
  async () => {
    // appendfsync always: a write is on disk before Redis replies, so a kill loses nothing that
    // was acknowledged. Without it, losing recent writes on a restart is Redis's configured
    // behaviour, not something the service could prevent.
    redis.server = await startPrivateRedis(['--appendonly', 'yes', '--appendfsync', 'always'], {
      name: 'service-fault',
    });
  },
);

/** The process id of the redis-server on `port`, as it reports it. */
async function redisPid(port: number): Promise<number> {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
  try {
    await client.connect();
    const info = await client.info('server');
    return Number(/process_id:(\d+)/.exec(info)![1]);
  } finally {
    client.disconnect();
  }
}

describe.skipIf(!redisAvailable)('the service when Redis is killed or stops answering', () => {
  afterAll(async () => {
    resume();
    await redis.server?.stop();
  });

  it('answers 503 meanwhile, recovers by itself, loses nothing acknowledged', {
    timeout: 60_000,
  }, async () => {
    const server = redis.server!;
    await surviveOutages('Redis', `redis://127.0.0.1:${server.port}`, [
      { what: 'killed', stop: () => server.kill('SIGKILL'), start: () => server.start() },
      {
        // A server that accepts connections and never answers: only the timeout ends a call.
        what: 'paused',
        stop: async () => {
          const pid = await redisPid(server.port);
          paused.push(pid);
          process.kill(pid, 'SIGSTOP');
        },
        start: async () => resume(),
      },
    ]);
  });
});

describe.skipIf(!privatePostgresAvailable())(
  'the service when PostgreSQL crashes, shuts down or stops answering',
  () => {
    let cluster: PrivatePostgres | undefined;

    beforeAll(async () => {
      cluster = await startPrivatePostgres();
    }, 60_000);

    afterAll(async () => {
      resume();
      await cluster?.destroy();
    }, 60_000);

    it('answers 503 meanwhile, recovers by itself, loses nothing acknowledged', {
      timeout: 60_000,
    }, async () => {
      const postgres = cluster!;
      const url = `postgres://postgres@127.0.0.1:${postgres.port}/postgres`;
      await surviveOutages('PostgreSQL', url, [
        { what: 'crashed', stop: () => postgres.stop('immediate'), start: () => postgres.start() },
        { what: 'shut down', stop: () => postgres.stop('fast'), start: () => postgres.start() },
        {
          // Every process of the cluster frozen: connections open and never answer.
          what: 'paused',
          stop: async () => {
            const postmaster = await postmasterPid(url);
            paused.push(postmaster);
            process.kill(postmaster, 'SIGSTOP');
            // Stopped, the postmaster forks no more backends: its children are all there is.
            for (const child of await childPids(postmaster)) {
              paused.push(child);
              process.kill(child, 'SIGSTOP');
            }
          },
          start: async () => resume(),
        },
      ]);
    });
  },
);

const mariadb: { server?: PrivateMariadb } = {};
const mariadbAvailable = await serviceAvailable(
  'a private mariadbd (mariadb-install-db + mariadbd, for the fault test)',
  async () => {
    mariadb.server = await PrivateMariadb.create();
  },
  60_000,
);

describe.skipIf(!mariadbAvailable)('the service when MariaDB is killed or stops answering', () => {
  afterAll(async () => {
    resume();
    await mariadb.server?.destroy();
  });

  it('answers 503 meanwhile, recovers by itself, loses nothing acknowledged', {
    timeout: 60_000,
  }, async () => {
    const server = mariadb.server!;
    const setup = await createConnection({ host: '127.0.0.1', port: server.port, user: 'root' });
    await setup.query('CREATE DATABASE curfew');
    await setup.end();
    const url = `mysql://root@127.0.0.1:${server.port}/curfew`;
    await surviveOutages('MariaDB', url, [
      { what: 'killed', stop: () => server.stop('SIGKILL'), start: () => server.start() },
      {
        // Frozen: connections open and never answer.
        what: 'paused',
        stop: async () => {
          const pid = await mariadbPid(server.port);
          paused.push(pid);
          process.kill(pid, 'SIGSTOP');
        },
        start: async () => resume(),
      },
    ]);
  });
});
