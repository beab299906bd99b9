import type { SessionManager } from 'curfew';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

/**
 * The last measurement of how far this instance's clock is from the store server's.
 *
 * @example
 * ```ts
 * const last: ClockSkewReading = { skew: 1_200, roundTrip: 0.4 };
 * ```
 */
export interface ClockSkewReading {
  /** This clock minus the store's, milliseconds (positive: this instance is ahead). */
  skew: number;
  /** Milliseconds the measurement took; the skew is right to within half of it. */
  roundTrip: number;
}

/**
 * Watches the clock skew between this instance and the store; see {@link startClockSkewMonitor}.
 *
 * @example
 * ```ts
 * const problem = monitor.unready(); // a reason for /readyz to fail, or null
 * ```
 */
export interface ClockSkewMonitor {
  /** The last reading; `null` before the first, or for a store on this machine's clock. */
  last(): ClockSkewReading | null;
  /** Why the instance should not take traffic, or `null`: the skew is past `max`. */
  unready(): string | null;
  /** Measures now (the timer calls this every `interval`). */
  check(): Promise<void>;
  stop(): void;
}

/**
 * Measures the skew between this instance's clock and the store server's (PostgreSQL
 * `clock_timestamp()`, MySQL `NOW(6)`, Redis `TIME`) now and every `interval`, exports it as
 * `curfew_store_clock_skew_seconds`, logs a warning past `warn`, and makes {@link
 * ClockSkewMonitor.unready} report past `max`, so that `/readyz` takes the instance out of
 * rotation. An instance whose clock runs fast records activity in the future and so stretches
 * every session it touches by its skew; one that runs slow accepts sessions already expired.
 * Stores on this machine's clock (memory, SQLite) have nothing to measure. A failed measurement
 * (the store is down) keeps the last reading: `/readyz` already fails on the store itself.
 *
 * @example
 * ```ts
 * const monitor = startClockSkewMonitor({ manager, warn: 1_000, max: 10_000, logger, metrics });
 * await monitor.check();
 * ```
 */
export function startClockSkewMonitor(options: {
  manager: SessionManager;
  /** Milliseconds of skew past which a warning is logged. */
  warn: number;
  /** Milliseconds of skew past which the instance reports itself not ready. */
  max: number;
  logger?: Logger | undefined;
  metrics?: Metrics | undefined;
  /** Milliseconds between measurements; default one minute. */
  interval?: number | undefined;
}): ClockSkewMonitor {
  const { manager, warn, max, logger, metrics } = options;
  let last: ClockSkewReading | null = null;
  let checking: Promise<void> | undefined;

  const check = (): Promise<void> => {
    checking ??= (async () => {
      try {
        const reading = await manager.measureClockSkew();
        if (reading === null) return;
        last = reading;
        metrics?.setClockSkew(reading.skew / 1000);
        const size = Math.abs(reading.skew);
        if (size > warn) {
          logger?.warn(
            {
              skewMs: Math.round(reading.skew),
              roundTripMs: Math.round(reading.roundTrip * 10) / 10,
              warnMs: warn,
              maxMs: max,
              unready: size > max,
            },
            size > max
              ? "this instance's clock is too far from the store's: /readyz fails until it is fixed"
              : "this instance's clock is off from the store's: every session it touches is stretched by the difference",
          );
        }
      } catch (error) {
        logger?.debug({ code: (error as { code?: unknown }).code }, 'clock skew not measured');
      } finally {
        checking = undefined;
      }
    })();
    return checking;
  };

  const timer = setInterval(() => void check(), options.interval ?? 60_000);
  timer.unref();
  return {
    last: () => last,
    unready: () =>
      last !== null && Math.abs(last.skew) > max
        ? `this instance's clock is ${Math.round(last.skew)} ms from the store's; at most ${max} ms is allowed`
        : null,
    check,
    stop: () => clearInterval(timer),
  };
}
