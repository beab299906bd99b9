import { SessionManager } from 'curfew';
import { loadConfig, type ServerConfig } from '../config.js';
import { type OpenedStore, openStore } from '../open-store.js';
import type { CommandIo, ParsedFlags } from './command.js';

/**
 * The settings a one-shot command that works on the store reads: where the store is and how to
 * reach it. No policy setting applies: each session carries the limits it was created with, so
 * listing, sweeping and revoking read them from the session, not from the command line.
 */
export const STORE_SETTINGS = ['store', 'storePoolSize', 'storeTimeout'] as const;

/**
 * {@link STORE_SETTINGS} and the retention, for commands that end or delete sessions: on Redis an
 * ended session's record expires after the retention, and `purge` deletes by it.
 */
export const ENDING_SETTINGS = [...STORE_SETTINGS, 'retention'] as const;

/**
 * Opens the configured store and a manager on it for one command, and closes the store after,
 * whatever happens. The CLI works on the store directly, not through a running server.
 *
 * @example
 * ```ts
 * return withSessions(values, io, async ({ manager }) => { await manager.sweepExpired(); return 0; });
 * ```
 */
export async function withSessions(
  values: ParsedFlags,
  io: CommandIo,
  run: (context: {
    manager: SessionManager;
    opened: OpenedStore;
    config: ServerConfig;
  }) => Promise<number>,
): Promise<number> {
  const config = loadConfig(io.env, values.settings);
  if (config.store.kind === 'memory') {
    io.stderr.write('curfew: note: a memory: store starts empty in every process\n');
  }
  const opened = await openStore(config.store, {
    connection: config.storeConnection,
    retention: config.retention,
  });
  try {
    const manager = new SessionManager({ store: opened.store, policy: config.policy });
    return await run({ manager, opened, config });
  } finally {
    await opened.close();
  }
}
