// What MysqlStore does when its server goes away: on a private mariadbd that this file starts,
// stops (cleanly, then by a crash) and starts again on the same data directory, under a steady
// load through SessionManager. Every failure must be a quick STORE_UNAVAILABLE, never a hang, a
// crash or another error; the same pool, store and manager must recover by themselves; and no
// acknowledged session may be lost, nor any acknowledged revoke undone. Then how the store sorts
// errors provoked on that server: "could not reach it, or it did not answer in time" apart from
// "it answered with something unexpected".
import { createServer } from 'node:net';
import { createConnection, createPool } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CurfewError,
  generateSessionToken,
  hashSessionToken,
  SessionManager,
  type StoredSession,
} from '../src/index.js';
import { MysqlStore, migrateMysql } from '../src/stores/mysql/index.js';
import { PrivateMariadb } from './support/private-mariadb.js';
import { serviceAvailable } from './support/services.js';

const STORE_TIMEOUT = 1_000;
// The store's bound, plus room for a busy machine: no call may take longer, up or down.
const LONGEST_CALL = STORE_TIMEOUT + 1_500;

let server: PrivateMariadb | undefined;
const available = await serviceAvailable(
  'a private mariadbd (mariadb-install-db + mariadbd, for the fault test)',
  async () => {
    server = await PrivateMariadb.create();
  },
  60_000,
);

afterAll(async () => {
  await server?.destroy();
});

interface Load {
  ok: number;
  failures: number;
  slowest: number;
  problems: string[];
}

const suite = available ? describe : describe.skip;

