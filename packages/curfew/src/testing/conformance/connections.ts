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
}
