// The timing and printing helpers every engine's benchmark shares, so that "ours" and "floor" are
// measured and reported the same way on every engine. Not a benchmark itself: run.js runs only
// *.bench.js files.
import { createHash } from 'node:crypto';

/** A whole number with thousands separators. */
export const fmt = (n) => Math.round(n).toLocaleString('en-US');

/** A fraction as a percentage with one decimal. */
export const pct = (x) => `${(x * 100).toFixed(1)}%`;

/** A progress line on stderr, so stdout holds only the figures. */
export const progress = (message) => process.stderr.write(`… ${message}\n`);

/** The lowercase hex SHA-256 of a token: what the stores keep. */
export const sha256 = (token) => createHash('sha256').update(token, 'utf8').digest('hex');

/** Session i's token: known without storing a million of them. */
export const token = (i) => `bench-token-${String(i).padStart(12, '0')}`;

/** Runs `step` with `inFlight` callers for about `ms`; returns operations per second. */
export async function rate(step, inFlight, ms) {
  let ops = 0;
  const start = performance.now();
  const end = start + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await step();
        ops += 1;
      }
    }),
  );
  return (ops / (performance.now() - start)) * 1000;
}

/**
 * Measures every run's `ours` and `floor` (functions resolving with a rate), round after round,
 * rotating which run goes first and, within a run, which of the two does: drift on a shared
 * machine then hits every figure alike. Returns per run its rates and per-round ratios, in round
 * order, so figures from the same round can be compared.
 */
export async function alternateRounds(runs, rounds) {
  const samples = runs.map(() => ({ ours: [], floor: [], ratio: [] }));
  for (let round = 0; round < rounds; round += 1) {
    for (let k = 0; k < runs.length; k += 1) {
      const i = (round + k) % runs.length;
      let ours;
      let floor;
      if ((round + k) % 2 === 0) {
        ours = await runs[i].ours();
        floor = await runs[i].floor();
      } else {
        floor = await runs[i].floor();
        ours = await runs[i].ours();
      }
      samples[i].ours.push(ours);
      samples[i].floor.push(floor);
      samples[i].ratio.push(ours / floor);
    }
  }
  return samples;
}

/** The median over rounds of how much slower `large` was than `small` in the same round. */
export function roundSlowdown(small, large) {
  return median(small.map((rate, round) => 1 - large[round] / rate));
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The `p`-quantile (0 to 1) of values already sorted ascending. */
export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Prints rows of strings as an aligned table; `rightAligned` lists the numeric columns. */
export function printTable(header, lines, rightAligned) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cells) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(line(l));
}