suite('MysqlStore when the server stops and starts again', () => {
  it('fails fast with STORE_UNAVAILABLE, recovers by itself, and loses nothing acknowledged', {
    timeout: 120_000,
  }, async () => {
    const mariadb = server!;
    const setup = await createPool({ host: '127.0.0.1', port: mariadb.port, user: 'root' });
    await setup.query('CREATE DATABASE curfew');
    await setup.end();
    const pool = createPool({
      host: '127.0.0.1',
      port: mariadb.port,
      user: 'root',
      database: 'curfew',
      connectionLimit: 8,
      connectTimeout: 1_000,
    });
    try {
      await migrateMysql(pool);
      const sessions = new SessionManager({
        store: new MysqlStore(pool, { timeout: STORE_TIMEOUT }),
      });

      const created: Array<{ token: string; id: string }> = [];
      const revoked = new Set<string>(); // acknowledged
      const revokeTried = new Set<string>(); // acknowledged or not
      const load: Load = { ok: 0, failures: 0, slowest: 0, problems: [] };
      let running = true;

      const worker = async (seed: number) => {
        for (let i = 0; running; i += 1) {
          const pick = (seed + i) % 5;
          const started = performance.now();
          const known = created[(seed * 7919 + i * 104_729) % Math.max(created.length, 1)];
          const revokedBefore = known !== undefined && revoked.has(known.token);
          try {
            if (pick < 2 || known === undefined) {
              const issued = await sessions.create({ userId: `load-${seed}` });
              created.push({ token: issued.token, id: issued.session.id });
            } else if (pick < 4 || revokeTried.has(known.token)) {
              const result = await sessions.validate(known.token);
              if (result.valid && revokedBefore) {
                load.problems.push('a revoked session validated');
              }
            } else {
              revokeTried.add(known.token);
              if (await sessions.revoke(known.token)) revoked.add(known.token);
            }
            load.ok += 1;
          } catch (error) {
            load.failures += 1;
            if (!(error instanceof CurfewError) || error.code !== 'STORE_UNAVAILABLE') {
              load.problems.push(`unexpected error: ${String(error)}`);
            }
            // A down server refuses at once: pause so the load stays bounded.
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          load.slowest = Math.max(load.slowest, performance.now() - started);
        }
      };
      const workers = Array.from({ length: 8 }, (_, seed) => worker(seed));

      const waitFor = async (what: string, condition: () => boolean, ms: number) => {
        const deadline = Date.now() + ms;
        while (!condition()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };

      try {
        await waitFor('a working load', () => load.ok >= 300, 20_000);
        expect(load.failures).toBe(0);

        for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
          await mariadb.stop(signal);
          const failuresBefore = load.failures;
          await waitFor(
            `failures after ${signal}`,
            () => load.failures >= failuresBefore + 50,
            15_000,
          );
          // While it is down, nothing succeeds.
          const okWhileDown = load.ok;
          await new Promise((resolve) => setTimeout(resolve, 500));
          expect(load.ok).toBe(okWhileDown);

          await mariadb.start();
          const okBefore = load.ok;
          await waitFor(`recovery after ${signal}`, () => load.ok >= okBefore + 300, 20_000);
        }
      } finally {
        running = false;
        await Promise.all(workers);
      }

      expect(load.problems).toEqual([]);
      expect(load.slowest).toBeLessThan(LONGEST_CALL);

      // Every session acknowledged as created is there; every acknowledged revoke held; every
      // session nobody tried to revoke is still valid.
      for (const { token, id } of created) {
        const view = await sessions.getSession(id);
        expect(view, `session ${id}`).not.toBeNull();
        const result = await sessions.validate(token, { touch: false });
        if (revoked.has(token)) expect(result.valid).toBe(false);
        else if (!revokeTried.has(token)) expect(result.valid).toBe(true);
      }
      expect(created.length).toBeGreaterThan(100);
      expect(revoked.size).toBeGreaterThan(10);
    } finally {
      await pool.end();
    }
  });
});

suite('MysqlStore.isUnavailable', () => {
  it('tells outages and timeouts from answers, on errors provoked on a real server', {
    timeout: 60_000,
  }, async () => {
    const mariadb = server!;
    const base = { host: '127.0.0.1', port: mariadb.port, user: 'root', connectTimeout: 2_000 };
    const admin = await createConnection(base);
    await admin.query('CREATE DATABASE curfew_errors');
    await admin.query('CREATE DATABASE curfew_unmigrated');
    const pool = createPool({ ...base, database: 'curfew_errors', connectionLimit: 4 });
    const pools = [pool];
    const poolOn = (options: Record<string, unknown>) => {
      const made = createPool({ ...base, ...options });
      pools.push(made);
      return made;
    };
    const connect = () => createConnection({ ...base, database: 'curfew_errors' });
    await migrateMysql(pool);
    const store = new MysqlStore(pool);
    const session = (): StoredSession => ({
      id: crypto.randomUUID(),
      tokenHash: hashSessionToken(generateSessionToken()),
      userId: 'u',
      tenantId: null,
      appType: 'web',
      ipAddress: null,
      userAgent: null,
      createdAt: 0,
      lastActivityAt: 0,
      absoluteExpiresAt: 3_600_000,
      idleTimeout: 1_800_000,
      aal: 2,
      methods: [],
      authenticatedAt: 0,
      endedAt: null,
      endReason: null,
    });
    const failure = async (run: () => Promise<unknown>): Promise<unknown> => {
      try {
        await run();
      } catch (error) {
        return error;
      }
      throw new Error('expected it to fail');
    };
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    /**
     * Each provoked error, what it must be (its code, errno or message: so that a provocation
     * that went wrong some other way cannot pass unnoticed), and whether it means "unavailable".
     */
    type Is = string | number | RegExp | Array<string | number>;
    const seen: Array<{ what: string; is: Is; error: unknown; unavailable: boolean }> = [];
    const provoke = async (
      what: string,
      is: Is,
      unavailable: boolean,
      run: () => Promise<unknown>,
    ) => {
      seen.push({ what, is, error: await failure(run), unavailable });
    };

    // Answers: the server was there and said no. A bug or a misconfiguration, not an outage.
    const taken = session();
    await store.insert(taken);
    await provoke('duplicate token hash', 'ER_DUP_ENTRY', false, () =>
      store.insert({ ...session(), tokenHash: taken.tokenHash }),
    );
    await provoke('not a lowercase hex hash: a CHECK constraint', 4025, false, () =>
      store.insert({ ...session(), tokenHash: 'F'.repeat(64) }),
    );
    await provoke('user id too long', 'ER_DATA_TOO_LONG', false, () =>
      store.insert({ ...session(), userId: 'x'.repeat(300) }),
    );
    await provoke('SQL syntax', 'ER_PARSE_ERROR', false, () => pool.query('SELEC 1'));
    const unmigrated = new MysqlStore(poolOn({ database: 'curfew_unmigrated' }));
    await provoke('table missing', 'ER_NO_SUCH_TABLE', false, () => unmigrated.insert(session()));
    await provoke('no such database', 'ER_BAD_DB_ERROR', false, () =>
      new MysqlStore(poolOn({ database: 'curfew_nowhere' })).ping(),
    );
    await provoke('access denied', 'ER_ACCESS_DENIED_ERROR', false, () =>
      new MysqlStore(poolOn({ user: 'curfew_nobody', password: 'wrong' })).ping(),
    );

    // Not now: locks held too long, statements stopped, connections gone, the server full.
    const held = session();
    await store.insert(held);
    const holder = await connect();
    await holder.query('START TRANSACTION');
    await holder.query('SELECT 1 FROM curfew_sessions WHERE id = ? FOR UPDATE', [held.id]);
    await provoke("the store's own time bound", 'CURFEW_STORE_TIMEOUT', true, () =>
      new MysqlStore(pool, { timeout: 300 }).endSession(
        { id: held.id },
        { now: 1, reason: 'logout' },
      ),
    );
    const waiter = await connect();
    await waiter.query('SET SESSION innodb_lock_wait_timeout = 1');
    await provoke('lock wait timeout', 'ER_LOCK_WAIT_TIMEOUT', true, () =>
      waiter.query('UPDATE curfew_sessions SET last_activity_at = 1 WHERE id = ?', [held.id]),
    );
    await holder.query('ROLLBACK');
    // Two transactions that each hold the row the other wants.
    const [first, second] = [session(), session()];
    await store.insert(first);
    await store.insert(second);
    const crossing = await connect();
    for (const [on, id] of [
      [holder, first.id],
      [crossing, second.id],
    ] as const) {
      await on.query('START TRANSACTION');
      await on.query('SELECT 1 FROM curfew_sessions WHERE id = ? FOR UPDATE', [id]);
    }
    const blocked = holder
      .query('SELECT 1 FROM curfew_sessions WHERE id = ? FOR UPDATE', [second.id])
      .catch((error: unknown) => error);
    await pause(100);
    const victim = await crossing
      .query('SELECT 1 FROM curfew_sessions WHERE id = ? FOR UPDATE', [first.id])
      .then(
        () => blocked,
        (error: unknown) => error,
      );
    seen.push({ what: 'deadlock', is: 'ER_LOCK_DEADLOCK', error: victim, unavailable: true });
    await Promise.all([holder.query('ROLLBACK'), crossing.query('ROLLBACK')]);
    await provoke('past max_statement_time', 1969, true, () =>
      waiter.query('SET STATEMENT max_statement_time = 0.05 FOR SELECT SLEEP(2)'),
    );
    const [[{ id: waiterId }]] = (await waiter.query(
      'SELECT CONNECTION_ID() AS id',
    )) as unknown as [[{ id: number }]];
    /** Starts a long statement on `waiter` (its failure already awaited), then does `to` it. */
    const interrupt = async (what: string, is: Is, to: () => Promise<unknown>) => {
      const outcome = failure(() => waiter.query('SELECT SLEEP(5)'));
      await pause(200);
      await to();
      seen.push({ what, is, error: await outcome, unavailable: true });
    };
    await interrupt('query killed', 'ER_QUERY_INTERRUPTED', () =>
      admin.query(`KILL QUERY ${waiterId}`),
    );
    await interrupt('connection killed', 'PROTOCOL_CONNECTION_LOST', () =>
      admin.query(`KILL ${waiterId}`),
    );
    await provoke('a command on a dead connection', /closed state/, true, () =>
      waiter.query('SELECT 1'),
    );
    // Full: an account without the privilege to pass max_connections, with the server set to
    // what is open now (it takes no less than 10), then an account allowed one connection.
    await admin.query("CREATE USER 'curfew_app'@'%'");
    await admin.query("CREATE USER 'curfew_capped'@'%' WITH MAX_USER_CONNECTIONS 1");
    await admin.query("GRANT ALL ON curfew_errors.* TO 'curfew_app'@'%'");
    // Read-only, as a primary demoted in a failover is until clients find the new one.
    await admin.query('SET GLOBAL read_only = 1');
    try {
      await provoke('a read-only server', 'ER_OPTION_PREVENTS_STATEMENT', true, async () => {
        const app = await createConnection({ ...base, user: 'curfew_app' });
        try {
          await app.query('CREATE TABLE curfew_errors.read_only_probe (a INT)');
        } finally {
          await app.end();
        }
      });
    } finally {
      await admin.query('SET GLOBAL read_only = 0');
    }
    const [[{ open }]] = (await admin.query(
      "SELECT VARIABLE_VALUE AS open FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'THREADS_CONNECTED'",
    )) as unknown as [[{ open: string }]];
    await admin.query(`SET GLOBAL max_connections = ${Math.max(10, Number(open))}`);
    const extra: Array<Awaited<ReturnType<typeof connect>>> = [];
    try {
      await provoke('too many connections', 'ER_CON_COUNT_ERROR', true, async () => {
        for (let i = 0; i < 20; i += 1) {
          extra.push(await createConnection({ ...base, user: 'curfew_app' }));
        }
      });
    } finally {
      await admin.query('SET GLOBAL max_connections = 151');
      await Promise.all(extra.splice(0).map((connection) => connection.end()));
    }
    extra.push(await createConnection({ ...base, user: 'curfew_capped' }));
    await provoke('account past its connection limit', 'ER_USER_LIMIT_REACHED', true, () =>
      createConnection({ ...base, user: 'curfew_capped' }),
    );
    await Promise.all(extra.map((connection) => connection.end()));
    const queued = poolOn({ database: 'curfew_errors', connectionLimit: 1, queueLimit: 1 });
    const occupied = Promise.all([
      queued.query('SELECT SLEEP(0.3)'),
      new MysqlStore(queued).ping(),
    ]);
    await provoke('pool queue full', /^Queue limit reached/, true, () =>
      new MysqlStore(queued).ping(),
    );
    await occupied;
    const ended = poolOn({ database: 'curfew_errors' });
    await ended.end();
    await provoke('pool closed by the application', /^Pool is closed/, true, () =>
      new MysqlStore(ended).ping(),
    );
    // A server that accepts the connection but never says hello.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as { port: number };
      await provoke('no handshake within connectTimeout', 'ETIMEDOUT', true, () =>
        new MysqlStore(poolOn({ port, connectTimeout: 300 })).ping(),
      );
    } finally {
      silent.close();
    }
    // The server goes away: during a statement, then for good.
    const busy = await connect();
    const stopping = failure(() => busy.query('SELECT SLEEP(10)'));
    await pause(200);
    await mariadb.stop('SIGTERM');
    seen.push({
      what: 'server shut down during a statement',
      // The connection closed under it, or first "shutdown in progress" or "connection killed".
      is: ['PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 1927],
      error: await stopping,
      unavailable: true,
    });
    await provoke('server stopped', 'ECONNREFUSED', true, () => new MysqlStore(pool).ping());
    const manager = new SessionManager({ store: new MysqlStore(pool) });
    await expect(manager.create({ userId: 'u' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    await mariadb.start();
    await expect(
      new SessionManager({ store: unmigrated }).create({ userId: 'u' }),
    ).rejects.toMatchObject({
      code: 'STORE_ERROR',
    });

    // What no server here can be made to say: MySQL's own codes, a connection-class SQLSTATE,
    // an error wrapped by another, and the store's own consistency check.
    const mysqlOnly = (errno: number, sqlState: string) =>
      Object.assign(new Error(`errno ${errno}`), { errno, sqlState });
    const timeout = seen.find(({ is }) => is === 'CURFEW_STORE_TIMEOUT')!.error;
    seen.push(
      {
        what: 'MySQL max_execution_time',
        is: 3024,
        error: mysqlOnly(3024, 'HY000'),
        unavailable: true,
      },
      // MySQL's idle disconnect, but MariaDB's missing trigger: the number alone cannot say.
      { what: 'errno 4031', is: 4031, error: mysqlOnly(4031, 'HY000'), unavailable: false },
      { what: 'disk full', is: 1021, error: mysqlOnly(1021, 'HY000'), unavailable: true },
      { what: 'any SQLSTATE 08', is: 9999, error: mysqlOnly(9999, '08S01'), unavailable: true },
      {
        what: 'a time bound wrapped by someone',
        is: /^wrapped$/,
        error: new Error('wrapped', { cause: timeout }),
        unavailable: true,
      },
      {
        what: "the store's own consistency check",
        is: /^session rows changed/,
        error: new Error('session rows changed while this transaction held their locks'),
        unavailable: false,
      },
    );

    for (const made of pools) await made.end().catch(() => undefined);
    await admin.end().catch(() => undefined);
    const matches = (error: unknown, is: Is) => {
      const { code, errno, message } = error as {
        code?: unknown;
        errno?: unknown;
        message?: unknown;
      };
      if (is instanceof RegExp) return typeof message === 'string' && is.test(message);
      return [is].flat().some((expected) => code === expected || errno === expected);
    };
    expect(seen.filter(({ error, is }) => !matches(error, is))).toEqual([]);
    expect(
      seen.map(({ what, error }) => ({ what, unavailable: store.isUnavailable(error) })),
    ).toEqual(seen.map(({ what, unavailable }) => ({ what, unavailable })));
    expect(store.isUnavailable('timeout')).toBe(false);
    expect(store.isUnavailable(null)).toBe(false);
  });
});
