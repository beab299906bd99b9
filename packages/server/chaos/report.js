// Writes the harness's figures into docs/reliability.md: each generated part lives between
// `<!-- name:start -->` and `<!-- name:end -->`, so the prose around it stays hand-written and a
// new run replaces only the figures.

const STORE_NAMES = {
  sqlite: 'SQLite',
  postgres: 'PostgreSQL',
  mariadb: 'MariaDB',
  redis: 'Redis',
  'redis-cluster': 'Redis Cluster',
};

/**
 * The table of one full run, as Markdown.
 *
 * @param {Array<Record<string, any>>} results the figures of each scenario (run.js)
 * @param {{ command: string, date: string, seconds: number, rate: number, total: number }} run
 */
export function scenarioTable(results, { command, date, seconds, rate, total }) {
  const rows = results.map((r) => {
    const other = Object.entries(r.byRule)
      .filter(([rule, count]) => count > 0 && rule !== 'lost' && rule !== 'revived')
      .map(([rule, count]) => `${rule} ${count}`)
      .join(', ');
    const cells = [
      STORE_NAMES[r.store] ?? r.store,
      r.fault + (r.integrity === undefined ? '' : ` (integrity_check: ${r.integrity})`),
      r.calls,
      r.fault === 'none' ? 0 : 1,
      r.violations,
      r.other5xx,
      r.byRule.lost,
      r.byRule.revived,
      r.refused503,
      r.unanswered,
      `${r.longestMs} ms`,
      r.recoveryMs === null ? '–' : `${r.recoveryMs} ms`,
      other === '' ? '–' : other,
    ];
    return `| ${cells.join(' | ')} |`;
  });
  const calls = results.reduce((n, r) => n + r.calls, 0);
  const violations = results.reduce((n, r) => n + r.violations, 0);
  return [
    `Measured ${date} with \`${command}\` (${results.length} scenarios, ${seconds} s each at ` +
      `${rate} calls/s, two instances behind the harness's balancer; ${calls} calls, ` +
      `${violations} violations; the whole run took ${Math.round(total)} s on this 2-core machine).`,
    '',
    '| Store | Fault | Requests | Faults | Violations | 5xx other than 503 | Lost | Revived | 503 (outcome unknown) | No answer | Longest answer | Recovery | Other rules |',
    '|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
    ...rows,
  ].join('\n');
}

/** `text` with the part between the markers of `name` replaced by `content`. */
export function replaceSection(text, name, content) {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from < 0 || to < from) throw new Error(`no ${start} … ${end} section to replace`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}
