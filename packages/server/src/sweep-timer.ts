/**
 * Options for {@link startSweepTimer}.
 *
 * @example
 * ```ts
 * const options: SweepTimerOptions = { interval: 60_000, sweep: () => sessions.sweepExpired() };
 * ```
 */
export interface SweepTimerOptions {
  /** Mean milliseconds between sweeps. */
  interval: number;
  /** Runs one sweep; a rejection is passed to `onError` and the timer goes on. */
  sweep: () => Promise<unknown>;
  onError?: (error: unknown) => void;
  /** Default `Math.random`; tests pass a fixed one. */
  random?: () => number;
}

/**
 * Runs `sweep` about every `interval`, each wait drawn at random from 75% to 125% of it, the
 * first from 0 to 100%, so instances started together drift apart rather than sweep in step.
 * Several instances sweeping at once is safe (the store ends each session once); the jitter
 * only keeps them from contending for the same rows. A sweep never overlaps the previous one:
 * the next wait starts when a sweep has finished. The timer does not keep the process alive.
 *
 * @example
 * ```ts
 * const stop = startSweepTimer({ interval: 60_000, sweep: () => sessions.sweepExpired() });
 * await stop(); // waits for a sweep in progress
 * ```
 */
export function startSweepTimer(options: SweepTimerOptions): () => Promise<void> {
  const random = options.random ?? Math.random;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const schedule = (delay: number) => {
    if (stopped) return;
    timer = setTimeout(run, Math.max(0, Math.round(delay)));
    timer.unref();
  };
  const run = () => {
    running = options.sweep().then(
      () => undefined,
      (error: unknown) => options.onError?.(error),
    );
    void running.finally(() => {
      running = undefined;
      schedule(options.interval * (0.75 + 0.5 * random()));
    });
  };

  schedule(options.interval * random());
  return async () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    await running;
  };
}
