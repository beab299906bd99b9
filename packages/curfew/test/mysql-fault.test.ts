// What MysqlStore does when its server goes away: on a private mariadbd that this file starts,
// stops (cleanly, then by a crash) and starts again on the same data directory, under a steady
// load through SessionManager. Every failure must be a quick STORE_UNAVAILABLE, never a hang, a
// crash or another error; the same pool, store and manager must recover by themselves; and no
// acknowledged session may be lost, nor any acknowledged revoke undone.
import { createPool } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { CurfewError, SessionManager } from '../src/index.js';
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
