// Draws the curves of `npm run soak` (resident memory, heap used, event-loop lag of each store's
// instance, second by second) as one standalone SVG, so the report can show that nothing grows
// without a plotting library or a browser in the loop. Every y axis starts at zero: a soak chart
// answers "does it grow?", and a zoomed axis would make noise look like a leak.

const WIDTH = 900;
const MARGIN = { left: 68, right: 28 };
const PLOT_WIDTH = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_HEIGHT = 170;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
// Each at least 4.5:1 on white (WCAG AA for text, so also for lines); blue and orange first, the
// pair most readers tell apart whatever their colour vision.
const COLOURS = ['#0072b2', '#c2410c', '#047857', '#7e22ce', '#be123c', '#0e7490'];
const TEXT = '#1f2328';
const MUTED = '#57606a';
const GRID = '#d8dee4';
const BOUND = '#4b5563';
// Beyond this many points a line is thinned: a ten-minute soak sampled each second is 600, an
// overnight one 30,000, more than a reader (or a browser) needs.
const MAX_POINTS = 1000;

const CHARTS = [
  { key: 'rssMiB', title: 'Resident memory (RSS)', unit: 'MiB', short: 'RSS' },
  { key: 'heapMiB', title: 'Heap used', unit: 'MiB', short: 'heap' },
  { key: 'lagMs', title: 'Event-loop lag, p99', unit: 'ms', short: 'lag p99' },
];

/** Text and attribute values alike: labels come from the caller and may hold markup. */
function escapeXml(value) {
  return String(value).replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[char],
  );
}

// Math.max(...list) overflows the stack on long soaks; these do not.
const maxOf = (list, start) => list.reduce((m, v) => Math.max(m, v), start);
const minOf = (list, start) => list.reduce((m, v) => Math.min(m, v), start);

/** Coordinates to one decimal: finer is invisible and only makes the file bigger. */
const r1 = (n) => Math.round(n * 10) / 10;

