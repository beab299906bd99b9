/**
 * A clock that moves only when told to, for tests: pass `clock.now` as the manager's `clock` and
 * call `advance` instead of sleeping.
 *
 * @example
 * ```ts
 * import { ManualClock } from 'curfew/testing';
 *
 * const clock = new ManualClock(Date.parse('2026-01-01T00:00:00Z'));
 * const sessions = new SessionManager({ store, clock: clock.now });
 * clock.advance(30 * 60_000);
 * ```
 */
export class ManualClock {
  #time: number;

  constructor(start = Date.parse('2026-01-01T00:00:00.000Z')) {
    this.#time = start;
  }

  /** The current time in epoch milliseconds; bound, so it can be passed around as a function. */
  readonly now = (): number => this.#time;

  /** Moves the clock forward (or back, with a negative number) by `ms`. */
  advance(ms: number): void {
    this.#time += ms;
  }

  /** Sets the clock to an absolute time. */
  set(time: number | Date): void {
    this.#time = typeof time === 'number' ? time : time.getTime();
  }
}
