import { parseDuration } from 'curfew';
import { type Command, optionalFlag, parseOffsetTime, UsageError } from './command.js';
import { ENDING_SETTINGS, withSessions } from './with-sessions.js';

/** `curfew purge`: deletes ended sessions past their retention, or before a given time. */
export const purgeCommand: Command = {
  name: 'purge',
  usage: '[--ended-before TIME|DURATION]',
  summary:
    'Delete ended sessions (never active ones) that ended before a time, or longer ago than a duration; by default, longer ago than CURFEW_RETENTION. A running server also does this on its sweep timer. Safe beside running servers.',
  flags: {
    'ended-before': {
      type: 'string',
      value: 'TIME|DURATION',
      description:
        'An ISO 8601 time with its offset (2026-11-01T00:00:00Z), or a duration meaning that long ago (90d).',
    },
    json: { type: 'boolean', description: 'Print JSON.' },
  },
  settings: ENDING_SETTINGS,
  run: (values, io) =>
    withSessions(values, io, async ({ manager, config }) => {
      const given = optionalFlag(values, 'ended-before');
      const purged = await manager.purgeEnded(
        given === undefined ? { olderThan: config.retention } : cutoff(given),
      );
      io.stdout.write(
        values.flags.json === true
          ? `${JSON.stringify({ purged })}\n`
          : `deleted ${purged} ended session${purged === 1 ? '' : 's'}\n`,
      );
      return 0;
    }),
};

function cutoff(text: string): { endedBefore: number } | { olderThan: number } {
  const time = parseOffsetTime(text);
  if (time !== null) return { endedBefore: time };
  try {
    return { olderThan: parseDuration(text, '--ended-before') };
  } catch {
    throw new UsageError(
      '--ended-before: expected an ISO 8601 time with its offset, such as 2026-11-01T00:00:00Z, or a duration such as 90d',
    );
  }
}
