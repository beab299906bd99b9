import { MemoryStore, SessionManager, type SessionStore } from 'curfew';
import { describe, expect, it } from 'vitest';
import { instrumentStore } from '../src/instrument-store.js';
import { Metrics } from '../src/metrics.js';

describe('instrumentStore', () => {
  it('forwards every method, optional ones included, and times each call', async () => {
    const metrics = new Metrics({ store: 'memory' });
    const sessions = new SessionManager({ store: instrumentStore(new MemoryStore(), metrics) });
    const { token } = await sessions.create({ userId: '42' });
    await sessions.revoke(token);
    // countSessions is optional on the contract: a wrapper that dropped it would make the
    // manager refuse with INVALID_ARGUMENT (field `store`).
    expect(await sessions.countSessions()).toMatchObject({
      active: 0,
      endedByReason: { logout: 1 },
    });
    const text = await metrics.render();
    for (const operation of ['insert', 'endSession', 'countSessions']) {
      expect(text).toContain(
        `curfew_store_duration_seconds_count{operation="${operation}",store="memory"} 1`,
      );
    }
  });

  it("forwards the store's error classifier as it is, untimed", async () => {
    const metrics = new Metrics();
    const store = new MemoryStore() as MemoryStore & { isUnavailable?: (e: unknown) => boolean };
    store.isUnavailable = (error) => error === 'down';
    const wrapped = instrumentStore(store, metrics);
    expect(wrapped.isUnavailable?.('down')).toBe(true);
    expect(wrapped.isUnavailable?.('bug')).toBe(false);
    expect(await metrics.render()).not.toContain('operation="isUnavailable"');
  });

  it('leaves out an optional method the store does not have', () => {
    // A custom store without the optional methods (only what this check needs of it).
    const custom = { insert: async () => {} } as unknown as SessionStore;
    const wrapped = instrumentStore(custom, new Metrics());
    expect('insert' in wrapped).toBe(true);
    expect('countSessions' in wrapped).toBe(false);
    expect('ping' in wrapped).toBe(false);
    expect('isUnavailable' in wrapped).toBe(false);
  });
});
