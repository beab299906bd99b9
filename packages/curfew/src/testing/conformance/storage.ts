// What a store keeps: every field exactly, the token hash and never the token, unique hashes
// and ids, and bad input refused before anything is written.
import { expect } from 'vitest';
import { hashSessionToken } from '../../core/token.js';
import type { ConformanceContext } from './context.js';

/** Registers this area's cases. @internal */
export function registerStorageCases(ctx: ConformanceContext): void {
  const { manager, create, expectCurfewError, test, clock, current, secrets } = ctx;
  test(
    'round-trip',
    'keeps every field exactly: unicode, long values, millisecond times',
    async () => {
      const sessions = manager({ userAgentMaxLength: 8192, activityWriteInterval: 0 });
      clock.set(Date.parse('2026-03-04T05:06:07.089Z'));
      const userId = `ü${'x'.repeat(252)}😀`; // 255 UTF-16 code units
      const userAgent = `Mozilla/5.0 (X11; Linux) “quotes” 'single' \\ \t\n\u0001 😀 ${'é'.repeat(3000)}`;
      const { token, session } = await sessions.create({
        userId,
        tenantId: 'tenant-ü',
        ipAddress: '203.0.113.255',
        userAgent,
        appType: 'tenant_app',
      });
      secrets.add(token);
      clock.advance(123);
      await sessions.touch(token);
      const view = await sessions.getSession(session.id);
      expect(view).toMatchObject({
        userId,
        tenantId: 'tenant-ü',
        userAgent,
        ipAddress: '203.0.113.255',
      });
      expect(view?.createdAt.toISOString()).toBe('2026-03-04T05:06:07.089Z');
      expect(view?.lastActivityAt.toISOString()).toBe('2026-03-04T05:06:07.212Z');
      expect(view?.absoluteExpiresAt.toISOString()).toBe('2026-03-04T17:06:07.089Z');
    },
  );

  test('hash-only', 'stores the SHA-256 hash and never the token', async () => {
    const sessions = manager();
    const { token, session } = await create(sessions);
    const stored = await current.store.findById(session.id);
    expect(stored?.tokenHash).toBe(hashSessionToken(token));
    expect(JSON.stringify(stored)).not.toContain(token);
  });

  test('duplicate-hash', 'refuses a second session with the same hash or id', async () => {
    const sessions = manager();
    const { session } = await create(sessions);
    const stored = await current.store.findById(session.id);
    if (stored === null) throw new Error('expected the stored session');
    await expect(current.store.insert({ ...stored, id: crypto.randomUUID() })).rejects.toThrow();
    await expect(
      current.store.insert({ ...stored, tokenHash: hashSessionToken('another-token-value') }),
    ).rejects.toThrow();
    expect((await sessions.listUserSessions(stored.userId)).sessions).toHaveLength(1);
  });

  test(
    'bad-input',
    'malformed tokens never reach the store; bad arguments change nothing',
    async () => {
      let storeCalls = 0;
      const counting = new Proxy(current.store, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            storeCalls += 1;
            return value.apply(target, args);
          };
        },
      });
      const sessions = manager({}, { store: counting });
      const garbage: unknown[] = [
        '',
        'short',
        'x'.repeat(15),
        'x'.repeat(257),
        'a'.repeat(1_000_000),
        'has spaces in it here',
        'padding==========',
        'ünïcödé-ünïcödé-ünïcödé',
        null,
        undefined,
        42,
        {},
        ['a'.repeat(43)],
      ];
      for (const token of garbage) {
        expect(await sessions.validate(token as string)).toEqual({
          valid: false,
          reason: 'not_found',
        });
        expect(await sessions.touch(token as string)).toBe(false);
        expect(await sessions.revoke(token as string)).toBe(false);
        expect(await sessions.rotate(token as string)).toBeNull();
      }
      expect(storeCalls).toBe(0);
      // Well-formed but unknown: the store is asked, the answer is the same.
      expect(await sessions.validate('A'.repeat(43))).toEqual({
        valid: false,
        reason: 'not_found',
      });

      const bad: Array<[Record<string, unknown>, string]> = [
        [{ userId: '' }, 'userId'],
        [{ userId: 'x'.repeat(256) }, 'userId'],
        [{ userId: 42 }, 'userId'],
        [{ userId: 'lone \ud800 surrogate' }, 'userId'],
        [{ userId: 'u', tenantId: '\udc00' }, 'tenantId'],
        [{ userId: 'nul\u0000byte' }, 'userId'],
        [{ userId: 'u', tenantId: '\u0000' }, 'tenantId'],
        [{ userId: 'u', tenantId: '' }, 'tenantId'],
        [{ userId: 'u', tenantId: 7 }, 'tenantId'],
        [{ userId: 'u', ipAddress: '999.1.1.1' }, 'ipAddress'],
        [{ userId: 'u', ipAddress: 'localhost' }, 'ipAddress'],
        [{ userId: 'u', userAgent: 12 }, 'userAgent'],
        [{ userId: 'u', appType: 'has space' }, 'appType'],
        [{ userId: 'u', appType: '' }, 'appType'],
      ];
      for (const [input, field] of bad) {
        await expectCurfewError(() => sessions.create(input as never), 'INVALID_ARGUMENT', field);
      }
      await expectCurfewError(() => sessions.create(null as never), 'INVALID_ARGUMENT');
      const callsBefore = storeCalls;
      const { token, session } = await create(sessions, 'u');
      expect(storeCalls).toBe(callsBefore + 1);
      await expectCurfewError(
        () => sessions.revoke(token, 'Not Allowed!'),
        'INVALID_ARGUMENT',
        'reason',
      );
      await expectCurfewError(
        () => sessions.revokeUserSessions('u', { reason: 'x'.repeat(65) }),
        'INVALID_ARGUMENT',
        'reason',
      );
      await expectCurfewError(() => sessions.revokeUserSessions(''), 'INVALID_ARGUMENT', 'userId');
      await expectCurfewError(
        () => sessions.listUserSessions(5 as never),
        'INVALID_ARGUMENT',
        'userId',
      );
      await expectCurfewError(
        () => sessions.sweepExpired({ batchSize: 0 }),
        'INVALID_ARGUMENT',
        'batchSize',
      );
      await expectCurfewError(
        () => sessions.purgeEnded({ endedBefore: 'yesterday' as never }),
        'INVALID_ARGUMENT',
        'endedBefore',
      );
      await expectCurfewError(
        () => sessions.validate(token, { touch: 'yes' as never }),
        'INVALID_ARGUMENT',
        'touch',
      );
      // Nothing above changed the one good session or added another.
      expect((await sessions.listUserSessions('u')).sessions.map((s) => s.id)).toEqual([
        session.id,
      ]);
      // The user agent is cut to the policy's length, never through a surrogate pair.
      const cut = manager({ userAgentMaxLength: 5 });
      const emoji = await cut.create({ userId: 'u', userAgent: 'abcd😀tail' });
      secrets.add(emoji.token);
      expect(emoji.session.userAgent).toBe('abcd');
      const exact = await cut.create({ userId: 'u', userAgent: 'abc😀tail' });
      secrets.add(exact.token);
      expect(exact.session.userAgent).toBe('abc😀');
      // A lone surrogate cannot be stored as UTF-8: it is mended, and reads back as stored.
      const lone = await cut.create({ userId: 'u', userAgent: 'a\ud800b\u0000' });
      secrets.add(lone.token);
      expect(lone.session.userAgent).toBe('a\ufffdb\ufffd');
      expect((await cut.getSession(lone.session.id))?.userAgent).toBe('a\ufffdb\ufffd');
    },
  );
}
