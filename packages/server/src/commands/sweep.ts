import type { Command } from './command.js';
import { ENDING_SETTINGS, withSessions } from './with-sessions.js';

/** `curfew sweep`: ends every expired session now. */
export const sweepCommand: Command = {
  name: 'sweep',
  summary:
    'End every expired session now (a running server also sweeps on a timer). Safe beside running servers.',
  flags: { json: { type: 'boolean', description: 'Print JSON.' } },
  settings: ENDING_SETTINGS,
  run: (values, io) =>
    withSessions(values, io, async ({ manager }) => {
      const result = await manager.sweepExpired();
      io.stdout.write(
        values.flags.json === true
          ? `${JSON.stringify(result)}\n`
          : `ended ${result.absolute} by absolute timeout, ${result.idle} by idle timeout\n`,
      );
      return 0;
    }),
};
