// Type-level tests of the public API: checked by `tsc` in `npm run check`, and run by vitest.
import { describe, expectTypeOf, it } from 'vitest';
import {
  type CurfewErrorCode,
  MemoryStore,
  type Policy,
  resolvePolicy,
  type Session,
  SessionManager,
  type SessionPage,
  type SessionValidationResult,
} from '../src/index.js';

describe('public types', () => {
  it('narrows a validation result by `valid`', () => {
    const result = {} as SessionValidationResult;
    if (result.valid) {
      expectTypeOf(result.session).toEqualTypeOf<Session>();
      expectTypeOf(result.idleSecondsRemaining).toEqualTypeOf<number | null>();
      expectTypeOf(result.warning).toEqualTypeOf<'absolute' | 'idle' | null>();
    } else {
      expectTypeOf(result.reason).toEqualTypeOf<
        'not_found' | 'idle' | 'absolute' | 'insufficient_authentication'
      >();
    }
  });

  it('types the manager and its policy', () => {
    const sessions = new SessionManager({ store: new MemoryStore() });
    expectTypeOf(sessions.policy).toEqualTypeOf<Policy>();
    expectTypeOf(sessions.create).returns.resolves.toEqualTypeOf<{
      token: string;
      session: Session;
    }>();
    expectTypeOf(sessions.revokeUserSessions).returns.resolves.toBeNumber();
    expectTypeOf(resolvePolicy).parameter(0).exclude<undefined>().not.toBeNumber();
    expectTypeOf<CurfewErrorCode>().toEqualTypeOf<
      | 'INVALID_ARGUMENT'
      | 'INVALID_POLICY'
      | 'STORE_UNAVAILABLE'
      | 'STORE_ERROR'
      | 'SESSION_LIMIT_REACHED'
    >();
    // One page at a time, with the cursor of the next.
    expectTypeOf(sessions.listUserSessions).returns.resolves.toEqualTypeOf<SessionPage>();
    expectTypeOf<SessionPage['nextCursor']>().toEqualTypeOf<string | null>();
    expectTypeOf(() => {
      // @ts-expect-error: a policy must be a preset name or an object
      new SessionManager({ store: new MemoryStore(), policy: 42 });
    }).toBeFunction();
  });
});
