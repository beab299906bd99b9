import { invalidArgument } from './errors.js';

/**
 * A length of time: milliseconds as a number, or a string of one or more `<integer><unit>` parts
 * with units `ms`, `s`, `m`, `h`, `d` (`"90s"`, `"30m"`, `"12h"`, `"1h30m"`). A bare digit
 * string is milliseconds.
 *
 * @example
 * ```ts
 * const policy = { idleTimeout: '15m', absoluteTimeout: 8 * 60 * 60 * 1000 };
 * ```
 */
export type Duration = number | string;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+)(ms|s|m|h|d)/gy;
// One hundred years is far past any sane session length and keeps every sum a safe integer.
const MAX_MS = 100 * 365 * UNIT_MS.d!;

/**
 * Turns a {@link Duration} into whole milliseconds, or throws `INVALID_ARGUMENT` naming `field`.
 *
 * @example
 * ```ts
 * import { parseDuration } from 'curfew';
 *
 * parseDuration('1h30m'); // 5_400_000
 * parseDuration(90_000); // 90_000
 * ```
 */
export function parseDuration(value: unknown, field = 'duration'): number {
  let ms: number | undefined;
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) ms = value;
  } else if (typeof value === 'string') {
    const text = value.trim();
    if (/^\d+$/.test(text)) {
      ms = Number(text);
    } else if (text.length > 0 && text.length <= 64) {
      ms = 0;
      PART.lastIndex = 0;
      let consumed = 0;
      for (let match = PART.exec(text); match !== null; match = PART.exec(text)) {
        ms += Number(match[1]) * UNIT_MS[match[2]!]!;
        consumed = PART.lastIndex;
      }
      if (consumed !== text.length) ms = undefined;
    }
  }
  if (ms === undefined || !Number.isSafeInteger(ms) || ms > MAX_MS) {
    throw invalidArgument(
      field,
      'expected a non-negative whole number of milliseconds or a duration such as "90s", "30m", "12h"',
    );
  }
  return ms;
}

/**
 * Formats milliseconds the way a person writes them (`"30m"`, `"12h"`, `"1h30m"`).
 *
 * @example
 * ```ts
 * import { formatDuration } from 'curfew';
 *
 * formatDuration(1_800_000); // "30m"
 * ```
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms'] as const) {
    const size = UNIT_MS[unit]!;
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}
