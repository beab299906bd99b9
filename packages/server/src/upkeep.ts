import type { SessionManager, SweepResult } from 'curfew';
import type { Metrics } from './metrics.js';

/**
 * What one round of upkeep did: sessions ended by their timeouts, and ended sessions deleted at
 * the end of their retention.
 *
 * @example
 * ```ts
 * const { absolute, idle, purged } = await runUpkeep(manager, { retention: 30 * 86_400_000 });
 * ```
 */
export interface UpkeepResult extends SweepResult {
  purged: number;
}

/**
 * One round of the service's timer: ends expired sessions (in batches, pausing `pause` between
 * them), then deletes sessions that ended more than `retention` ago, by the manager's clock.
 * The sweep goes first so that a session it ends starts its retention now, not before.
 *
 * @example
 * ```ts
 * startSweepTimer({ interval: 60_000, sweep: () => runUpkeep(manager, { retention, metrics }) });
 * ```
 */
export async function runUpkeep(
  manager: SessionManager,
  options: { retention: number; pause?: number | undefined; metrics?: Metrics | undefined },
): Promise<UpkeepResult> {
  const swept = await manager.sweepExpired({ pause: options.pause ?? 0 });
  const purged = await manager.purgeEnded({ olderThan: options.retention });
  options.metrics?.countPurged(purged);
  return { ...swept, purged };
}
