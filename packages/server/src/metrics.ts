import { KNOWN_END_REASONS, type SessionEvent } from 'curfew';
import {
  Counter,
  collectDefaultMetrics,
  Gauge,
  type Counter as PromCounter,
  Registry,
} from 'prom-client';
import { LatencyHistogram } from './latency-histogram.js';

/** Upper bounds (seconds) of the store latency histogram: sub-millisecond SQLite to slow networks. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const KNOWN_REASONS = new Set<string>(KNOWN_END_REASONS);

/** A count kept in a plain number, and the labels it is written out with. */
interface Tally<L extends string> {
  readonly labels: Record<L, string>;
  n: number;
}

/**
 * The service's metrics: a prom-client registry with the process's own (CPU, memory, heap
 * spaces, event-loop lag, GC pauses, open handles: prom-client's defaults) and curfew's counters,
 * written in the Prometheus text exposition format. Label values come only from bounded sets
 * (route patterns, status codes, known end reasons, store operations), so a client cannot grow
 * the label space. Each registry is its own: two services in one process never mix counts.
 *
 * @example
 * ```ts
 * const metrics = new Metrics({ store: 'postgres' });
 * const sessions = new SessionManager({ store: instrumentStore(store, metrics), onEvent: metrics.onEvent });
 * metrics.countRequest('POST', '/v1/sessions', 201);
 * console.log(await metrics.render());
 * ```
 */
export class Metrics {
  /** The prom-client registry, for anything else an embedding app wants to expose with these. */
  readonly registry = new Registry();
  readonly #store: string;
  readonly #created: PromCounter;
  readonly #ended: PromCounter<'reason'>;
  readonly #purged: PromCounter;
  readonly #clockSkew: Gauge;
  readonly #storeLatency: LatencyHistogram;
  // Every request counts itself, and its validation, and times its store calls. A prom-client
  // metric would hash its labels on each of those (see LatencyHistogram); so the request path
  // adds to plain numbers found through nested Maps, and the counters take those numbers when
  // scraped (their collect()).
  readonly #requestTallies = new Map<
    string,
    Map<string, Map<number, Tally<'method' | 'route' | 'status'>>>
  >();
  readonly #validationTallies = new Map<string, Tally<'result'>>();
  #clockSkewKnown = false;

  /**
   * @param options.store  The store kind, as the `store` label of the latency histogram
   *   (`sqlite`, `postgres`, `mysql`, `redis`, `redis-cluster`, `memory`); default `unknown`.
   * @param options.defaultMetrics  Collect prom-client's process metrics (default `true`).
   */
  constructor(options: { store?: string; defaultMetrics?: boolean } = {}) {
    this.#store = options.store ?? 'unknown';
    const registers = [this.registry];
    const requestTallies = this.#requestTallies;
    new Counter({
      name: 'curfew_http_requests_total',
      help: 'HTTP requests answered, by route and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
      collect() {
        this.reset();
        for (const byRoute of requestTallies.values()) {
          for (const byStatus of byRoute.values()) {
            for (const tally of byStatus.values()) this.inc(tally.labels, tally.n);
          }
        }
      },
    });
    const validationTallies = this.#validationTallies;
    new Counter({
      name: 'curfew_validations_total',
      help: 'Session validations, by result.',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        for (const tally of validationTallies.values()) this.inc(tally.labels, tally.n);
      },
    });
    this.#created = new Counter({
      name: 'curfew_sessions_created_total',
      help: 'Sessions created by this process.',
      registers,
    });
    this.#ended = new Counter({
      name: 'curfew_sessions_ended_total',
      help: 'Sessions ended by this process, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.#purged = new Counter({
      name: 'curfew_sessions_purged_total',
      help: 'Ended sessions deleted by this process at the end of their retention (CURFEW_RETENTION).',
      registers,
    });
    this.#clockSkew = new Gauge({
      name: 'curfew_store_clock_skew_seconds',
      help: "This instance's clock minus the store server's, as last measured (every minute).",
      registers: [],
    });
    this.#storeLatency = new LatencyHistogram({
      name: 'curfew_store_duration_seconds',
      help: 'Time spent in session store calls, by operation and store.',
      label: 'operation',
      buckets: LATENCY_BUCKETS,
      constLabels: { store: this.#store },
    });
    this.registry.registerMetric(this.#storeLatency as never);
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Counts one answered HTTP request. `route` is the route pattern, never the raw path. */
  countRequest(method: string, route: string, status: number): void {
    let byRoute = this.#requestTallies.get(method);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.#requestTallies.set(method, byRoute);
    }
    let byStatus = byRoute.get(route);
    if (byStatus === undefined) {
      byStatus = new Map();
      byRoute.set(route, byStatus);
    }
    let tally = byStatus.get(status);
    if (tally === undefined) {
      tally = { labels: { method, route, status: String(status) }, n: 0 };
      byStatus.set(status, tally);
    }
    tally.n += 1;
  }

  /** Counts one validation by its result: `valid`, `not_found`, `idle` or `absolute`. */
  countValidation(
    result: 'valid' | 'not_found' | 'idle' | 'absolute' | 'insufficient_authentication',
  ): void {
    let tally = this.#validationTallies.get(result);
    if (tally === undefined) {
      tally = { labels: { result }, n: 0 };
      this.#validationTallies.set(result, tally);
    }
    tally.n += 1;
  }

  /** Records how long one store call took. */
  observeStore(operation: string, seconds: number): void {
    this.#storeLatency.observe(operation, seconds);
  }

  /** Records the last measured clock skew to the store, in seconds (this clock minus the store's). */
  setClockSkew(seconds: number): void {
    // Registered at the first reading: a store without a clock of its own shows no such gauge.
    if (!this.#clockSkewKnown) {
      this.#clockSkewKnown = true;
      this.registry.registerMetric(this.#clockSkew);
    }
    this.#clockSkew.set(seconds);
  }

  /** Counts ended sessions deleted at the end of their retention. */
  countPurged(count: number): void {
    this.#purged.inc(count);
  }

  /** A `SessionManager` event listener counting sessions created and ended (by reason). */
  readonly onEvent = (event: SessionEvent): void => {
    if (event.type === 'created') this.#created.inc();
    else if (event.type === 'ended') {
      // Caller-defined reasons are unbounded: fold them into one label value.
      this.#ended.labels(KNOWN_REASONS.has(event.reason) ? event.reason : 'other').inc();
    }
  };

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/**
 * The media type of {@link Metrics.render}'s output.
 *
 * @example
 * ```ts
 * reply.type(METRICS_CONTENT_TYPE).send(await metrics.render());
 * ```
 */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