/** A step of 1, 2 or 5 times a power of ten that cuts `span` into about `count` parts. */
function niceStep(span, count) {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** Ticks from zero to the first one at or above `max`. */
function ticks(max, count) {
  const step = niceStep(max > 0 ? max : 1, count);
  const last = Math.max(step, Math.ceil(max / step - 1e-9) * step);
  const list = [];
  // Multiplying, not adding, so 0.1 + 0.2 does not print as 0.30000000000000004.
  for (let i = 0; i * step <= last + step / 2; i += 1) list.push(i * step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return { list, max: last, label: (n) => n.toFixed(decimals) };
}

/**
 * The points of one line as runs: a sample without a value (NaN: /metrics did not answer) or a
 * gap in time of more than three sampling intervals breaks the line, so a missing minute is not
 * drawn as a straight line across it.
 */
function runs(samples, key) {
  const points = samples
    .filter((s) => Number.isFinite(s.t))
    .map((s) => ({ t: s.t, v: s[key] }))
    .sort((a, b) => a.t - b.t);
  const intervals = points
    .slice(1)
    .map((p, i) => p.t - points[i].t)
    .sort((a, b) => a - b);
  const gap = 3 * (intervals[Math.floor(intervals.length / 2)] ?? Number.POSITIVE_INFINITY);
  const result = [];
  let current = [];
  let previous = null;
  for (const point of points) {
    if (!Number.isFinite(point.v) || (previous !== null && point.t - previous.t > gap)) {
      if (current.length > 0) result.push(current);
      current = [];
    }
    if (Number.isFinite(point.v)) current.push(point);
    previous = point;
  }
  if (current.length > 0) result.push(current);
  return result;
}

/**
 * Thins runs to about MAX_POINTS in all, keeping the lowest and highest point of each time
 * bucket: a lag spike is the one thing a soak chart must not smooth away.
 */
function thin(lines, t0, t1) {
  const total = lines.reduce((sum, line) => sum + line.length, 0);
  if (total <= MAX_POINTS) return lines;
  const width = (t1 - t0) / (MAX_POINTS / 2) || 1;
  return lines.map((line) => {
    const kept = [];
    let bucket = Number.NaN;
    let low = null;
    let high = null;
    const keep = () => {
      if (low === null || high === null) return;
      if (low === high) kept.push(low);
      else kept.push(...(low.t <= high.t ? [low, high] : [high, low]));
    };
    for (const point of line) {
      const index = Math.floor((point.t - t0) / width);
      if (index !== bucket) {
        keep();
        bucket = index;
        low = point;
        high = point;
      } else {
        if (point.v < low.v) low = point;
        if (point.v > high.v) high = point;
      }
    }
    keep();
    return kept;
  });
}

/** A legend as rows of [swatch, label] that wrap at the plot's width. */
function legend(items, top) {
  const parts = [];
  let x = MARGIN.left;
  let y = top;
  for (const { label, colour, dashed } of items) {
    // No text metrics without a renderer: 7.5 px a character at 13 px covers most labels.
    const width = 28 + 8 + label.length * 7.5 + 24;
    if (x > MARGIN.left && x + width > WIDTH - MARGIN.right) {
      x = MARGIN.left;
      y += 22;
    }
    const dash = dashed ? ' stroke-dasharray="6 4"' : '';
    parts.push(
      `<line x1="${x}" y1="${y}" x2="${x + 28}" y2="${y}" stroke="${colour}" ` +
        `stroke-width="3"${dash}/>`,
      `<text x="${x + 36}" y="${y + 4.5}">${escapeXml(label)}</text>`,
    );
    x += width;
  }
  return { svg: parts.join('\n'), bottom: y + 12 };
}

/** A one-sentence summary per series, for the <desc> a screen reader reads instead. */
function describe(series, minutes) {
  const f1 = (n) => (Number.isFinite(n) ? n.toFixed(1) : 'no data');
  const sentences = series.map(({ label, samples }) => {
    const ranges = CHARTS.map(({ key, unit, short }) => {
      const values = samples.map((s) => s[key]).filter(Number.isFinite);
      if (values.length === 0) return `${short}: no data`;
      const low = minOf(values, Number.POSITIVE_INFINITY);
      return `${short} ${f1(low)} to ${f1(maxOf(values, low))} ${unit}`;
    });
    return `${label}: ${ranges.join(', ')}.`;
  });
  return (
    `Three charts over ${f1(minutes)} minutes: resident memory, heap used and event-loop lag ` +
    `p99 of each series, one line per series. ${sentences.join(' ')}`
  );
}

/**
 * Draws the soak curves: three stacked charts sharing the time axis (RSS in MiB, heap used in
 * MiB, event-loop lag p99 in ms), one line per series, a legend, and for each quantity in
 * `bounds` a dashed line labelled "bound". Returns a standalone SVG document.
 *
 * @param {Array<{ label: string, samples: Array<{ t: number, rssMiB: number, heapMiB: number,
 *   lagMs: number }> }>} series `t` in seconds since the start; a value that is not a finite
 *   number is a gap in its line
 * @param {{ title?: string, bounds?: { rssMiB?: number, heapMiB?: number, lagMs?: number } }}
 *   [options]
 * @returns {string}
 */
export function plotSoak(series, { title, bounds = {} } = {}) {
  const allTimes = series.flatMap(({ samples }) => samples.map((s) => s.t)).filter(Number.isFinite);
  const tMax = maxOf(allTimes, 60);
  const xTicks = ticks(tMax / 60, 8);
  const xOf = (t) => MARGIN.left + (t / 60 / xTicks.max) * PLOT_WIDTH;
  const boundOf = (key) => (Number.isFinite(bounds?.[key]) ? bounds[key] : null);

  const heading = title || 'Soak: memory and event-loop lag over time';
  const parts = [];
  let y = 30;
  parts.push(
    `<text x="${MARGIN.left}" y="${y}" font-size="16" font-weight="600">` +
      `${escapeXml(heading)}</text>`,
  );
  const items = series.map(({ label }, i) => ({
    label: String(label),
    colour: COLOURS[i % COLOURS.length],
    dashed: false,
  }));
  if (CHARTS.some(({ key }) => boundOf(key) !== null)) {
    items.push({ label: 'bound', colour: BOUND, dashed: true });
  }
  const key = legend(items, y + 24);
  parts.push(key.svg);
  y = key.bottom + 8;

  for (const chart of CHARTS) {
    const lines = series.map(({ samples }) => thin(runs(samples, chart.key), 0, tMax));
    const bound = boundOf(chart.key);
    const values = lines.flat(2).map((p) => p.v);
    const peak = maxOf(values, Math.max(0, bound ?? 0));
    const yTicks = ticks(peak, 5);
    const top = y + 26;
    const bottom = top + PLOT_HEIGHT;
    const yOf = (v) => bottom - (v / yTicks.max) * PLOT_HEIGHT;

    parts.push(
      `<g role="group" aria-label="${escapeXml(`${chart.title}, ${chart.unit}`)}">`,
      `<text x="${MARGIN.left}" y="${y + 14}" font-size="14" font-weight="600">` +
        `${escapeXml(chart.title)} <tspan font-weight="400" fill="${MUTED}">` +
        `(${chart.unit})</tspan></text>`,
    );
    for (const v of yTicks.list) {
      const ty = r1(yOf(v));
      parts.push(
        `<line x1="${MARGIN.left}" y1="${ty}" x2="${WIDTH - MARGIN.right}" y2="${ty}" ` +
          `stroke="${GRID}"/>`,
        `<text x="${MARGIN.left - 8}" y="${ty + 4}" text-anchor="end" fill="${MUTED}">` +
          `${yTicks.label(v)}</text>`,
      );
    }
    for (const minute of xTicks.list) {
      const tx = r1(xOf(minute * 60));
      parts.push(
        `<line x1="${tx}" y1="${bottom}" x2="${tx}" y2="${bottom + 5}" stroke="${MUTED}"/>`,
        `<text x="${tx}" y="${bottom + 19}" text-anchor="middle" fill="${MUTED}">` +
          `${xTicks.label(minute)}</text>`,
      );
    }
    parts.push(
      `<line x1="${MARGIN.left}" y1="${bottom}" x2="${WIDTH - MARGIN.right}" y2="${bottom}" ` +
        `stroke="${MUTED}"/>`,
    );
    if (bound !== null) {
      const by = r1(yOf(bound));
      parts.push(
        `<line class="bound" x1="${MARGIN.left}" y1="${by}" x2="${WIDTH - MARGIN.right}" ` +
          `y2="${by}" stroke="${BOUND}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
        `<text x="${WIDTH - MARGIN.right - 4}" y="${by - 5}" text-anchor="end" fill="${TEXT}">` +
          `bound</text>`,
      );
    }
    lines.forEach((line, i) => {
      // One path per series per chart, a subpath per run; a lone point gets a zero-length
      // segment so its round cap draws a dot.
      const d = line
        .filter((run) => run.length > 0)
        .map((run) => {
          const coordinates = run.map((p) => `${r1(xOf(p.t))} ${r1(yOf(p.v))}`);
          return `M${coordinates.join('L')}${run.length === 1 ? 'h0' : ''}`;
        })
        .join('');
      if (d === '') return;
      const colour = COLOURS[i % COLOURS.length];
      // Past the palette, a dash keeps two series of the same colour apart.
      const dash = i >= COLOURS.length ? ' stroke-dasharray="2 3"' : '';
      parts.push(
        `<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.75" ` +
          `stroke-linejoin="round" stroke-linecap="round"${dash}>` +
          `<title>${escapeXml(series[i].label)}</title></path>`,
      );
    });
    parts.push('</g>');
    y = bottom + 34;
  }
  // Under the last chart only: the three share the axis, and its ticks are under each.
  parts.push(
    `<text x="${MARGIN.left + PLOT_WIDTH / 2}" y="${y + 6}" text-anchor="middle" fill="${MUTED}">` +
      'minutes since start</text>',
  );
  const height = Math.ceil(y + 18);

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" ` +
      `viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="soak-title soak-desc" ` +
      `font-family="${FONT}" font-size="13" fill="${TEXT}">`,
    `<title id="soak-title">${escapeXml(heading)}</title>`,
    `<desc id="soak-desc">${escapeXml(describe(series, tMax / 60))}</desc>`,
    // Opaque, so the chart stays legible on a dark page (GitHub's dark theme, for one).
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
