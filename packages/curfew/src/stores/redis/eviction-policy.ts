import type { RedisClientLike, RedisNodeLike } from './client.js';
import { readConfig, serversOf } from './node-config.js';

/**
 * What one Redis server would do when full.
 *
 * @example
 * ```ts
 * const node: RedisEvictionNodeReport = { node: '10.0.0.5:6379', policy: 'allkeys-lru', maxmemory: 1 << 30, atRisk: true };
 * ```
 */
export interface RedisEvictionNodeReport {
  /** `host:port` when known, else `redis`. */
  node: string;
  /** `maxmemory-policy`, or `null` when the server would not say (CONFIG disabled). */
  policy: string | null;
  /** `maxmemory` in bytes (0: no limit), or `null` when unknown. */
  maxmemory: number | null;
  /** Whether this server could evict curfew keys; `null` when unknown. */
  atRisk: boolean | null;
}

/**
 * The answer of {@link checkRedisEvictionPolicy}.
 *
 * @example
 * ```ts
 * const report: RedisEvictionReport = await checkRedisEvictionPolicy(client);
 * if (report.status !== 'safe') logger.warn(report.message);
 * ```
 */
export interface RedisEvictionReport {
  /**
   * - `safe`: no server can evict (`noeviction`, or no `maxmemory` limit);
   * - `at-risk`: at least one can drop session keys when full;
   * - `unknown`: a server refused `CONFIG GET` (common on managed services): check its settings.
   */
  status: 'safe' | 'at-risk' | 'unknown';
  nodes: RedisEvictionNodeReport[];
  /** A sentence for a start-up warning naming the servers and policies; `null` when safe. */
  message: string | null;
}

/**
 * Asks every Redis server behind a client (each master of a Cluster) whether it could evict
 * session keys when full, for a service to warn at start-up.
 *
 * Only `noeviction` is safe. Every curfew key carries a TTL by design, so the `volatile-*`
 * policies, which evict keys with a TTL, can drop them just like the `allkeys-*` ones. Eviction
 * never makes a revoked session valid again (a missing record or pointer always reads as
 * "missing"), but it signs users out at random and loses the audit trail. A server without a
 * `maxmemory` limit never evicts, whatever its policy. With `noeviction`, a full Redis refuses
 * new sessions (`STORE_UNAVAILABLE`) while validation and revocation keep working.
 *
 * @example
 * ```ts
 * import { checkRedisEvictionPolicy } from 'curfew/redis';
 *
 * const report = await checkRedisEvictionPolicy(client);
 * if (report.message !== null) logger.warn(report.message);
 * ```
 */
export async function checkRedisEvictionPolicy(
  client: RedisClientLike,
): Promise<RedisEvictionReport> {
  const servers = serversOf(client);
  const nodes = await Promise.all(servers.map(({ node, server }) => inspect(node, server)));
  if (nodes.length === 0) {
    // A Cluster client that has not connected yet knows no node: not having asked is not "safe".
    return {
      status: 'unknown',
      nodes,
      message: 'No Redis node to ask about its eviction policy yet: check it once connected.',
    };
  }
  const atRisk = nodes.filter((n) => n.atRisk === true);
  const unknown = nodes.filter((n) => n.atRisk === null);
  if (atRisk.length > 0) {
    const named = atRisk.map((n) => `${n.node} (maxmemory-policy ${n.policy})`).join(', ');
    return {
      status: 'at-risk',
      nodes,
      message:
        `Redis could evict curfew session keys when full: ${named}. ` +
        'Set maxmemory-policy to noeviction for the sessions database ' +
        '(every curfew key has a TTL, so volatile-* policies evict them too).',
    };
  }
  if (unknown.length > 0) {
    return {
      status: 'unknown',
      nodes,
      message:
        `Could not read the eviction policy of ${unknown.map((n) => n.node).join(', ')} ` +
        '(CONFIG GET refused): make sure maxmemory-policy is noeviction.',
    };
  }
  return { status: 'safe', nodes, message: null };
}

async function inspect(
  node: string,
  server: RedisNodeLike | RedisClientLike,
): Promise<RedisEvictionNodeReport> {
  const settings = await readConfig(server, ['maxmemory-policy', 'maxmemory']);
  if (settings === null) return { node, policy: null, maxmemory: null, atRisk: null };
  const policy = settings.get('maxmemory-policy') ?? null;
  const limit = settings.get('maxmemory');
  const maxmemory = limit === undefined ? null : Number(limit);
  if (policy === null || maxmemory === null || Number.isNaN(maxmemory)) {
    return { node, policy, maxmemory, atRisk: null };
  }
  return { node, policy, maxmemory, atRisk: policy !== 'noeviction' && maxmemory > 0 };
}
