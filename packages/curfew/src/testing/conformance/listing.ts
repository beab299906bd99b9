// Listing: a user's valid sessions a page at a time, in a stable order with no duplicates or
// gaps while sessions come and go, and reading one session by id within a scope.
import { expect } from 'vitest';
import { type ConformanceContext, EMPTY_PAGE, MINUTE } from './context.js';

/** Registers this area's cases. @internal */
export function registerListingCases(ctx: ConformanceContext): void {
  const { manager, create, expectCurfewError, test, clock, events } = ctx;
  test('list-user-sessions', 'lists only valid sessions, most recently active first', async () => {
    const sessions = manager({ activityWriteInterval: 0 });
    const first = await create(sessions, 'alice', 'acme');
    clock.advance(MINUTE);
    const second = await create(sessions, 'alice', 'acme');
    clock.advance(MINUTE);
    const third = await create(sessions, 'alice', 'globex');
    const ended = await create(sessions, 'alice', 'acme');
    await sessions.revoke(ended.token);
    await create(sessions, 'bob', 'acme');
    clock.advance(MINUTE);
    await sessions.touch(first.token); // now the most recent
    const all = (await sessions.listUserSessions('alice')).sessions;
    expect(all.map((s) => s.id)).toEqual([first.session.id, third.session.id, second.session.id]);
    expect(all.every((s) => s.active && !('tokenHash' in s))).toBe(true);
    const acme = (await sessions.listUserSessions('alice', { tenantId: 'acme' })).sessions;
    expect(acme.map((s) => s.id)).toEqual([first.session.id, second.session.id]);
    expect(await sessions.listUserSessions('alice', { tenantId: null })).toEqual(EMPTY_PAGE);
    // Expired but not swept: not listed.
    clock.advance(29 * MINUTE); // second and third idle for 31 and 30 min
    const later = (await sessions.listUserSessions('alice')).sessions;
    expect(later.map((s) => s.id)).toEqual([first.session.id]);
    expect(await sessions.listUserSessions('nobody')).toEqual(EMPTY_PAGE);
  });

  test(
    'list-pages',
    'pages in a stable order, without duplicates or gaps while sessions come and go',
    async () => {
      const sessions = manager({ activityWriteInterval: 0 });
      // Groups of four created in the same millisecond: ties are broken by id.
      const made: Array<{ token: string; id: string }> = [];
      for (let i = 0; i < 24; i += 1) {
        if (i % 4 === 0) clock.advance(1);
        const { token, session } = await create(sessions, 'pat', 'acme');
        made.push({ token, id: session.id });
      }
      const elsewhere = await create(sessions, 'pat', 'globex');
      await create(sessions, 'sam', 'acme');
      const order = async (ids: string[]) => {
        const views = await Promise.all(ids.map((id) => sessions.getSession(id)));
        return views
          .map((view) => view!)
          .sort(
            (a, b) =>
              b.lastActivityAt.getTime() - a.lastActivityAt.getTime() ||
              (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
          )
          .map((view) => view.id);
      };
      const expected = await order(made.map((m) => m.id));
      const pageThrough = async (limit: number, tenantId?: string | null) => {
        const ids: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await sessions.listUserSessions('pat', {
            limit,
            cursor,
            ...(tenantId === undefined ? {} : { tenantId }),
          });
          expect(page.sessions.length).toBeLessThanOrEqual(limit);
          if (page.nextCursor !== null) expect(page.sessions).toHaveLength(limit);
          ids.push(...page.sessions.map((s) => s.id));
          cursor = page.nextCursor;
          pages += 1;
        } while (cursor !== null);
        return { ids, pages };
      };
      // 24 in pages of 4: six full pages and no empty seventh.
      expect(await pageThrough(4, 'acme')).toEqual({ ids: expected, pages: 6 });
      expect((await pageThrough(5, 'acme')).ids).toEqual(expected);
      expect((await pageThrough(1000, 'acme')).ids).toEqual(expected);
      const everyTenant = await pageThrough(7);
      expect(everyTenant.ids).toEqual(await order([...expected, elsewhere.session.id]));
      expect((await pageThrough(3, null)).ids).toEqual([]);

      // Churn between pages: new sessions (most recent, so ahead of the cursor) and ended ones.
      const first = await sessions.listUserSessions('pat', { tenantId: 'acme', limit: 5 });
      const seen = first.sessions.map((s) => s.id);
      clock.advance(1);
      for (let i = 0; i < 3; i += 1) await create(sessions, 'pat', 'acme');
      const later = expected.slice(5);
      const endedLater = [later[2]!, later[9]!];
      for (const id of [...endedLater, seen[1]!]) {
        expect(await sessions.revokeSession(id)).toBe(true);
      }
      let cursor = first.nextCursor;
      while (cursor !== null) {
        const page = await sessions.listUserSessions('pat', {
          tenantId: 'acme',
          limit: 5,
          cursor,
        });
        seen.push(...page.sessions.map((s) => s.id));
        cursor = page.nextCursor;
      }
      expect(seen).toEqual(expected.filter((id) => !endedLater.includes(id)));

      // Sessions past either limit are left out of every page, wherever they sort.
      const strict = manager({
        absoluteTimeout: '1h',
        idleTimeout: '30m',
        activityWriteInterval: 0,
      });
      const aged = await create(strict, 'kim');
      clock.advance(25 * MINUTE);
      const idle = await create(strict, 'kim');
      clock.advance(25 * MINUTE);
      await strict.touch(aged.token); // the most recently active, and 50 min old
      const fresh = await create(strict, 'kim');
      clock.advance(11 * MINUTE); // aged: absolute; idle: idle for 36 min; fresh: 11 min
      for (const limit of [1, 2, 10]) {
        const page = await strict.listUserSessions('kim', { limit });
        expect(page.sessions.map((s) => s.id)).toEqual([fresh.session.id]);
        expect(page.nextCursor).toBeNull();
      }
      expect(idle.session.id).not.toBe(fresh.session.id);

      // Bad page sizes and cursors are refused, naming the field.
      for (const limit of [0, 1001, 1.5, -1, '10', Number.NaN]) {
        await expectCurfewError(
          () => sessions.listUserSessions('pat', { limit: limit as number }),
          'INVALID_ARGUMENT',
          'limit',
        );
      }
      const forged = Buffer.from('12.', 'utf8').toString('base64url');
      for (const cursor of ['', 'not a cursor!', 'AAAA', forged, 'x'.repeat(401), 42, {}]) {
        await expectCurfewError(
          () => sessions.listUserSessions('pat', { cursor: cursor as string }),
          'INVALID_ARGUMENT',
          'cursor',
        );
      }
    },
  );

  test(
    'get-session',
    'reads one session by id within a scope; an expired one reads as ended',
    async () => {
      const sessions = manager();
      const { session } = await create(sessions, 'alice', 'acme');
      expect(await sessions.getSession(session.id)).toMatchObject({
        id: session.id,
        active: true,
      });
      expect(await sessions.getSession(session.id, { tenantId: 'acme' })).not.toBeNull();
      expect(await sessions.getSession(session.id, { tenantId: 'globex' })).toBeNull();
      expect(await sessions.getSession(session.id, { tenantId: null })).toBeNull();
      expect(await sessions.getSession(session.id, { userId: 'bob' })).toBeNull();
      expect(await sessions.getSession('00000000-0000-4000-8000-000000000000')).toBeNull();
      clock.advance(30 * MINUTE);
      const expired = await sessions.getSession(session.id);
      expect(expired).toMatchObject({ active: false, endReason: 'idle_timeout' });
      expect(events.filter((e) => e.type === 'ended')).toHaveLength(1);
      await sessions.getSession(session.id);
      expect(events.filter((e) => e.type === 'ended')).toHaveLength(1);
    },
  );
}
