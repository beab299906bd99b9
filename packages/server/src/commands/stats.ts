import type { Command } from './command.js';
import { STORE_SETTINGS, withSessions } from './with-sessions.js';

const DAY = 24 * 60 * 60 * 1000;

/** `curfew stats`: sessions valid now, and sessions ended in the last 24 hours by reason. */
export const statsCommand: Command = {
  name: 'stats',
  summary: 'Sessions active now, and sessions ended in the last 24 hours by reason.',
  flags: { json: { type: 'boolean', description: 'Print JSON.' } },
  settings: STORE_SETTINGS,
  run: (values, io) =>
    withSessions(values, io, async ({ opened, manager }) => {
      const now = Date.now();
      const stats = opened.stats({
        now,
        idleTimeout: manager.policy.idleTimeout,
        since: now - DAY,
      });
      if (values.flags.json === true) {
        io.stdout.write(
          `${JSON.stringify({ ...stats, since: new Date(now - DAY).toISOString() })}\n`,
        );
        return 0;
      }
      const reasons = Object.entries(stats.endedByReason);
      const ended = reasons.reduce((sum, [, n]) => sum + n, 0);
      const lines = [`active now: ${stats.activeNow}`, `ended in the last 24 h: ${ended}`];
      for (const [reason, n] of reasons) lines.push(`  ${reason.padEnd(20)} ${n}`);
      io.stdout.write(`${lines.join('\n')}\n`);
      return 0;
    }),
};
