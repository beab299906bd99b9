import type { LuaScript } from './scripts.js';

/**
 * What {@link RedisStore} needs from a Redis client: an ioredis `Redis` or `Cluster` fits as it
 * is. curfew never imports ioredis; install it yourself (v5).
 *
 * A `Cluster` routes a script by its first key, which is why every store script's first key is
 * in the slot the script works on.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import type { RedisClientLike } from 'curfew/redis';
 *
 * const client: RedisClientLike = new Redis(process.env.REDIS_URL!);
 * ```
 */
export interface RedisClientLike {
  /**
   * A command with its reply's strings as Buffers (records hold raw bytes): the store sends
   * `EVALSHA` and, for a script the server does not know yet, `EVAL`.
   */
  callBuffer(command: string, args: Array<string | Buffer | number>): Promise<unknown>;
  ping(): Promise<unknown>;
  /** `true` on an ioredis `Cluster`: the store then keeps every script within one slot. */
  readonly isCluster?: boolean | undefined;
  /** On a `Cluster`: its nodes, to ping and inspect each master. */
  nodes?(role: 'master'): RedisNodeLike[];
  /** `CONFIG GET`, for {@link checkRedisEvictionPolicy}; managed services may refuse it. */
  config?(subcommand: 'GET', ...parameters: string[]): Promise<unknown>;
}

/**
 * One Redis server, as a `Cluster`'s `nodes('master')` returns it.
 *
 * @example
 * ```ts
 * const masters: RedisNodeLike[] = cluster.nodes('master');
 * ```
 */
export interface RedisNodeLike {
  ping(): Promise<unknown>;
  config?(subcommand: 'GET', ...parameters: string[]): Promise<unknown>;
  readonly options?: { readonly host?: string | undefined; readonly port?: number | undefined };
}

/**
 * Runs a cached script, loading it when the server does not know it yet (after a restart, a
 * failover or SCRIPT FLUSH): one round trip normally, two the first time on each server.
 * @internal
 */
export async function runScript(
  client: RedisClientLike,
  script: LuaScript,
  keys: ReadonlyArray<string | Buffer>,
  args: ReadonlyArray<string | Buffer | number>,
): Promise<unknown> {
  try {
    return await client.callBuffer('EVALSHA', [script.sha, keys.length, ...keys, ...args]);
  } catch (error) {
    if (!isNoScript(error)) throw error;
    return client.callBuffer('EVAL', [script.source, keys.length, ...keys, ...args]);
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
