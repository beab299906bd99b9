import { describe, expect, it } from 'vitest';
import {
  CurfewError,
  hashSessionToken,
  MemoryStore,
  SessionManager,
  type SessionStore,
} from '../src/index.js';
import { ManualClock } from '../src/testing/index.js';

/** A MemoryStore whose every method fails the way a driver does, quoting a hash in its message. */
function brokenStore(hashInMessage: string): SessionStore {
  const store = new MemoryStore();
  return new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async () => {
        const error = new Error(`duplicate key value (token_hash)=(${hashInMessage})`) as Error & {
          code: string;
        };
        error.code = 'ECONNREFUSED';
        throw error;
      };
    },
  });
}

describe('SessionManager', () => {
  it('turns a store failure into STORE_UNAVAILABLE with the cause, and logs no hash', async () => {
    const token = 'T'.repeat(43);
    const hash = hashSessionToken(token);
    const lines: string[] = [];
    const sessions = new SessionManager({
      store: brokenStore(hash),
      logger: { error: (fields, message) => lines.push(`${message} ${JSON.stringify(fields)}`) },
    });
    const error = await sessions.validate(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CurfewError);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', name: 'CurfewError' });
    expect((error as CurfewError).cause).toBeInstanceOf(Error);
    expect((error as CurfewError).message).not.toContain(hash);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(hash.slice(0, 8));
    expect(lines[0]).toContain('ECONNREFUSED');
    expect(lines[0]).not.toContain(hash);
    expect(lines[0]).not.toContain(token);
    await expect(sessions.create({ userId: 'u' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    await expect(sessions.sweepExpired()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(sessions.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(sessions.countSessions()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('reads the clock once per operation', async () => {
    let reads = 0;
    const clock = new ManualClock();
    const sessions = new SessionManager({
      store: new MemoryStore(),
      clock: () => {
        reads += 1;
        return clock.now();
      },
    });
    const { token } = await sessions.create({ userId: 'u' });
    expect(reads).toBe(1);
    await sessions.validate(token);
    await sessions.revokeUserSessions('u');
    await sessions.sweepExpired();
    await sessions.countSessions();
    expect(reads).toBe(5);
  });

  it('refuses to count on a store without countSessions, or with a bad window', async () => {
    // A custom store may leave the optional method out: a clear refusal, not a TypeError.
    const store = new MemoryStore();
    const bare = new Proxy(store, {
      get: (target, property, receiver) =>
        property === 'countSessions' ? undefined : Reflect.get(target, property, receiver),
    });
    await expect(new SessionManager({ store: bare }).countSessions()).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'store',
    });
    const sessions = new SessionManager({ store });
    for (const endedWithin of ['soon', -1, Number.NaN]) {
      await expect(
        sessions.countSessions({ endedWithin: endedWithin as never }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        field: 'endedWithin',
      });
    }
  });

  it('keeps working when the event listener or logger throws', async () => {
    const sessions = new SessionManager({
      store: new MemoryStore(),
      onEvent: () => {
        throw new Error('listener bug');
      },
      logger: {
        debug: () => {
          throw new Error('logger bug');
        },
      },
    });
    const { token } = await sessions.create({ userId: 'u' });
    expect(await sessions.revoke(token)).toBe(true);
  });

  it('refuses bad options when built', () => {
    expect(() => new SessionManager({} as never)).toThrow(
      expect.objectContaining({ field: 'store' }),
    );
    expect(() => new SessionManager({ store: new MemoryStore(), clock: 5 as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', field: 'clock' }),
    );
    expect(
      () => new SessionManager({ store: new MemoryStore(), policy: { idleTimeout: '1h' } }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_POLICY' }));
    expect(
      new SessionManager({ store: new MemoryStore(), policy: 'nist-800-63b-rev3-aal3' }).policy
        .idleTimeout,
    ).toBe(15 * 60_000);
  });

  it('answers whole seconds rounded down', async () => {
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: new MemoryStore(), clock: clock.now });
    const { token } = await sessions.create({ userId: 'u' });
    clock.advance(1_999);
    const result = await sessions.validate(token, { touch: false });
    expect(result).toMatchObject({
      valid: true,
      idleSecondsRemaining: 30 * 60 - 2,
      absoluteSecondsRemaining: 12 * 3600 - 2,
      secondsRemaining: 30 * 60 - 2,
    });
  });
});
