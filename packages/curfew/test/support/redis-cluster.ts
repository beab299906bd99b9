// A real Redis Cluster of three masters on loopback ports, started from redis-server for one test
// file and stopped afterwards (and killed at process exit if a test run dies first).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { RECOMMENDED_REDIS_OPTIONS } from '../../src/stores/redis/index.js';
import { freePort, type PrivateRedis, startPrivateRedis } from './redis-server.js';

const run = promisify(execFile);

/** A running cluster: its node ports, a way to connect, and `stop`. */
export interface RedisClusterHarness {
  readonly ports: number[];
  /** A new ioredis Cluster client with the store's recommended options, ready to use. */
  connect(): Promise<Cluster>;
  stop(): Promise<void>;
}

/** Starts `masters` redis-servers in cluster mode, joins them, and waits for cluster_state:ok. */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHarness> {
  const nodes: PrivateRedis[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    const taken = new Set<number>();
    for (let i = 0; i < masters; i += 1) {
      const port = await freePort(taken);
      taken.add(port);
      nodes.push(
        await startPrivateRedis(
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '5000',
            '--appendonly',
            'no',
          ],
          { port, name: 'cluster' },
        ),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      {
        timeout: 30_000,
      },
    );
    await waitForClusterOk(nodes.map((node) => node.port));
  } catch (error) {
    await stop();
    throw error;
  }
  const ports = nodes.map((node) => node.port);
  return {
    ports,
    async connect() {
      const cluster = new Cluster(
        ports.map((port) => ({ host: '127.0.0.1', port })),
        { enableOfflineQueue: false, redisOptions: { ...RECOMMENDED_REDIS_OPTIONS } },
      );
      cluster.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        cluster.once('ready', () => resolve());
        cluster.once('end', () => reject(new Error('cluster connection ended')));
      });
      return cluster;
    },
    stop,
  };
}

async function waitForClusterOk(ports: number[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(
      ports.map(async (port) => {
        const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
        return (
          stdout.includes('cluster_state:ok') &&
          stdout.includes(`cluster_known_nodes:${ports.length}`) &&
          stdout.includes('cluster_slots_assigned:16384')
        );
      }),
    );
    if (states.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('the test cluster never reached cluster_state:ok');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
