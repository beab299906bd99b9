import type { RedisClientLike, RedisNodeLike } from './client.js';
import { readConfig, serversOf } from './node-config.js';

/**
 * Whether one Redis server writes its data anywhere it can read back after a restart.
 *
 * @example
 * ```ts
 * const node: RedisPersistenceNodeReport = { node: '10.0.0.5:6379', appendonly: false, save: '', durable: false };
 * ```
 */
export interface RedisPersistenceNodeReport {
  /** `host:port` when known, else `redis`. */
  node: string;
  /** `appendonly` (AOF), or `null` when the server would not say (CONFIG disabled). */
  appendonly: boolean | null;
  /** `save` (RDB snapshot points, `''`: none), or `null` when unknown. */
  save: string | null;
  /** Whether a restart would find the sessions again; `null` when unknown. */
  durable: boolean | null;
}

/**
 * The answer of {@link checkRedisPersistence}.
 *
 * @example
 * ```ts
 * const report: RedisPersistenceReport = await checkRedisPersistence(client);
 * if (report.message !== null) logger.warn(report.message);
 * ```
 */
export interface RedisPersistenceReport {
  /**
   * - `durable`: every server writes an append-only file or RDB snapshots;
   * - `volatile`: at least one keeps everything only in memory;
   * - `unknown`: a server refused `CONFIG GET` (common on managed services): check its settings.
   */
  status: 'durable' | 'volatile' | 'unknown';
  nodes: RedisPersistenceNodeReport[];
  /** A sentence for a start-up warning naming the servers; `null` when durable. */
  message: string | null;
}

/**
 * Asks every Redis server behind a client (each master of a Cluster) whether it persists its data
 * (an append-only file, `appendonly yes`, or RDB snapshots, a non-empty `save`), for a service to
 * warn at start-up. A server with neither loses every session when it restarts: every user is
 * signed out at once and the audit trail of ended sessions is gone. Nothing becomes valid that
 * should not (a missing session reads as missing), so this is a warning, not a refusal: a cache
 * of sessions that may be lost is a choice some deployments make knowingly.
 *
 * @example
 * ```ts
 * import { checkRedisPersistence } from 'curfew/redis';
 *
 * const report = await checkRedisPersistence(client);
 * if (report.message !== null) logger.warn(report.message);
 * ```
 */
export async function checkRedisPersistence(
  client: RedisClientLike,
): Promise<RedisPersistenceReport> {
  const servers = serversOf(client);
  const nodes = await Promise.all(servers.map(({ node, server }) => inspect(node, server)));
  if (nodes.length === 0) {
    return {
      status: 'unknown',
      nodes,
      message: 'No Redis node to ask about persistence yet: check it once connected.',
    };
  }
  const volatile = nodes.filter((n) => n.durable === false);
  if (volatile.length > 0) {
    return {
      status: 'volatile',
      nodes,
      message:
        `Redis keeps curfew's sessions only in memory on ${volatile.map((n) => n.node).join(', ')} ` +
        '(appendonly no, save ""): a restart signs every user out and loses the record of ended ' +
        'sessions. Turn on the append-only file (appendonly yes) or RDB snapshots (save) there.',
    };
  }
  const unknown = nodes.filter((n) => n.durable === null);
  if (unknown.length > 0) {
    return {
      status: 'unknown',
      nodes,
      message:
        `Could not read the persistence settings of ${unknown.map((n) => n.node).join(', ')} ` +
        '(CONFIG GET refused): make sure the append-only file or RDB snapshots are on, or a ' +
        'restart signs every user out.',
    };
  }
  return { status: 'durable', nodes, message: null };
}

async function inspect(
  node: string,
  server: RedisNodeLike | RedisClientLike,
): Promise<RedisPersistenceNodeReport> {
  const settings = await readConfig(server, ['appendonly', 'save']);
  if (settings === null) return { node, appendonly: null, save: null, durable: null };
  const aof = settings.get('appendonly');
  const save = settings.get('save') ?? null;
  const appendonly = aof === undefined ? null : aof === 'yes';
  if (appendonly === null || save === null) return { node, appendonly, save, durable: null };
  return { node, appendonly, save, durable: appendonly || save.trim() !== '' };
}
