import { describe, expect, it } from 'vitest';
import {
  CurfewError,
  hashSessionToken,
  MemoryStore,
  type SessionEvent,
  SessionManager,
  type SessionStore,
} from '../src/index.js';
import { ManualClock } from '../src/testing/index.js';

/**
 * A MemoryStore whose every method fails the way a driver does, quoting a hash in its message
 * (a unique violation's detail does), with `code` as the driver's error code.
 */
function brokenStore(hashInMessage: string, code: string, classify?: (e: unknown) => boolean) {
  const store = new MemoryStore();
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'isUnavailable') return classify;
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return async () => {
        const error = new Error(`duplicate key value (token_hash)=(${hashInMessage})`) as Error & {
          code: string;
        };
        error.code = code;
        throw error;
      };
    },
  }) as SessionStore;
}

function recordingLogger() {
  const lines: Array<{ level: string; line: string }> = [];
  const write = (level: string) => (fields: Record<string, unknown>, message: string) =>
    lines.push({ level, line: `${message} ${JSON.stringify(fields)}` });
  return { lines, logger: { warn: write('warn'), error: write('error') } };
}

describe('SessionManager', () => {
  it('answers STORE_UNAVAILABLE for a store it cannot reach, and logs no hash', async () => {
    const token = 'T'.repeat(43);
    const hash = hashSessionToken(token);
    const { lines, logger } = recordingLogger();
    const sessions = new SessionManager({ store: brokenStore(hash, 'ECONNREFUSED'), logger });
    const error = await sessions.validate(token).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CurfewError);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE', name: 'CurfewError' });
    expect((error as CurfewError).cause).toBeInstanceOf(Error);
    expect((error as CurfewError).message).not.toContain(hash);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe('warn');
    expect(lines[0]!.line).toContain(hash.slice(0, 8));
    expect(lines[0]!.line).toContain('ECONNREFUSED');
    expect(lines[0]!.line).not.toContain(hash);
    expect(lines[0]!.line).not.toContain(token);
    await expect(sessions.create({ userId: 'u' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    await expect(sessions.sweepExpired()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(sessions.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(sessions.countSessions()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('answers STORE_ERROR for a store that answered with something unexpected, logged with its stack', async () => {
    const token = 'T'.repeat(43);
    const hash = hashSessionToken(token);
    const { lines, logger } = recordingLogger();
    // A unique violation: the store answered, so retrying will not help and nobody should wait.
    const sessions = new SessionManager({ store: brokenStore(hash, '23505'), logger });
    const error = await sessions.validate(token).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_ERROR', name: 'CurfewError' });
    expect((error as CurfewError).cause).toBeInstanceOf(Error);
    expect(lines).toHaveLength(1);
    expect(lines[0]!.level).toBe('error');
    const logged = JSON.parse(lines[0]!.line.slice(lines[0]!.line.indexOf('{'))) as {
      err: { message: string; stack: string; code: string };
      tokenHashPrefix: string;
    };
    expect(logged.err.code).toBe('23505');
    expect(logged.err.message).toBe(`duplicate key value (token_hash)=(${hash.slice(0, 8)}…)`);
    expect(logged.err.stack).toContain('manager.test.ts');
    expect(lines[0]!.line).not.toContain(hash);
    expect(lines[0]!.line).not.toContain(token);
    expect(logged.tokenHashPrefix).toBe(hash.slice(0, 8));

    // The store's own classifier decides first; one that throws falls back to the network codes.
    const classified = new SessionManager({ store: brokenStore(hash, '57P01', () => true) });
    await expect(classified.create({ userId: 'u' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    const confused = new SessionManager({
      store: brokenStore(hash, 'ECONNRESET', () => {
        throw new Error('classifier bug');
      }),
    });
    await expect(confused.create({ userId: 'u' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
    const refusing = new SessionManager({ store: brokenStore(hash, 'ECONNRESET', () => false) });
    await expect(refusing.create({ userId: 'u' })).rejects.toMatchObject({
      code: 'STORE_UNAVAILABLE',
    });
  });

  it('sweeps until a batch comes back empty, with an optional pause between batches', async () => {
    const store = new MemoryStore();
    let calls = 0;
    // A store that, like one whose rows a concurrent sweeper holds, returns short batches.
    const stingy = new Proxy(store, {
      get(target, property) {
        if (property !== 'sweep') {
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return async (input: Parameters<MemoryStore['sweep']>[0]) => {
          calls += 1;
          return target.sweep({ ...input, limit: Math.min(input.limit, 2) });
        };
      },
    });
    const clock = new ManualClock();
    const sessions = new SessionManager({ store: stingy, clock: clock.now });
    for (let i = 0; i < 7; i += 1) await sessions.create({ userId: `u${i}` });
    clock.advance(31 * 60_000);
    expect(await sessions.sweepExpired({ batchSize: 10, pause: '1ms' })).toEqual({
      absolute: 0,
      idle: 7,
    });
    expect(calls).toBe(5); // 2 + 2 + 2 + 1, then the empty one
    await expect(sessions.sweepExpired({ pause: 'soon' as never })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'pause',
    });
  });

  it('purges sessions ended more than olderThan ago, by its own clock', async () => {
    const store = new MemoryStore();
    const asked: number[] = [];
    const purge = store.purgeEnded.bind(store);
    store.purgeEnded = (input) => {
      asked.push(input.endedBefore);
      return purge(input);
    };
    const clock = new ManualClock();
    const sessions = new SessionManager({ store, clock: clock.now });
    const old = await sessions.create({ userId: 'u' });
    await sessions.revoke(old.token);
    clock.advance(20 * 86_400_000);
    const recent = await sessions.create({ userId: 'u' });
    await sessions.revoke(recent.token);
    clock.advance(15 * 86_400_000);
    expect(await sessions.purgeEnded({ olderThan: '30d' })).toBe(1);
    expect(asked).toEqual([clock.now() - 30 * 86_400_000]);
    expect(await sessions.getSession(old.session.id)).toBeNull();
    expect(await sessions.getSession(recent.session.id)).not.toBeNull();
    await expect(
      sessions.purgeEnded({ olderThan: '30d', endedBefore: 0 } as never),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'olderThan' });
    await expect(sessions.purgeEnded({ olderThan: 'a month' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      field: 'olderThan',
    });
  });

  it('signs a user out in store calls of 500 by default, or of batchSize', async () => {
    const store = new MemoryStore();
    const limits: number[] = [];
    const recording = new Proxy(store, {
      get(target, property) {
        const value = Reflect.get(target, property);
        if (property !== 'endUserSessions') {
          return typeof value === 'function' ? value.bind(target) : value;
        }
        return (scope: never, input: { limit: number }) => {
          limits.push(input.limit);
          return target.endUserSessions(scope, input as never);
        };
      },
    });
    const sessions = new SessionManager({ store: recording });
    for (let i = 0; i < 1_001; i += 1) await sessions.create({ userId: 'many' });
    expect(await sessions.revokeUserSessions('many')).toBe(1_001);
    expect(limits).toEqual([500, 500, 500]);
    limits.length = 0;
    for (let i = 0; i < 5; i += 1) await sessions.create({ userId: 'few' });
    expect(await sessions.revokeUserSessions('few', { batchSize: 2 })).toBe(5);
    expect(limits).toEqual([2, 2, 2]);
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

describe('the session cap on MemoryStore', () => {
  it('reports the expired sessions it ended even when it refuses, so their events go out', async () => {
    const clock = new ManualClock();
    const events: SessionEvent[] = [];
    const store = new MemoryStore();
    const open = new SessionManager({ store, clock: clock.now });
    const capped = new SessionManager({
      store,
      clock: clock.now,
      policy: { maxSessionsPerUser: 1, onSessionLimit: 'refuse' },
      onEvent: (event) => events.push(event),
    });
    const old = await open.create({ userId: 'w', aal: 3 }); // 15 minutes idle
    await open.create({ userId: 'w' }); // 30 minutes idle
    clock.advance(20 * 60_000);
    await expect(capped.create({ userId: 'w' })).rejects.toMatchObject({
      code: 'SESSION_LIMIT_REACHED',
    });
    expect(events).toEqual([
      expect.objectContaining({
        type: 'ended',
        sessionId: old.session.id,
        reason: 'idle_timeout',
      }),
    ]);
  });
});
