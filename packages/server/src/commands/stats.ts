import type { Command } from './command.js';
import { STORE_SETTINGS, withSessions } from './with-sessions.js';

/** `curfew stats`: sessions valid now, and sessions ended in the last 24 hours by reason. */
export const statsCommand: Command = {
  name: 'stats',
  summary: 'Sessions active now, and sessions ended in the last 24 hours by reason.',
  flags: { json: { type: 'boolean', description: 'Print JSON.' } },
  settings: STORE_SETTINGS,
  run: (values, io) =>
    withSessions(values, io, async ({ manager }) => {
      const counts = await manager.countSessions({ endedWithin: '24h' });
      // Most frequent first, then by name, so the table reads the same on every store.
      const reasons = (Object.entries(counts.endedByReason) as [string, number][]).sort(
        ([a, m], [b, n]) => n - m || (a < b ? -1 : 1),
      );
      if (values.flags.json === true) {
        const report = {
          activeNow: counts.active,
          endedByReason: Object.fromEntries(reasons),
          since: counts.endedSince.toISOString(),
        };
        io.stdout.write(`${JSON.stringify(report)}\n`);
        return 0;
      }
      const ended = reasons.reduce((sum, [, n]) => sum + n, 0);
      const lines = [`active now: ${counts.active}`, `ended in the last 24 h: ${ended}`];
      for (const [reason, n] of reasons) lines.push(`  ${reason.padEnd(20)} ${n}`);
      io.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    }),
};
