// Private Redis servers for the fault harness, single or a six-node Cluster (see
// private-server.js for the lifecycle).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import {
  assertUsable,
  CLIENT_ENV,
  makeDir,
  READY_TIMEOUT_MS,
  run,
  runLogged,
  ServerProcess,
  serverHandle,
  startOnFreePort,
  trackHandle,
  waitReady,
} from './private-server.js';

const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const CLUSTER_SLOTS = 16_384;

/**
 * Sends one command to a Redis server over a fresh connection and resolves with its reply (a
 * string, a number or null; an error reply rejects). Polling with this rather than redis-cli
 * spares a process per poll, which matters on a small machine under load.
 */
function redisCall(port, args, timeoutMs = 2_000) {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (error, value) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`redis on ${port}: no reply`)));
    socket.once('error', (error) => finish(error));
    socket.once('close', () => finish(new Error(`redis on ${port}: closed before replying`)));
    socket.once('connect', () => {
      const parts = args.map((arg) => `$${Buffer.byteLength(String(arg))}\r\n${arg}\r\n`);
      socket.write(`*${args.length}\r\n${parts.join('')}`);
    });
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const lineEnd = buffer.indexOf('\r\n');
      if (lineEnd === -1) return;
      const type = String.fromCharCode(buffer[0]);
      const line = buffer.toString('utf8', 1, lineEnd);
      if (type === '+') finish(null, line);
      else if (type === '-') finish(new Error(line));
      else if (type === ':') finish(null, Number(line));
      else if (type === '$') {
        const length = Number(line);
        if (length < 0) finish(null, null);
        else if (buffer.length >= lineEnd + 2 + length + 2) {
          finish(null, buffer.toString('utf8', lineEnd + 2, lineEnd + 2 + length));
        }
      } else finish(new Error(`redis on ${port}: unexpected reply type ${type}`));
    });
  });
}

