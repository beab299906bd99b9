// Size: one user with a hundred thousand sessions. Every guarantee must hold at this size, in
// store calls whose cost does not grow with it.
import { expect } from 'vitest';
import type { SessionManager } from '../../core/manager.js';
import { type ConformanceContext, MINUTE } from './context.js';

/** Registers this area's cases. @internal */
export function registerBigUserCases(ctx: ConformanceContext): void {
  const { test, tallyingManager, createMany, clock, current, bigUser } = ctx;
  test(
    'big-user-revoke',
    `one user with ${bigUser.toLocaleString('en-US')} sessions: list pages, count, sign out everywhere`,
    async () => {
      const { sessions, ended, sample, endedTwice } = tallyingManager();
      const made = await createMany(sessions, bigUser, 'whale', 'acme');
      const globex = await createMany(sessions, 3, 'whale', 'globex');
      const minnow = await createMany(sessions, 2, 'minnow', 'acme');
      clock.advance(1);
      const keep = made[Math.floor(bigUser / 2)]!;

      const firstPage = await sessions.listUserSessions('whale', {
        tenantId: 'acme',
        limit: 100,
      });
      expect(firstPage.sessions).toHaveLength(Math.min(100, bigUser));
      expect(firstPage.sessions.every((s) => s.userId === 'whale' && s.tenantId === 'acme')).toBe(
        true,
      );
      let listed = 0;
      const ids = new Set<string>();
      let previous: { at: number; id: string } | null = null;
      let cursor: string | null = null;
      do {
        const page: Awaited<ReturnType<SessionManager['listUserSessions']>> =
          await sessions.listUserSessions('whale', { tenantId: 'acme', limit: 1000, cursor });
        for (const s of page.sessions) {
          const at = s.lastActivityAt.getTime();
          if (previous !== null) {
            expect(at < previous.at || (at === previous.at && s.id < previous.id)).toBe(true);
          }
          previous = { at, id: s.id };
          ids.add(s.id);
        }
        listed += page.sessions.length;
        cursor = page.nextCursor;
      } while (cursor !== null);
      expect(listed).toBe(bigUser);
      expect(ids.size).toBe(bigUser);
      const inGlobex = await sessions.listUserSessions('whale', { tenantId: 'globex' });
      expect(inGlobex.sessions.map((s) => s.id).sort()).toEqual(globex.map((g) => g.id).sort());
      expect((await sessions.listUserSessions('whale', { limit: 5 })).sessions).toHaveLength(5);
      if (typeof current.store.countSessions === 'function') {
        expect((await sessions.countSessions()).active).toBe(bigUser + 5);
      }

      const revoked = await sessions.revokeUserSessions('whale', {
        tenantId: 'acme',
        exceptSessionId: keep.id,
      });
      expect(revoked).toBe(bigUser - 1);
      expect(ended.size).toBe(bigUser - 1);
      expect(endedTwice()).toBe(0);
      expect(ended.has(keep.id)).toBe(false);
      expect([...ended.values()].every((reason) => reason === 'password_change')).toBe(true);
      for (let i = 0; i < bigUser; i += Math.max(1, Math.floor(bigUser / 300))) {
        const { token, id } = made[i]!;
        const result = await sessions.validate(token, { touch: false });
        if (id === keep.id) expect(result.valid).toBe(true);
        else expect(result).toMatchObject({ valid: false, endReason: 'password_change' });
      }
      expect((await sessions.validate(keep.token)).valid).toBe(true);
      for (const other of [...globex, ...minnow]) {
        expect((await sessions.validate(other.token)).valid).toBe(true);
      }
      const after = await sessions.listUserSessions('whale', { tenantId: 'acme' });
      expect(after).toEqual({
        sessions: [expect.objectContaining({ id: keep.id })],
        nextCursor: null,
      });
      if (typeof current.store.countSessions === 'function') {
        expect(await sessions.countSessions()).toMatchObject({
          active: 6,
          endedByReason: { password_change: bigUser - 1 },
        });
      }
      expect(await sessions.revokeUserSessions('whale', { tenantId: 'acme' })).toBe(1);
      const leaks = sample.filter((line) => made.slice(0, 50).some((m) => line.includes(m.token)));
      expect(leaks).toEqual([]);
    },
    600_000,
  );

  test(
    'big-user-sweep',
    `one user with ${bigUser.toLocaleString('en-US')} expired sessions: the sweep ends each once`,
    async () => {
      const policy = { absoluteTimeout: '1h', idleTimeout: '30m' };
      const { sessions, ended, endedTwice } = tallyingManager(policy);
      const half = Math.floor(bigUser / 2);
      const early = await createMany(sessions, half, 'drifter', 'acme');
      clock.advance(45 * MINUTE);
      const late = await createMany(sessions, bigUser - half, 'drifter', 'acme');
      clock.advance(31 * MINUTE);
      const fresh = await createMany(sessions, 1, 'drifter', 'acme');
      // early: 76 min old, past the absolute hour; late: idle for 31 min; fresh: just made.
      const page = await sessions.listUserSessions('drifter');
      expect(page).toEqual({
        sessions: [expect.objectContaining({ id: fresh[0]!.id })],
        nextCursor: null,
      });
      if (typeof current.store.countSessions === 'function') {
        expect((await sessions.countSessions()).active).toBe(1);
      }
      expect(await sessions.sweepExpired()).toEqual({ absolute: half, idle: bigUser - half });
      expect(ended.size).toBe(bigUser);
      expect(endedTwice()).toBe(0);
      expect(await sessions.sweepExpired()).toEqual({ absolute: 0, idle: 0 });
      for (let i = 0; i < half; i += Math.max(1, Math.floor(half / 150))) {
        expect(await sessions.validate(early[i]!.token)).toMatchObject({
          valid: false,
          reason: 'absolute',
        });
        expect(await sessions.validate(late[i]!.token)).toMatchObject({
          valid: false,
          reason: 'idle',
        });
      }
      expect((await sessions.validate(fresh[0]!.token)).valid).toBe(true);
      if (typeof current.store.countSessions === 'function') {
        expect(await sessions.countSessions()).toMatchObject({
          active: 1,
          endedByReason: { absolute_timeout: half, idle_timeout: bigUser - half },
        });
      }
    },
    600_000,
  );
}
