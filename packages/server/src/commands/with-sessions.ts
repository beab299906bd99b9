import { SessionManager } from 'curfew';
import { loadConfig, type ServerConfig } from '../config.js';
import { type OpenedStore, openStore } from '../open-store.js';
import type { CommandIo, ParsedFlags } from './command.js';

/** The settings every command that works on the store reads. */
export const STORE_SETTINGS = [
  'store',
  'storePoolSize',
  'storeTimeout',
  'policy',
  'idleTimeout',
  'absoluteTimeout',
  'absoluteWarning',
  'idleWarning',
  'activityWriteInterval',
  'retention',
] as const;

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
