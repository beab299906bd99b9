/** One line of a metric, as prom-client's registry reads it. */
interface SeriesValue {
  labels: Record<string, string | number>;
  sharedLabels?: Record<string, string>;
  value: number;
  metricName: string;
  /** `null` on buckets, absent on the sum and count, as prom-client has them (no exemplars). */
  exemplar?: null;
}

/** A metric as prom-client's registry reads it. */
interface MetricData {
  name: string;
  help: string;
  type: 'histogram';
  values: SeriesValue[];
  aggregator: 'sum';
}

interface Tally {
  /** Observations in each bucket alone (not yet cumulative), one per upper bound. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
  readonly labels: Record<string, string>;
}

/**
 * A histogram of durations by one label, kept as plain numbers per label value and handed to a
 * prom-client registry in prom-client's own shape, which the registry then writes out exactly as
 * it writes a prom-client `Histogram` (a test compares the two texts). It exists because a
 * prom-client metric hashes its labels on every `observe` and `inc`, a measurable share of each
 * validation (docs/benchmarks.md, "Against the floor"); here an
 * observation is a Map lookup, a bucket search and three additions.
 *
 * @example
 * ```ts
 * const latency = new LatencyHistogram({ name: 'curfew_store_duration_seconds', help: '…',
 *   label: 'operation', buckets: [0.001, 0.01, 0.1], constLabels: { store: 'sqlite' } });
 * registry.registerMetric(latency as never);
 * latency.observe('validate', 0.0004);
 * ```
 */
export class LatencyHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly #label: string;
  readonly #bounds: readonly number[];
  readonly #constLabels: Record<string, string>;
  readonly #tallies = new Map<string, Tally>();

  constructor(options: {
    name: string;
    help: string;
    /** The one label that varies by observation. */
    label: string;
    /** Upper bounds, ascending; `+Inf` is added. */
    buckets: readonly number[];
    /** Labels every series carries, after the varying one (as prom-client orders label names). */
    constLabels?: Record<string, string>;
  }) {
    this.name = options.name;
    this.help = options.help;
    this.#label = options.label;
    this.#bounds = options.buckets;
    this.#constLabels = options.constLabels ?? {};
  }

  /** Records one duration (seconds) under `value` of the label. */
  observe(value: string, seconds: number): void {
    let tally = this.#tallies.get(value);
    if (tally === undefined) {
      tally = {
        counts: new Float64Array(this.#bounds.length),
        sum: 0,
        count: 0,
        labels: { [this.#label]: value, ...this.#constLabels },
      };
      this.#tallies.set(value, tally);
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      // As prom-client: a value equal to a bound is in that bound's bucket.
      if (seconds <= bounds[i]!) {
        tally.counts[i]! += 1;
        break;
      }
    }
    tally.sum += seconds;
    tally.count += 1;
  }

  /** The series as prom-client's registry reads a histogram for the text format. */
  getForPromString(): MetricData {
    const values: SeriesValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const tally of this.#tallies.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += tally.counts[i]!;
        values.push({ ...pair({ le: bound }, cumulative, bucket, tally.labels), exemplar: null });
      });
      values.push({ ...pair({ le: '+Inf' }, tally.count, bucket, tally.labels), exemplar: null });
      values.push(pair({}, tally.sum, `${this.name}_sum`, tally.labels));
      values.push(pair({}, tally.count, `${this.name}_count`, tally.labels));
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    };
  }

  /** The series as prom-client's registry reads a metric for JSON (labels flattened). */
  get(): MetricData {
    const data = this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, ...rest }) => ({
        ...rest,
        labels: { ...rest.labels, ...sharedLabels },
      })),
    };
  }

  /** Forgets every observation. */
  reset(): void {
    this.#tallies.clear();
  }
}

// The value shape prom-client's own histogram gives its registry: its `le` as labels, the
// series' labels as shared labels (written after `le`).
function pair(
  labels: Record<string, string | number>,
  value: number,
  metricName: string,
  sharedLabels: Record<string, string>,
): SeriesValue {
  return { labels, sharedLabels, value, metricName };
}
