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
