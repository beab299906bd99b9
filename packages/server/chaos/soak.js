// `npm run soak`: ten minutes of the harness's mix at a fixed rate on SQLite and on Redis at
// once, one instance each, reading each instance's /metrics every second: resident memory,
// heap used, event-loop lag (p99). Once warm (after the first fifth of the run), nothing may grow
// beyond the bounds below; the whole history is checked as in `npm run chaos`. Draws the curves
// (docs/soak.svg with --report) and exits 1 on a violation or a bound exceeded.
//
//   npm run build && npm run soak -w @curfew/server [-- --minutes M] [--rate R] [--report ../../docs/reliability.md]
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { runScenario, saveHistory } from './harness.js';
import { plotSoak } from './plot.js';
import { destroyAll, startRedis } from './private-stores.js';
import { replaceSection } from './report.js';

/**
 * Growth allowed from the warm floor to the last one (see below), and the lag allowed at any
 * second once warm. Stated here and in docs/reliability.md.
 */
export const BOUNDS = { rssMiB: 32, heapMiB: 16, lagMs: 100 };

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '100' },
    report: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const rate = Number(values.rate);
const MiB = 1024 * 1024;

/** The figures a /metrics text gives for one sample. */
function readSample(text, at) {
  const value = (name) => {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
    return match === null ? Number.NaN : Number(match[1]);
  };
  return {
    t: at / 1000,
    rssMiB: value('process_resident_memory_bytes') / MiB,
    heapMiB: value('nodejs_heap_size_used_bytes') / MiB,
    lagMs: value('nodejs_eventloop_lag_p99_seconds') * 1000,
  };
}

async function soak(label, storeUrl) {
  const samples = [];
  const run = await runScenario({
    storeUrl,
    seconds: minutes * 60,
    rate,
    instances: 1,
    deferCheck: true,
    async sample({ instances, key, at }) {
      try {
        const response = await fetch(`${instances[0].url}/metrics`, {
          headers: { authorization: `Bearer ${key}` },
          signal: AbortSignal.timeout(900),
        });
        samples.push(readSample(await response.text(), at));
      } catch {
        // A missed second is a gap in the curve, not a failure.
      }
    },
  });
  return { label, samples, check: run.check };
}

/** The soak's figures for one store, once every store's run is over. */
function judge({ label, samples, check }) {
  const outcome = check();
  // Memory is a sawtooth (it climbs until a major collection drops it), so a mean over a minute
  // depends on where the collections fell. What a leak raises is the floor: the lowest value
  // after collections, compared between the warm part (20–50% of the run) and the end (70–100%).
  const floor = (list, field) => Math.min(...list.map((s) => s[field]));
  const total = minutes * 60;
  const warm = samples.filter((s) => s.t >= total * 0.2 && s.t < total * 0.5);
  const last = samples.filter((s) => s.t >= total * 0.7);
  const afterWarm = samples.filter((s) => s.t >= total * 0.2);
  const figures = {
    label,
    calls: outcome.figures.calls,
    violations: outcome.figures.violations,
    rssWarm: floor(warm, 'rssMiB'),
    rssLast: floor(last, 'rssMiB'),
    heapWarm: floor(warm, 'heapMiB'),
    heapLast: floor(last, 'heapMiB'),
    lagMax: Math.max(...afterWarm.map((s) => s.lagMs)),
  };
  figures.ok =
    figures.violations === 0 &&
    figures.rssLast - figures.rssWarm <= BOUNDS.rssMiB &&
    figures.heapLast - figures.heapWarm <= BOUNDS.heapMiB &&
    figures.lagMax <= BOUNDS.lagMs;
  if (outcome.violations.length > 0) {
    const file = saveHistory(`curfew-soak-${label}`, outcome.history);
    console.log(`soak: ${label}: ${JSON.stringify(outcome.figures.byRule)}; history: ${file}`);
    for (const violation of outcome.violations.slice(0, 5)) {
      console.log(`  ! ${violation.rule}: ${violation.detail}`);
    }
  }
  return { label, samples, figures };
}

const scratch = mkdtempSync(join(tmpdir(), 'curfew-soak-'));
let runs;
try {
  const redis = await startRedis({ persistence: true });
  // Both at once, and checked only when both are over (see runScenario's deferCheck).
  const finished = await Promise.all([
    soak('SQLite', `sqlite:${join(scratch, 'sessions.db')}`),
    soak('Redis', redis.url),
  ]);
  runs = finished.map(judge);
} finally {
  await destroyAll();
  rmSync(scratch, { recursive: true, force: true });
}

const f1 = (n) => n.toFixed(1);
const rows = runs.map(({ figures: f }) =>
  [
    f.label,
    f.calls,
    f.violations,
    `${f1(f.rssWarm)} → ${f1(f.rssLast)} MiB (${f.rssLast >= f.rssWarm ? '+' : ''}${f1(f.rssLast - f.rssWarm)})`,
    `${f1(f.heapWarm)} → ${f1(f.heapLast)} MiB (${f.heapLast >= f.heapWarm ? '+' : ''}${f1(f.heapLast - f.heapWarm)})`,
    `${f1(f.lagMax)} ms`,
    f.ok ? 'ok' : 'EXCEEDED',
  ].join(' | '),
);
for (const row of rows) console.log(`soak: ${row}`);
if (values.report) {
  const date = new Date().toISOString().slice(0, 10);
  const svgPath = join(dirname(values.report), 'soak.svg');
  writeFileSync(
    svgPath,
    plotSoak(
      runs.map(({ label, samples }) => ({ label, samples })),
      { title: `curfew soak: ${minutes} min at ${rate} calls/s per store (${date})`, bounds: {} },
    ),
  );
  const table = [
    `Measured ${date} with \`npm run soak -w @curfew/server\` (${minutes} minutes at ${rate} calls/s ` +
      'on each store at once, one instance each; memory is compared floor to floor, the lowest value in 20–50% of the run against the lowest in its last 30%, since a leak raises what is left after each collection).',
    '',
    `| Store | Requests | Violations | RSS warm → last (bound +${BOUNDS.rssMiB} MiB) | Heap used warm → last (bound +${BOUNDS.heapMiB} MiB) | Worst event-loop lag p99 once warm (bound ${BOUNDS.lagMs} ms) | |`,
    '|---|--:|--:|---|---|--:|---|',
    ...rows.map((row) => `| ${row} |`),
    '',
    '![Resident memory, heap used and event-loop lag of each instance, second by second](soak.svg)',
  ].join('\n');
  writeFileSync(values.report, replaceSection(readFileSync(values.report, 'utf8'), 'soak', table));
  console.log(`soak: table written to ${values.report}, curves to ${svgPath}`);
}
process.exitCode = runs.every((run) => run.figures.ok) ? 0 : 1;
