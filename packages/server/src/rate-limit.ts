/**
 * A per-key request budget: `limit` requests per `window`, refilled continuously (a token bucket
 * holding at most `limit`), so a key may burst to `limit` and then gets `limit / window` a
 * millisecond. Kept in this process: each instance enforces its own budget.
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter({ limit: 100, window: 1_000 });
 * const wait = limiter.take('billing'); // 0: go ahead; otherwise milliseconds until one is free
 * ```
 */
export class RateLimiter {
  readonly #limit: number;
  readonly #perMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /**
   * @param options.now  A monotonic clock in milliseconds (default `performance.now`); tests
   *   pass a controllable one.
   */
  constructor(options: { limit: number; window: number; now?: () => number }) {
    this.#limit = options.limit;
    this.#perMs = options.limit / options.window;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Takes one request from `key`'s budget: 0 if there was one, else the milliseconds to wait. */
  take(key: string): number {
    const now = this.#now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#limit, at: now };
      this.#buckets.set(key, bucket);
    } else {
      bucket.tokens = Math.min(this.#limit, bucket.tokens + (now - bucket.at) * this.#perMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return (1 - bucket.tokens) / this.#perMs;
  }
}