/** `field:value` lines of INFO or CLUSTER INFO as an object. */
function parseInfo(text) {
  const fields = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** Resolves true once the server answers PING with PONG (not LOADING, while it reads its AOF). */
async function pong(port) {
  return (await redisCall(port, ['PING'])) === 'PONG';
}

/** redis-cli against one server (`-c` follows cluster redirections); its stdout. */
async function redisCli(port, args, { cluster = false } = {}) {
  // -e: an error reply fails the command (exit 1) instead of printing it with exit 0.
  const flags = ['-e', ...(cluster ? ['-c'] : []), '-h', '127.0.0.1', '-p', String(port)];
  const { stdout } = await run(REDIS_CLI, [...flags, ...args.map(String)], {
    env: CLIENT_ENV,
    timeout: 30_000,
  });
  return stdout;
}

/**
 * Writes a redis.conf for one server. A configuration file (rather than arguments) lets
 * `CONFIG REWRITE` keep a runtime change across `start()`.
 */
function writeRedisConf(dir, port, { appendonly, cluster }) {
  const lines = [
    `port ${port}`,
    'bind 127.0.0.1',
    `dir ${dir}`,
    'daemonize no',
    'logfile ""',
    // No RDB snapshots: persistence, when wanted, is the append-only file alone.
    'save ""',
    `appendonly ${appendonly ? 'yes' : 'no'}`,
    'appendfsync everysec',
    // A replica's full sync starts at once instead of waiting 5 s for other replicas to share it.
    'repl-diskless-sync-delay 0',
  ];
  if (cluster !== undefined) {
    lines.push(
      'cluster-enabled yes',
      'cluster-config-file nodes.conf',
      `cluster-node-timeout ${cluster.nodeTimeout}`,
    );
  }
  const file = join(dir, 'redis.conf');
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A redis-server process for `dir`, with its configuration written for `port`. */
function redisServer(dir, port, options) {
  return new ServerProcess({
    command: REDIS_SERVER,
    args: [writeRedisConf(dir, port, options)],
    logFile: join(dir, 'redis.log'),
  });
}

/** Launches a redis-server and waits for PONG; kills it if it never comes. */
async function launchRedis(server, port) {
  server.launch();
  try {
    await waitReady(`redis-server on port ${port}`, () => pong(port), {
      server,
      logFile: server.spec.logFile,
    });
  } catch (error) {
    await server.kill();
    throw error;
  }
}

/**
 * Starts a private redis-server on a spare loopback port, in a new temporary directory. With
 * `persistence`, an append-only file (fsync each second; a clean stop flushes it) keeps the data
 * across `stop()`/`start()` and `kill()`/`start()`, losing at most the last second of writes on a
 * kill. Without it, every start begins empty.
 *
 * `CONFIG SET` changes last until the next start, as on a real server; `cli('CONFIG', 'REWRITE')`
 * writes them to the server's redis.conf so that they survive it.
 *
 * @param {{ persistence?: boolean }} [options]
 * @returns {Promise<{
 *   kind: 'redis', url: string, port: number, dir: string, persistence: boolean,
 *   readonly pid: number | null,
 *   stop(): Promise<void>, start(): Promise<void>, kill(): Promise<void>,
 *   destroy(): Promise<void>,
 *   cli(...args: (string | number)[]): Promise<string>,
 *   config(...args: (string | number)[]): Promise<string>,
 * }>} `url` is `redis://127.0.0.1:PORT`; `stop` is SIGTERM (Redis's clean shutdown); `cli`
 *   runs one command through redis-cli and returns its stdout, rejecting on an error reply;
 *   `config(...args)` is `cli('CONFIG', ...args)`.
 */
export async function startRedis({ persistence = false } = {}) {
  const dir = makeDir('redis');
  let port = 0;
  let server = null;
  const entry = trackHandle({ dir, servers: () => (server === null ? [] : [server]) });
  try {
    port = await startOnFreePort(async (at) => {
      server = redisServer(dir, at, { appendonly: persistence });
      await launchRedis(server, at);
    });
  } catch (error) {
    await entry.destroy();
    throw error;
  }
  const cli = (...args) => redisCli(port, args);
  return serverHandle(
    'redis',
    entry,
    { current: () => server, stopSignal: 'SIGTERM', relaunch: () => launchRedis(server, port) },
    {
      url: `redis://127.0.0.1:${port}`,
      port,
      dir,
      persistence,
      cli,
      config: (...args) => cli('CONFIG', ...args),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster

/**
 * One line of CLUSTER NODES: `id host:port@bus[,hostname] flags master-id ping pong epoch link
 * slot…`; slot ranges in brackets are migrations, not ownership.
 */
function parseClusterNodes(text) {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const [id, address, flags, masterId, , , , link, ...slots] = line.trim().split(' ');
      const flagList = flags.split(',');
      return {
        id,
        port: Number(address.split('@')[0].split(':').pop()),
        master: flagList.includes('master'),
        failing: flagList.includes('fail') || flagList.includes('fail?'),
        myself: flagList.includes('myself'),
        masterId: masterId === '-' ? null : masterId,
        connected: link === 'connected',
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => slot.split('-').map(Number))
          .map(([from, to]) => [from, to ?? from]),
      };
    });
}

/**
 * Starts a Redis Cluster of private redis-servers (three masters with one replica each by
 * default), each with an append-only file in a folder of its own, joined with `redis-cli
 * --cluster create`; resolves once every node reports cluster_state:ok with all 16384 slots
 * served and every replica is in sync with its master.
 *
 * The URL lists every node as a seed, in the form parseStoreUrl reads, so that a client can
 * start or reconnect whichever node is down.
 *
 * @param {{ masters?: number, replicasPerMaster?: number, nodeTimeout?: number }} [options]
 *   `nodeTimeout` (ms): how long a node is unreachable before it is failed over.
 * @returns {Promise<{
 *   kind: 'redis-cluster', url: string, port: number, ports: number[], dir: string,
 *   stop(): Promise<void>, start(): Promise<void>, kill(): Promise<void>,
 *   destroy(): Promise<void>,
 *   masters(): Promise<{ port: number, id: string, slots: [number, number][],
 *     replicas: number[] }[]>,
 *   killMaster(port?: number): Promise<{ killed: number, promoted: number, ms: number,
 *     okMs: number }>,
 *   restartNode(port: number): Promise<{ restarted: number, role: string, ms: number }>,
 *   pid(port: number): number | null,
 *   cli(...args: (string | number)[]): Promise<string>,
 * }>} `url` is `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…`; `port` is the first node's;
 *   `stop`, `start` and `kill` act on every node; `killMaster` SIGKILLs a master (by default
 *   the one serving slot 0) and resolves once a replica serves its slots and the survivors
 *   report cluster_state:ok (`ms`: kill to promotion seen, `okMs`: kill to healthy);
 *   `restartNode` starts a killed node again and resolves once it has rejoined (as a replica,
 *   if it was failed over) and the whole cluster is healthy; `cli` runs redis-cli -c against a
 *   running node.
 */
export async function startRedisCluster({
  masters = 3,
  replicasPerMaster = 1,
  nodeTimeout = 1_000,
} = {}) {
  const dir = makeDir('redis-cluster');
  /** @type {Map<number, ServerProcess>} */
  const nodes = new Map();
  const entry = trackHandle({ dir, servers: () => [...nodes.values()] });
  const total = masters * (1 + replicasPerMaster);
  const logFile = join(dir, 'cluster.log');

  const runningPorts = () => [...nodes].filter(([, server]) => server.running).map(([p]) => p);

  /** CLUSTER NODES as one running node sees it (the first that answers). */
  const view = async () => {
    for (const port of runningPorts()) {
      const text = await redisCall(port, ['CLUSTER', 'NODES']).catch(() => null);
      if (text !== null) return parseClusterNodes(text);
    }
    throw new Error('no node of the private Redis Cluster answers');
  };

  /**
   * Whether every node in `ports` sees a healthy cluster: state ok, every slot served, no node
   * failing or disconnected, every replica's link to its master up.
   */
  const healthy = async (ports) => {
    const checks = await Promise.all(
      ports.map(async (port) => {
        const cluster = parseInfo(await redisCall(port, ['CLUSTER', 'INFO']));
        if (cluster.cluster_state !== 'ok' || Number(cluster.cluster_slots_ok) !== CLUSTER_SLOTS) {
          return false;
        }
        if (Number(cluster.cluster_known_nodes) !== total) return false;
        const seen = parseClusterNodes(await redisCall(port, ['CLUSTER', 'NODES']));
        if (seen.some((node) => node.failing || !node.connected)) return false;
        // A replica in sync, and done writing the AOF its sync starts (a SIGTERM is refused
        // meanwhile): the cluster is settled, so a fault injected now hits a steady state.
        const info = parseInfo(await redisCall(port, ['INFO', 'replication', 'persistence']));
        const synced = info.role === 'master' || info.master_link_status === 'up';
        const aofWritten =
          info.aof_rewrite_in_progress === '0' && info.aof_rewrite_scheduled === '0';
        return synced && aofWritten;
      }),
    );
    return checks.every(Boolean);
  };

  const waitHealthy = (what) =>
    waitReady(what, () => healthy([...nodes.keys()]), {
      logFile: join(dir, `${runningPorts()[0] ?? [...nodes.keys()][0]}`, 'redis.log'),
    });

  const nodeOptions = { appendonly: true, cluster: { nodeTimeout } };

  try {
    const startNode = async (port) => {
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir, { recursive: true });
      const server = redisServer(nodeDir, port, nodeOptions);
      nodes.set(port, server);
      try {
        await launchRedis(server, port);
      } catch (error) {
        nodes.delete(port);
        rmSync(nodeDir, { recursive: true, force: true });
        throw error;
      }
    };
    await Promise.all(
      Array.from({ length: total }, () => startOnFreePort(startNode, { bus: true })),
    );
    const addresses = [...nodes.keys()].map((port) => `127.0.0.1:${port}`);
    const replicas = ['--cluster-replicas', String(replicasPerMaster)];
    await runLogged(
      REDIS_CLI,
      ['--cluster', 'create', ...addresses, ...replicas, '--cluster-yes'],
      { logFile, timeoutMs: READY_TIMEOUT_MS },
    );
    await waitHealthy('the private Redis Cluster');
  } catch (error) {
    await entry.destroy();
    throw error;
  }

  const ports = [...nodes.keys()];
  const serverAt = (port) => {
    const server = nodes.get(port);
    if (server === undefined) throw new Error(`no node of the private Redis Cluster on ${port}`);
    return server;
  };

  return {
    kind: 'redis-cluster',
    url: `redis+cluster://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    port: ports[0],
    ports,
    dir,
    async stop() {
      await Promise.all([...nodes.values()].map((server) => server.stop('SIGTERM')));
    },
    async start() {
      assertUsable(entry, 'redis-cluster');
      await Promise.all(
        [...nodes]
          .filter(([, server]) => !server.running)
          .map(([port, server]) => launchRedis(server, port)),
      );
      await waitHealthy('the private Redis Cluster');
    },
    async kill() {
      await Promise.all([...nodes.values()].map((server) => server.kill()));
    },
    destroy: () => entry.destroy(),
    async masters() {
      const seen = await view();
      return seen
        .filter((node) => node.master && !node.failing)
        .map((node) => ({
          port: node.port,
          id: node.id,
          slots: node.slots,
          replicas: seen.filter((other) => other.masterId === node.id).map((other) => other.port),
        }))
        .sort((a, b) => (a.slots[0]?.[0] ?? CLUSTER_SLOTS) - (b.slots[0]?.[0] ?? CLUSTER_SLOTS));
    },
    async killMaster(port) {
      const seen = await view();
      const target =
        port === undefined
          ? seen.find((node) => node.master && node.slots.some(([from]) => from === 0))
          : seen.find((node) => node.port === port);
      if (target === undefined || !target.master || target.slots.length === 0) {
        throw new Error(`no master serving slots on ${port ?? 'slot 0'}`);
      }
      const slot = target.slots[0][0];
      const began = performance.now();
      await serverAt(target.port).kill();
      const survivors = runningPorts();
      let promoted = null;
      let ms = 0;
      await waitReady(
        `failover of ${target.port}`,
        async () => {
          if (promoted === null) {
            const owner = (await view()).find(
              (node) =>
                node.master &&
                !node.failing &&
                node.id !== target.id &&
                node.slots.some(([from, to]) => from <= slot && slot <= to),
            );
            if (owner === undefined) return false;
            promoted = owner.port;
            ms = Math.round(performance.now() - began);
          }
          const infos = await Promise.all(
            survivors.map(async (p) => parseInfo(await redisCall(p, ['CLUSTER', 'INFO']))),
          );
          return infos.every(
            (info) =>
              info.cluster_state === 'ok' && Number(info.cluster_slots_ok) === CLUSTER_SLOTS,
          );
        },
        { logFile: join(dir, String(survivors[0]), 'redis.log') },
      );
      return { killed: target.port, promoted, ms, okMs: Math.round(performance.now() - began) };
    },
    async restartNode(port) {
      assertUsable(entry, 'redis-cluster');
      const server = serverAt(port);
      const began = performance.now();
      if (!server.running) await launchRedis(server, port);
      await waitHealthy(`the private Redis Cluster after restarting ${port}`);
      const role = parseInfo(await redisCall(port, ['INFO', 'replication'])).role;
      return { restarted: port, role, ms: Math.round(performance.now() - began) };
    },
    pid: (port) => serverAt(port).pid,
    async cli(...args) {
      const port = runningPorts()[0];
      if (port === undefined) throw new Error('no node of the private Redis Cluster is running');
      return redisCli(port, args, { cluster: true });
    },
  };
}
