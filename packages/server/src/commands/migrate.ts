import { loadConfig } from '../config.js';
import { migrateStore } from '../open-store.js';
import type { Command } from './command.js';

/** `curfew migrate`: brings the store's schema up to date, alone (for a deploy step). */
export const migrateCommand: Command = {
  name: 'migrate',
  summary:
    'Bring the store’s schema up to date. `curfew serve` does this on start too; run it alone in a deploy step.',
  flags: {},
  settings: ['store', 'storePoolSize', 'storeTimeout'],
  async run(values, io) {
    const config = loadConfig(io.env, values.settings);
    const result = await migrateStore(config.store, config.storeConnection);
    if (result === null) {
      io.stdout.write(`${config.storeUrl}: nothing to migrate\n`);
    } else if (result.applied.length === 0) {
      io.stdout.write(`${config.storeUrl}: schema is up to date (version ${result.to})\n`);
    } else {
      io.stdout.write(
        `${config.storeUrl}: schema ${result.from} -> ${result.to} (applied ${result.applied.join(', ')})\n`,
      );
    }
    return 0;
  },
};
