// Private redis-servers for the benchmarks: a single server, or a Redis Cluster of three masters
// (as test/support/redis-cluster.ts starts one), on spare loopback ports, in temporary directories,
// without persistence. Every server started here is stopped by `stop()`, and killed when the
// process exits, whatever happened. Signals are left to the bench, which may have its own
// cleaning up to do first. Not a benchmark itself: run.js runs only *.bench.js files.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port whose cluster bus port (port + 10000) is free too, below the kernel's
 * ephemeral range so that outgoing connections do not take it meanwhile.
 */
export async function freePort(taken = new Set()) {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('no free port');
}

function pong(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/**
 * Starts a redis-server on a spare loopback port, with `args` added; resolves once it answers
 * PING. Returns its port, process id and `stop()`.
 */
export async function startRedis(name, args = [], port = undefined) {
  const chosen = port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `curfew-bench-redis-${name}-`));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(chosen),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      ...args,
    ],
    { stdio: 'ignore' },
  );
  running.add(child);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  void exited.then(() => running.delete(child));
  const stop = async () => {
    if (running.has(child)) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await pong(chosen))) {
    if (Date.now() > deadline || !running.has(child)) {
      await stop();
      throw new Error(`redis-server ${name} did not start on port ${chosen}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { name, port: chosen, pid: child.pid, stop };
}

/**
 * Starts `masters` redis-servers in cluster mode, joins them with `redis-cli --cluster create`
 * (no replicas) and waits for cluster_state:ok on every node. Returns the ports and `stop()`.
 */
export async function startRedisCluster(masters = 3) {
  const nodes = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    const taken = new Set();
    for (let i = 0; i < masters; i += 1) {
      const port = await freePort(taken);
      taken.add(port);
      nodes.push(
        await startRedis(
          'cluster',
          [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '5000',
          ],
          port,
        ),
      );
    }
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    await run(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(
        nodes.map(async (node) => {
          const { stdout } = await run('redis-cli', ['-p', String(node.port), 'cluster', 'info']);
          return (
            stdout.includes('cluster_state:ok') &&
            stdout.includes(`cluster_known_nodes:${masters}`) &&
            stdout.includes('cluster_slots_assigned:16384')
          );
        }),
      );
      if (states.every(Boolean)) break;
      if (Date.now() > deadline) throw new Error('the cluster never reached cluster_state:ok');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { ports: nodes.map((node) => node.port), stop };
}

/** `used_memory` of one server, in bytes, from INFO memory. */
export async function usedMemory(client) {
  const info = await client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}
