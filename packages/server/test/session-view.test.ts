import type { Session, SessionValidationResult } from 'curfew';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serializeValidationView, toValidationView } from '../src/http/session-view.js';

// Text a caller may put in a session: every kind of string, lone surrogates and control
// characters included, since the compiled serializer escapes them itself.
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('"', '\\', '\u2028', '\ud800', 'a\u0000b', '</script>'),
);
const time = fc.integer({ min: 0, max: 253_402_300_799_999 });

const session: fc.Arbitrary<Session> = fc
  .record({
    id: fc.uuid(),
    userId: text,
    tenantId: fc.option(text, { nil: null }),
    appType: text,
    ipAddress: fc.option(text, { nil: null }),
    userAgent: fc.option(text, { nil: null }),
    createdAt: time,
    lastActivityAt: time,
    absoluteExpiresAt: time,
    authenticatedAt: time,
    idleTimeout: fc.option(fc.nat(), { nil: null }),
    aal: fc.constantFrom(1 as const, 2 as const, 3 as const),
    methods: fc.array(fc.stringMatching(/^[A-Za-z0-9_.:-]{1,32}$/), { maxLength: 8 }),
  })
  .map((s) => ({
    ...s,
    createdAt: new Date(s.createdAt),
    lastActivityAt: new Date(s.lastActivityAt),
    absoluteExpiresAt: new Date(s.absoluteExpiresAt),
    authenticatedAt: new Date(s.authenticatedAt),
    active: true,
    endedAt: null,
    endReason: null,
  }));

const valid: fc.Arbitrary<SessionValidationResult> = fc.record({
  valid: fc.constant(true as const),
  session,
  secondsRemaining: fc.nat(),
  idleSecondsRemaining: fc.option(fc.nat(), { nil: null }),
  absoluteSecondsRemaining: fc.nat(),
  warning: fc.constantFrom('absolute' as const, 'idle' as const, null),
  touched: fc.boolean(),
});

const invalid = fc.oneof(
  fc.constantFrom(
    { valid: false, reason: 'not_found' },
    { valid: false, reason: 'idle' },
    { valid: false, reason: 'absolute' },
  ),
  fc.record({
    valid: fc.constant(false),
    reason: fc.constant('insufficient_authentication'),
    missing: fc.constantFrom(['max_age'], ['aal'], ['max_age', 'aal']),
    session,
  }),
) as fc.Arbitrary<SessionValidationResult>;

describe('serializeValidationView', () => {
  it('writes exactly what JSON.stringify writes, for any session a caller can create', () => {
    fc.assert(
      fc.property(fc.oneof(valid, invalid), time, (result, now) => {
        const view = toValidationView(result, now);
        expect(serializeValidationView(view)).toBe(JSON.stringify(view));
      }),
      { numRuns: 5_000 },
    );
  });

  it('writes only the documented fields, whatever else the view object carries', () => {
    const view = toValidationView({ valid: false, reason: 'idle' } as SessionValidationResult, 0);
    const extra = { ...view, tokenHash: 'ab'.repeat(32) };
    expect(JSON.parse(serializeValidationView(extra))).toEqual(view);
  });
});
