import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIsoTime, rememberingIsoFormatter } from '../src/iso-time.js';

describe('formatIsoTime', () => {
  it('writes what toISOString writes, for every millisecond from 1970 to 9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 253_402_300_799_999 }), (ms) => {
        expect(formatIsoTime(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it('gets the edges of days, months, leap years and the range right', () => {
    const edges = [
      '1970-01-01T00:00:00.000Z',
      '1999-12-31T23:59:59.999Z',
      '2000-02-29T12:00:00.005Z',
      '2024-02-29T23:59:59.099Z',
      '2100-03-01T00:00:00.000Z',
      '2026-03-01T09:00:00.000Z',
      '9999-12-31T23:59:59.999Z',
    ];
    for (const text of edges) {
      expect(formatIsoTime(Date.parse(text))).toBe(text);
      expect(formatIsoTime(Date.parse(text) - 1)).toBe(
        new Date(Date.parse(text) - 1).toISOString(),
      );
    }
  });

  it('leaves times outside that range, and fractions, to toISOString', () => {
    for (const ms of [-1, -62_198_755_200_000, 253_402_300_800_000, 1.5, 8.64e15]) {
      expect(formatIsoTime(ms)).toBe(new Date(ms).toISOString());
    }
    expect(() => formatIsoTime(Number.NaN)).toThrow(RangeError);
  });

  it('remembers only its last answer when asked for the current time', () => {
    const formatNow = rememberingIsoFormatter();
    for (const ms of [1_000, 1_000, 1_001, 1_000, 253_402_300_800_000, 1.5]) {
      expect(formatNow(ms)).toBe(new Date(ms).toISOString());
    }
    expect(() => formatNow(Number.NaN)).toThrow(RangeError);
  });
});
