// Two connections to the same data: atomicity across them, as across processes.
import { expect } from 'vitest';
import { type ConformanceContext, MINUTE } from './context.js';

/** Registers this area's cases. @internal */
export function registerConnectionCases(ctx: ConformanceContext): void {
  const { manager, create, test, clock, events, current, concurrency } = ctx;
  test('second-connection', 'atomicity holds across two connections to the same data', async () => {
    if (current.openSecond === undefined) return;
    const second = await current.openSecond();
    const one = manager();
    const two = manager({}, { store: second });
    const { token, session } = await create(one);
    expect((await two.validate(token)).valid).toBe(true);
    clock.advance(31 * MINUTE);
    const results = await Promise.all(
      Array.from({ length: concurrency }, (_, i) => (i % 2 ? one : two).validate(token)),
    );
    expect(results.every((r) => !r.valid && r.reason === 'idle')).toBe(true);
    expect(events.filter((e) => e.type === 'ended' && e.sessionId === session.id)).toHaveLength(1);
    const fresh = await create(two);
    expect(await one.revoke(fresh.token)).toBe(true);
    expect((await two.validate(fresh.token)).valid).toBe(false);
  });

  test(
    'clock-skew',
    'measures how far the manager’s clock is from the store server’s',
    async () => {
      const store = current.store;
      if (typeof store.storeTime !== 'function') {
        // A store on this machine's clock has nothing to measure.
        expect(await manager().measureClockSkew()).toBeNull();
        return;
      }
      // The store's clock is real; the managers' is set 25 minutes ahead of this machine's.
      const fast = 25 * MINUTE;
      const before = Date.now();
      const stored = await store.storeTime();
      const after = Date.now();
      // This machine and the store server agree (both are this machine here, or NTP-synced).
      expect(stored).toBeGreaterThan(before - 2_000);
      expect(stored).toBeLessThan(after + 2_000);
      clock.set(Date.now() + fast);
      const measured = await manager().measureClockSkew();
      expect(measured).not.toBeNull();
      expect(measured!.roundTrip).toBeGreaterThanOrEqual(0);
      expect(Math.abs(measured!.skew - fast)).toBeLessThan(2_000);
      clock.set(Date.now() - fast);
      expect(Math.abs((await manager().measureClockSkew())!.skew + fast)).toBeLessThan(2_000);
    },
  );
}
