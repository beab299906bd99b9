import type { RedisClientLike, RedisNodeLike } from './client.js';

/**
 * Every server to ask about its settings: each master of a Cluster, or the one server, each with
 * a name for messages (`host:port` when known, else `redis`).
 * @internal
 */
export function serversOf(
  client: RedisClientLike,
): Array<{ node: string; server: RedisNodeLike | RedisClientLike }> {
  return client.isCluster === true && typeof client.nodes === 'function'
    ? client.nodes('master').map((server) => ({ node: nameOf(server), server }))
    : [{ node: nameOf(client), server: client }];
}

/**
 * `CONFIG GET` of some settings on one server, or `null` when it refuses (managed services often
 * disable CONFIG) or the client cannot ask.
 * @internal
 */
export async function readConfig(
  server: RedisNodeLike | RedisClientLike,
  names: string[],
): Promise<Map<string, string> | null> {
  try {
    if (typeof server.config !== 'function') return null;
    const reply = await server.config('GET', ...names);
    const map = new Map<string, string>();
    if (Array.isArray(reply)) {
      for (let i = 0; i + 1 < reply.length; i += 2) map.set(String(reply[i]), String(reply[i + 1]));
    }
    return map;
  } catch {
    return null;
  }
}

function nameOf(server: unknown): string {
  const options = (server as { options?: { host?: unknown; port?: unknown } }).options;
  if (options !== undefined && typeof options.host === 'string' && options.port !== undefined) {
    return `${options.host}:${String(options.port)}`;
  }
  return 'redis';
}
