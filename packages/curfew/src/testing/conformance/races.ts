// Races: many concurrent callers on one session or one user. These are what atomicity inside
// the store is for: ended once, never valid after a revoke returned, nothing left behind.
import { expect } from 'vitest';
import { type ConformanceContext, MINUTE } from './context.js';

/** Registers this area's cases. @internal */
export function registerRaceCases(ctx: ConformanceContext): void {
  const { manager, create, test, clock, events, current, concurrency } = ctx;
  test(
    'race-expired-ends-once',
    'many concurrent validations of an expired session end it once',
    async () => {
      const sessions = manager();
      const { token, session } = await create(sessions);
      clock.advance(31 * MINUTE);
      const results = await Promise.all(
        Array.from({ length: concurrency }, () => sessions.validate(token)),
      );
      for (const result of results) expect(result).toMatchObject({ valid: false, reason: 'idle' });
      const ended = events.filter((e) => e.type === 'ended' && e.sessionId === session.id);
      expect(ended).toHaveLength(1);
    },
  );

  test(
    'race-revoke-vs-validate',
    'no validation that starts after a revoke returned succeeds',
    async () => {
      const sessions = manager({ activityWriteInterval: 0 });
      for (let round = 0; round < 5; round += 1) {
        const { token } = await create(sessions);
        clock.advance(1);
        let revoked = false;
        const validations = Array.from({ length: concurrency }, async (_, i) => {
          // Spread the starts across the revoke.
          if (i % 2 === 0) await Promise.resolve();
          const startedAfterRevoke = revoked;
          const result = await sessions.validate(token);
          return { startedAfterRevoke, valid: result.valid };
        });
        const revoke = sessions.revoke(token).then((ended) => {
          revoked = true;
          return ended;
        });
        const [ended, ...outcomes] = await Promise.all([revoke, ...validations]);
        expect(ended).toBe(true);
        for (const outcome of outcomes) {
          if (outcome.startedAfterRevoke) expect(outcome.valid).toBe(false);
        }
        expect((await sessions.validate(token)).valid).toBe(false);
      }
    },
  );

  test('race-concurrent-creates', 'concurrent creates get distinct ids and tokens', async () => {
    const sessions = manager();
    const issued = await Promise.all(
      Array.from({ length: concurrency }, (_, i) => create(sessions, `user-${i % 7}`)),
    );
    expect(new Set(issued.map((s) => s.session.id)).size).toBe(concurrency);
    expect(new Set(issued.map((s) => s.token)).size).toBe(concurrency);
    const listed = await Promise.all(
      Array.from({ length: 7 }, (_, i) => sessions.listUserSessions(`user-${i}`)),
    );
    expect(listed.flatMap((page) => page.sessions)).toHaveLength(concurrency);
  });

  test(
    'race-concurrent-sweeps',
    'concurrent sweeps and revokes end each session once',
    async () => {
      const sessions = manager();
      const issued = await Promise.all(
        Array.from({ length: concurrency }, (_, i) => create(sessions, `user-${i % 5}`)),
      );
      clock.advance(31 * MINUTE);
      const sweeps = await Promise.all([
        sessions.sweepExpired({ batchSize: 7 }),
        sessions.sweepExpired({ batchSize: 11 }),
        sessions.sweepExpired({ batchSize: 13 }),
        sessions.revokeUserSessions('user-0'),
        sessions.revokeUserSessions('user-1'),
      ]);
      const swept = sweeps.slice(0, 3) as Array<{ absolute: number; idle: number }>;
      const revoked = sweeps.slice(3) as number[];
      const total = swept.reduce((sum, r) => sum + r.absolute + r.idle, 0);
      // The revokes meet only expired sessions: they end some (as idle) but count none.
      expect(revoked).toEqual([0, 0]);
      const ended = events.filter((e) => e.type === 'ended');
      expect(ended).toHaveLength(concurrency);
      expect(new Set(ended.map((e) => e.sessionId)).size).toBe(concurrency);
      expect(ended.every((e) => e.type === 'ended' && e.reason === 'idle_timeout')).toBe(true);
      const endedByRevokes = ended.filter((e) => ['user-0', 'user-1'].includes(e.userId)).length;
      expect(total).toBeGreaterThanOrEqual(concurrency - endedByRevokes);
      expect(total).toBeLessThanOrEqual(concurrency);
      for (const { session } of issued.slice(0, 3)) {
        expect(await sessions.getSession(session.id)).toMatchObject({
          endReason: 'idle_timeout',
        });
      }
    },
  );

  test(
    'race-revoke-all',
    'a batched sign-out everywhere racing creates, validations and another leaves nothing valid',
    async () => {
      const sessions = manager({ activityWriteInterval: 0 });
      const second =
        current.openSecond === undefined
          ? sessions
          : manager({ activityWriteInterval: 0 }, { store: await current.openSecond() });
      const existing: Array<{ token: string; id: string }> = [];
      for (let i = 0; i < 6; i += 1) {
        clock.advance(1);
        const batch = await Promise.all(
          Array.from({ length: 100 }, () => create(sessions, 'racer', 'acme')),
        );
        existing.push(...batch.map((b) => ({ token: b.token, id: b.session.id })));
      }
      const bystander = await create(sessions, 'bystander', 'acme');
      const existingIds = new Set(existing.map((e) => e.id));
      let returned = false;
      let stop = false;
      const during: string[] = [];
      const afterwards: boolean[] = [];
      const validating = (async () => {
        for (let i = 0; !stop; i += 1) {
          // An in-memory store answers within the same turn: let the revokes have theirs.
          if (i % 5 === 0) await new Promise((resolve) => setImmediate(resolve));
          const target = existing[(i * 37) % existing.length]!;
          const startedAfter = returned;
          if (i % 10 === 0) clock.advance(1); // activity moves, and with it the listing order
          const result = await (i % 2 ? sessions : second).validate(target.token);
          if (startedAfter) afterwards.push(result.valid);
        }
      })();
      const creating = (async () => {
        for (let i = 0; i < 60; i += 1) {
          during.push((await create(i % 2 ? sessions : second, 'racer', 'acme')).session.id);
        }
      })();
      const [a, b] = await Promise.all([
        sessions.revokeUserSessions('racer', { batchSize: 25 }).finally(() => {
          returned = true;
        }),
        second.revokeUserSessions('racer', { batchSize: 40 }),
      ]);
      // Go on until validations that started after the revoke returned have come back too.
      for (let waited = 0; afterwards.length < 20 && waited < 10_000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      stop = true;
      await Promise.all([validating, creating]);
      expect(afterwards.length).toBeGreaterThan(0);
      expect(afterwards.every((valid) => !valid)).toBe(true);
      for (const { token } of existing) {
        expect(await sessions.validate(token)).toEqual({
          valid: false,
          reason: 'not_found',
          endReason: 'password_change',
        });
      }
      const ended = events.filter((e) => e.type === 'ended');
      expect(new Set(ended.map((e) => e.sessionId)).size).toBe(ended.length);
      expect(ended.every((e) => existingIds.has(e.sessionId) || during.includes(e.sessionId))).toBe(
        true,
      );
      expect(a + b).toBe(ended.length);
      expect(ended.length).toBeGreaterThanOrEqual(existing.length);
      // Sessions created meanwhile may have been ended or not; a last call ends the rest.
      const left = await sessions.revokeUserSessions('racer');
      expect(a + b + left).toBe(existing.length + during.length);
      expect((await sessions.validate(bystander.token)).valid).toBe(true);
    },
    60_000,
  );
}
