// LatencyHistogram replaces prom-client's Histogram on the request path (for speed); whatever a
// scraper reads must be exactly what prom-client's own histogram would have written.
import { Histogram, Registry } from 'prom-client';
import { expect, it } from 'vitest';
import { LatencyHistogram } from '../src/latency-histogram.js';

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

function both() {
  const theirs = new Registry();
  const ours = new Registry();
  const histogram = new Histogram({
    name: 'curfew_store_duration_seconds',
    help: 'Time spent in session store calls, by operation and store.',
    labelNames: ['operation', 'store'],
    buckets: BUCKETS,
    registers: [theirs],
  });
  const latency = new LatencyHistogram({
    name: 'curfew_store_duration_seconds',
    help: 'Time spent in session store calls, by operation and store.',
    label: 'operation',
    buckets: BUCKETS,
    constLabels: { store: 'sql"ite\\' },
  });
  ours.registerMetric(latency as never);
  return {
    theirs,
    ours,
    observe(operation: string, seconds: number) {
      histogram.observe({ operation, store: 'sql"ite\\' }, seconds);
      latency.observe(operation, seconds);
    },
    latency,
  };
}

it('writes the same text and JSON as a prom-client Histogram for the same observations', async () => {
  const { theirs, ours, observe } = both();
  // Nothing observed: no series at all, in both.
  expect(await ours.metrics()).toBe(await theirs.metrics());
  // Values on bounds (in that bucket), between them, past the last, zero; a second operation.
  const values = [0, 0.0005, 0.0004, 0.001, 0.0011, 0.003, 0.1, 0.2500001, 2.5, 3, 99];
  for (const value of values) observe('validate', value);
  observe('insert', 0.02);
  observe('validate', 0.0007);
  // A label value with characters the text format must escape.
  observe('weird "op"\n', 0.01);
  const text = await ours.metrics();
  expect(text).toBe(await theirs.metrics());
  expect(text).toContain(
    'curfew_store_duration_seconds_bucket{le="0.001",operation="validate",store="sql\\"ite\\\\"} 5',
  );
  expect(await ours.getMetricsAsJSON()).toEqual(await theirs.getMetricsAsJSON());
});

it('counts many observations like prom-client does, sums included', async () => {
  const { theirs, ours, observe } = both();
  let x = 0.123;
  for (let i = 0; i < 5_000; i++) {
    x = (x * 9301 + 49297) % 233280;
    observe(i % 3 === 0 ? 'rotate' : 'validate', (x / 233280) * 0.05);
  }
  expect(await ours.metrics()).toBe(await theirs.metrics());
});
