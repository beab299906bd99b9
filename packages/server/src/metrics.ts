import { KNOWN_END_REASONS, type SessionEvent } from 'curfew';

/** Upper bounds (seconds) of the store latency histogram: sub-millisecond SQLite to slow networks. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const KNOWN_REASONS = new Set<string>(KNOWN_END_REASONS);

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/**
 * The service's counters, kept in memory and written in the Prometheus text exposition format
 * (version 0.0.4). Label values come only from bounded sets (route patterns, status codes, known
 * end reasons), so a client cannot grow the label space.
 *
 * @example
 * ```ts
 * const metrics = new Metrics();
 * const sessions = new SessionManager({ store: instrumentStore(store, metrics), onEvent: metrics.onEvent });
 * metrics.countRequest('POST', '/v1/sessions', 201);
 * console.log(metrics.render());
 * ```
 */
export class Metrics {
  // method → route → status → count: counting allocates nothing on the request path.
  readonly #requests = new Map<string, Map<string, Map<number, number>>>();
  readonly #validations = new Map<string, number>();
  readonly #ended = new Map<string, number>();
  readonly #storeLatency = new Map<string, Histogram>();
  #created = 0;
  #purged = 0;
  #clockSkew: number | null = null;

  /** Counts one answered HTTP request. `route` is the route pattern, never the raw path. */
  countRequest(method: string, route: string, status: number): void {
    let byRoute = this.#requests.get(method);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.#requests.set(method, byRoute);
    }
    let byStatus = byRoute.get(route);
    if (byStatus === undefined) {
      byStatus = new Map();
      byRoute.set(route, byStatus);
    }
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
  }

  /** Counts one validation by its result: `valid`, `not_found`, `idle` or `absolute`. */
  countValidation(
    result: 'valid' | 'not_found' | 'idle' | 'absolute' | 'insufficient_authentication',
  ): void {
    this.#validations.set(result, (this.#validations.get(result) ?? 0) + 1);
  }

  /** Records how long one store call took. */
  observeStore(operation: string, seconds: number): void {
    let histogram = this.#storeLatency.get(operation);
    if (histogram === undefined) {
      histogram = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#storeLatency.set(operation, histogram);
    }
    // One bucket per observation (the first that holds it); render() makes them cumulative.
    let bucket = 0;
    while (bucket < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[bucket]!) bucket += 1;
    if (bucket < LATENCY_BUCKETS.length) histogram.counts[bucket]! += 1;
    histogram.sum += seconds;
    histogram.count += 1;
  }

  /** Records the last measured clock skew to the store, in seconds (this clock minus the store's). */
  setClockSkew(seconds: number): void {
    this.#clockSkew = seconds;
  }

  /** Counts ended sessions deleted at the end of their retention. */
  countPurged(count: number): void {
    this.#purged += count;
  }

  /** A `SessionManager` event listener counting sessions created and ended (by reason). */
  readonly onEvent = (event: SessionEvent): void => {
    if (event.type === 'created') this.#created += 1;
    else if (event.type === 'ended') {
      // Caller-defined reasons are unbounded: fold them into one label value.
      const reason = KNOWN_REASONS.has(event.reason) ? event.reason : 'other';
      this.#ended.set(reason, (this.#ended.get(reason) ?? 0) + 1);
    }
  };

  /** The Prometheus text exposition of every metric. */
  render(): string {
    const lines: string[] = [];
    header(
      lines,
      'curfew_http_requests_total',
      'counter',
      'HTTP requests answered, by route and status.',
    );
    for (const [method, byRoute] of this.#requests) {
      for (const [route, byStatus] of byRoute) {
        for (const [status, value] of byStatus) {
          const labels = `method="${escapeLabel(method)}",route="${escapeLabel(route)}",status="${status}"`;
          lines.push(`curfew_http_requests_total{${labels}} ${value}`);
        }
      }
    }

    header(lines, 'curfew_validations_total', 'counter', 'Session validations, by result.');
    for (const [result, value] of this.#validations) {
      lines.push(`curfew_validations_total{result="${result}"} ${value}`);
    }

    header(lines, 'curfew_sessions_created_total', 'counter', 'Sessions created by this process.');
    lines.push(`curfew_sessions_created_total ${this.#created}`);

    header(
      lines,
      'curfew_sessions_ended_total',
      'counter',
      'Sessions ended by this process, by reason.',
    );
    for (const [reason, value] of this.#ended) {
      lines.push(`curfew_sessions_ended_total{reason="${reason}"} ${value}`);
    }

    header(
      lines,
      'curfew_sessions_purged_total',
      'counter',
      'Ended sessions deleted by this process at the end of their retention (CURFEW_RETENTION).',
    );
    lines.push(`curfew_sessions_purged_total ${this.#purged}`);

    if (this.#clockSkew !== null) {
      header(
        lines,
        'curfew_store_clock_skew_seconds',
        'gauge',
        "This instance's clock minus the store server's, as last measured (every minute).",
      );
      lines.push(`curfew_store_clock_skew_seconds ${this.#clockSkew}`);
    }

    const name = 'curfew_store_duration_seconds';
    header(lines, name, 'histogram', 'Time spent in session store calls, by operation.');
    for (const [operation, histogram] of this.#storeLatency) {
      const op = `operation="${escapeLabel(operation)}"`;
      let cumulative = 0;
      LATENCY_BUCKETS.forEach((bound, i) => {
        cumulative += histogram.counts[i]!;
        lines.push(`${name}_bucket{${op},le="${bound}"} ${cumulative}`);
      });
      lines.push(`${name}_bucket{${op},le="+Inf"} ${histogram.count}`);
      lines.push(`${name}_sum{${op}} ${histogram.sum}`);
      lines.push(`${name}_count{${op}} ${histogram.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}

/**
 * The media type of {@link Metrics.render}'s output.
 *
 * @example
 * ```ts
 * reply.type(METRICS_CONTENT_TYPE).send(metrics.render());
 * ```
 */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function header(lines: string[], name: string, type: string, help: string): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}
