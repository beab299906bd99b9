// PostgresStore when its server goes away and comes back, on a private cluster this test makes
// with initdb (never the shared server): under a steady load through SessionManager, stop the
// server cleanly, then crash it; every failure must be STORE_UNAVAILABLE within a bounded time,
// the process must survive, the manager must recover by itself, and afterwards every session
// acknowledged as created must still be there and no acknowledged revoke may be undone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurfewError, SessionManager } from '../src/index.js';
import { PostgresStore } from '../src/stores/postgres/index.js';
import { openPool } from './support/postgres.js';
import {
  type PrivatePostgres,
  privatePostgresAvailable,
  startPrivatePostgres,
} from './support/private-postgres.js';

const WORKERS = 8;
/** Every operation must settle within this, server up or down. */
const OPERATION_BOUND_MS = 5_000;
/** After a restart, the manager must be serving again within this. */
const RECOVERY_BOUND_MS = 20_000;

// `restarting`: pg_ctl start is running, and the server may already answer.
type Phase = 'up' | 'down' | 'restarting';

describe.skipIf(!privatePostgresAvailable())('PostgresStore when the server fails', () => {
  let cluster: PrivatePostgres;

  beforeAll(async () => {
    cluster = await startPrivatePostgres();
  }, 120_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 120_000);

  it('answers STORE_UNAVAILABLE while down, recovers by itself, loses nothing acknowledged', {
    timeout: 120_000,
  }, async () => {
    // The settings the store's documentation asks for, tightened so the test stays short.
    const pool = openPool({
      port: cluster.port,
      database: 'postgres',
      max: 6,
      connectionTimeoutMillis: 1_000,
      query_timeout: 2_000,
      statement_timeout: 1_500,
    });
    const sessions = new SessionManager({ store: await PostgresStore.open(pool) });

    let phase: Phase = 'up';
    let stopping = false;
    const created = new Map<string, string>(); // token → session id, acknowledged
    const revoked = new Set<string>(); // revoke acknowledged with true
    const uncertain = new Set<string>(); // revoke failed: may or may not have happened
    const unexpected: string[] = [];
    const counts = {
      up: { ok: 0, unavailable: 0 },
      down: { ok: 0, unavailable: 0 },
      restarting: { ok: 0, unavailable: 0 },
    };
    let slowest = 0;

    const pick = (): string | undefined => {
      const tokens = [...created.keys()];
      return tokens[Math.floor(Math.random() * tokens.length)];
    };

    const worker = async (n: number) => {
      while (!stopping) {
        const startedIn = phase;
        const started = performance.now();
        const roll = Math.random();
        const token = pick();
        const action =
          token === undefined || roll < 0.3 ? 'create' : roll < 0.9 ? 'validate' : 'revoke';
        try {
          if (action === 'create') {
            const issued = await sessions.create({ userId: `user-${n}` });
            created.set(issued.token, issued.session.id);
          } else if (action === 'validate' && token !== undefined) {
            const wasRevoked = revoked.has(token);
            const result = await sessions.validate(token);
            if (wasRevoked && result.valid) unexpected.push('a revoked session validated');
          } else if (token !== undefined) {
            if (await sessions.revoke(token)) revoked.add(token);
          }
          counts[startedIn].ok += 1;
        } catch (error) {
          if (action === 'revoke' && token !== undefined) uncertain.add(token);
          if (error instanceof CurfewError && error.code === 'STORE_UNAVAILABLE') {
            counts[startedIn].unavailable += 1;
          } else {
            unexpected.push(`${action}: ${String(error)}`);
          }
        }
        slowest = Math.max(slowest, performance.now() - started);
        // A bounded load: each worker issues at most one operation every few milliseconds.
        await new Promise((resolve) => setTimeout(resolve, 3));
      }
    };

    const recovered = async () => {
      const since = performance.now();
      const before = counts.up.ok;
      while (counts.up.ok === before) {
        if (performance.now() - since > RECOVERY_BOUND_MS) throw new Error('no recovery');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return performance.now() - since;
    };
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    const load = Array.from({ length: WORKERS }, (_, n) => worker(n));
    const recoveries: number[] = [];
    await pause(1_000);
    for (const mode of ['fast', 'immediate'] as const) {
      await cluster.stop(mode);
      phase = 'down';
      await pause(1_500);
      phase = 'restarting';
      await cluster.start();
      phase = 'up';
      recoveries.push(await recovered());
      await pause(1_000);
    }
    stopping = true;
    await Promise.all(load);

    console.info(
      `postgres fault: ${JSON.stringify(counts)}, slowest ${Math.round(slowest)} ms, ` +
        `recovered in ${recoveries.map(Math.round).join(' and ')} ms, ` +
        `${pool.errors.length} idle-connection errors caught by pool.on('error')`,
    );
    expect(unexpected).toEqual([]);
    expect(slowest).toBeLessThan(OPERATION_BOUND_MS);
    // While down, nothing succeeded and everything said STORE_UNAVAILABLE.
    expect(counts.down.ok).toBe(0);
    expect(counts.down.unavailable).toBeGreaterThan(0);
    expect(counts.up.ok).toBeGreaterThan(100);
    for (const ms of recoveries) expect(ms).toBeLessThan(RECOVERY_BOUND_MS);

    // Nothing acknowledged was lost or undone, the crash included.
    let checked = 0;
    for (const [token, id] of created) {
      const session = await sessions.getSession(id);
      expect(session, 'an acknowledged session is missing').not.toBeNull();
      const result = await sessions.validate(token, { touch: false });
      if (revoked.has(token)) expect(result.valid).toBe(false);
      else if (!uncertain.has(token)) expect(result.valid).toBe(true);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(50);
    expect(revoked.size).toBeGreaterThan(5);
    await pool.end();
  });
});
