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

  it('keeps each remembered day right when calls go back and forth between days', () => {
    // A validation answer formats times on today and tomorrow alternately; a third day now and
    // then must not leave either remembered day holding the other's date.
    const day = 86_400_000;
    const base = Date.parse('2026-12-31T18:00:00.000Z');
    const offsets = [0, 1, 0, 0, 1, 2, 1, 0, 2, 2, 0, -1, 1, -1, 0, 400, 1, 0];
    for (const [i, offset] of offsets.entries()) {
      const ms = base + offset * day + i * 61_001;
      expect(formatIsoTime(ms)).toBe(new Date(ms).toISOString());
    }
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: day - 1 }),
        (days, within) => {
          for (const offset of days) {
            const ms = base + offset * day + within;
            expect(formatIsoTime(ms)).toBe(new Date(ms).toISOString());
          }
        },
      ),
      { numRuns: 2_000 },
    );
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
