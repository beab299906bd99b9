import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MemoryStore, SessionManager } from 'curfew';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiKeyring, hashApiKey } from '../src/api-keys.js';
import { buildApp } from '../src/http/app.js';
import { openStore } from '../src/open-store.js';
import { startSweepTimer } from '../src/sweep-timer.js';
import { KEYS } from './support/test-app.js';

describe('closing the app', () => {
  it('finishes a request in flight before it resolves, and then refuses connections', async () => {
    const store = new MemoryStore();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const inStore = new Promise<void>((resolve) => {
      entered = resolve;
    });
    const validate = store.validate.bind(store);
    store.validate = async (...args) => {
      entered();
      await gate;
      return validate(...args);
    };
    const manager = new SessionManager({ store });
    const { token } = await manager.create({ userId: 'u' });
    const app = buildApp({
      manager,
      keys: new ApiKeyring([
        { name: 'admin', tenantId: null, scope: 'admin', sha256: hashApiKey(KEYS.admin) },
      ]),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

    const inFlight = fetch(`${url}/v1/sessions/validate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEYS.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    await inStore;
    let closed = false;
    const closing = app.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false); // still waiting for the request
    release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { valid: boolean }).valid).toBe(true);
    await closing;
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});

describe('the SQLite store as the service opens it', () => {
  it('holds the WAL read lock while it reads, and closes whole even while holding it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'curfew-open-'));
    const path = join(dir, 'curfew.db');
    try {
      const opened = await openStore({ kind: 'sqlite', path });
      const manager = new SessionManager({ store: opened.store });
      const { token } = await manager.create({ userId: 'u' });
      expect((await manager.validate(token)).valid).toBe(true);
      // Another process cannot finish a full checkpoint while the read lock is held.
      const outsider = new Database(path, { timeout: 0 });
      const checkpoint = outsider.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      outsider.close();
      expect(checkpoint[0]?.busy).toBe(1);
      await opened.close(); // in the same turn, with the lock still held
      // Its last connection closed: SQLite checkpointed the WAL into the file and removed it.
      expect(existsSync(`${path}-wal`)).toBe(false);
      const again = await openStore({ kind: 'sqlite', path });
      expect((await new SessionManager({ store: again.store }).validate(token)).valid).toBe(true);
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the sweep timer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits a jittered share of the interval, never overlaps a sweep, and stops cleanly', async () => {
    vi.useFakeTimers();
    const draws = [0.5, 0, 1, 0.25];
    let sweeps = 0;
    let finishSweep: (() => void) | undefined;
    const stop = startSweepTimer({
      interval: 60_000,
      random: () => draws.shift() ?? 0.5,
      sweep: () => {
        sweeps += 1;
        return new Promise<void>((resolve) => {
          finishSweep = resolve;
        });
      },
    });
    await vi.advanceTimersByTimeAsync(29_999); // first wait: 0.5 × interval
    expect(sweeps).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(sweeps).toBe(1);
    // A slow sweep: no second one starts while it runs.
    await vi.advanceTimersByTimeAsync(500_000);
    expect(sweeps).toBe(1);
    finishSweep!();
    // Next wait: 0.75 + 0.5 × 0 → 45 s after the sweep finished.
    await vi.advanceTimersByTimeAsync(44_999);
    expect(sweeps).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(sweeps).toBe(2);
    finishSweep!();
    // Then 0.75 + 0.5 × 1 → 75 s.
    await vi.advanceTimersByTimeAsync(75_000);
    expect(sweeps).toBe(3);
    const stopping = stop();
    finishSweep!();
    await stopping;
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(sweeps).toBe(3);
  });

  it('reports a failed sweep and keeps going', async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let sweeps = 0;
    const stop = startSweepTimer({
      interval: 1000,
      random: () => 0,
      sweep: async () => {
        sweeps += 1;
        throw new Error('store down');
      },
      onError: (error) => errors.push(error),
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(sweeps).toBeGreaterThanOrEqual(3);
    expect(errors).toHaveLength(sweeps);
    await stop();
  });
});
