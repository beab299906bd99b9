// Private database servers for the fault harness: PostgreSQL, MariaDB, Redis and a six-node Redis
// Cluster, each started from the system's binaries on spare loopback ports in a temporary
// directory of its own, so that the harness can stop, SIGKILL and restart them on purpose. The
// shared services on the standard ports (5432, 3306, 6379) are never touched: every server here
// has its own data, its own port from a range below the kernel's ephemeral ports, and no
// configuration file from /etc.
//
// Settings favour speed over durability only where durability means surviving an operating
// system crash (fsync off, a small buffer pool), never where it means surviving a SIGKILL of the
// server: a killed server must come back with every write it acknowledged, or the harness would
// blame the service for losses the store caused. Every process started here is killed and every
// directory removed by `destroy()`, by `destroyAll()`, and at process exit whatever happened.
import { execFile, execFileSync, spawn } from 'node:child_process';
import {
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The longest a server may take to start (or a cluster to heal) before it counts as failed. */
const READY_TIMEOUT_MS = 30_000;
/** The longest a clean stop may take before the server is SIGKILLed instead. */
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
// Ports come from below the kernel's ephemeral range (32768 and up on Linux) so that outgoing
// connections cannot take a server's port while it is stopped for a fault; a cluster node's bus
// port (port + 10000) stays below it too.
const PORT_MIN = 10_000;
const PORT_MAX = 20_000;
const CLUSTER_BUS_OFFSET = 10_000;
const CLUSTER_SLOTS = 16_384;

const MARIADBD = '/usr/sbin/mariadbd';
const MARIADB_INSTALL_DB = '/usr/bin/mariadb-install-db';
const MARIADB_CLIENT = '/usr/bin/mariadb';
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';

// Clients get a bare environment: PGHOST, PGPASSWORD, a ~/.pgpass or ~/.my.cnf of whoever runs
// the harness must not redirect them to another server.
const CLIENT_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

// ---------------------------------------------------------------------------------------------
// Processes

/** Every handle not yet destroyed, for `destroyAll()` and the exit hook. */
const handles = new Set();

/** Resolves after `ms`. */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The last lines of a log file, for an error message; never throws. */
function logTail(file, lines = 25) {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Whether a process exists and is not a zombie waiting for a parent to reap it. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The pids whose parent is `pid`, read from /proc (PostgreSQL's backends and workers). */
function childPids(pid) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // Gone between readdir and read.
    }
  }
  return found;
}

function sigkill(pid) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * One server process, started again and again with the same command: its output appended to a
 * log file, its exit observed so that `stop` and `kill` resolve only once it is gone.
 */
class ServerProcess {
  /**
   * @param {{ command: string, args: string[], logFile: string, env?: object,
   *   uid?: number, gid?: number, withChildren?: boolean }} spec `withChildren`: the server
   *   forks processes that outlive it when it is SIGKILLed, and must be killed with it.
   */
  constructor(spec) {
    this.spec = spec;
    this.child = null;
    this.exited = Promise.resolve();
  }

  get pid() {
    return this.child?.pid ?? null;
  }

  get running() {
    return this.child !== null;
  }

  launch() {
    const { command, args, logFile, env, uid, gid } = this.spec;
    const fd = openSync(logFile, 'a');
    let child;
    try {
      child = spawn(command, args, {
        stdio: ['ignore', fd, fd],
        env: env ?? CLIENT_ENV,
        detached: false,
        ...(uid === undefined ? {} : { uid, gid }),
      });
    } finally {
      closeSync(fd);
    }
    // A script that forgets destroyAll() must still be able to end; the exit hook kills us then.
    child.unref();
    this.child = child;
    this.exited = new Promise((resolve) => {
      const done = () => {
        if (this.child === child) this.child = null;
        resolve();
      };
      child.once('exit', done);
      child.once('error', done);
    });
  }

  /** Resolves once the process has exited, keeping this process alive until then. */
  async waitExit() {
    // Unreferenced, the child would let the event loop end in the middle of the wait.
    this.child?.ref();
    await this.exited;
  }

  /**
   * Sends `signal` and waits for the exit; SIGKILL if it takes longer than STOP_TIMEOUT_MS. The
   * signal is sent again each second: Redis ignores a SIGTERM that comes while it writes its
   * first append-only file ("Writing initial AOF, can't exit"), and a repeat is harmless to the
   * others, whose shutdown is already under way.
   */
  async stop(signal) {
    const child = this.child;
    if (child === null) return;
    child.kill(signal);
    const again = setInterval(() => child.kill(signal), 1_000);
    const timer = setTimeout(() => void this.kill(), STOP_TIMEOUT_MS);
    await this.waitExit();
    clearInterval(again);
    clearTimeout(timer);
  }

  /** The pids to SIGKILL: the server's and, for PostgreSQL, its children. */
  pids() {
    if (this.child === null) return [];
    const pid = this.child.pid;
    return this.spec.withChildren ? [pid, ...childPids(pid)] : [pid];
  }

  /** SIGKILLs it (and its children) and resolves once every one of them is gone. */
  async kill() {
    const pids = this.pids();
    for (const pid of pids) sigkill(pid);
    await this.waitExit();
    const deadline = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(10);
  }
}

/**
 * Runs a command to completion with its output appended to `logFile`; throws with the log's tail
 * if it fails.
 */
function runLogged(command, args, { logFile, env, uid, gid, timeoutMs = 60_000 }) {
  return new Promise((resolve, reject) => {
    const fd = openSync(logFile, 'a');
    let child;
    try {
      child = spawn(command, args, {
        stdio: ['ignore', fd, fd],
        env: env ?? CLIENT_ENV,
        ...(uid === undefined ? {} : { uid, gid }),
      });
    } finally {
      closeSync(fd);
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${command} failed to run: ${error.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else {
        const how = signal ?? `exit code ${code}`;
        reject(new Error(`${command} failed (${how}); its log ends:\n${logTail(logFile)}`));
      }
    });
  });
}

/**
 * Polls `check` until it returns true; throws (with the log's tail) if the server exits first or
 * READY_TIMEOUT_MS passes.
 */
async function waitReady(what, check, { server, logFile, timeoutMs = READY_TIMEOUT_MS }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server !== undefined && !server.running) {
      throw new Error(`${what} exited while starting; its log ends:\n${logTail(logFile)}`);
    }
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${what} not ready after ${timeoutMs} ms; its log ends:\n${logTail(logFile)}`,
      );
    }
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------------------------------------
// Ports

/** Whether nothing listens on a loopback port. */
function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Ports handed out in this process, so that two servers started together never share one. */
const handedOut = new Set();

/** A free loopback port (and, for a cluster node, a free bus port too) from the private range. */
async function freePort({ bus = false } = {}) {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN));
    const wanted = bus ? [port, port + CLUSTER_BUS_OFFSET] : [port];
    if (wanted.some((p) => handedOut.has(p))) continue;
    // Reserved before the checks, which wait: picks made at the same time never share a port.
    for (const p of wanted) handedOut.add(p);
    if ((await portFree(port)) && (!bus || (await portFree(port + CLUSTER_BUS_OFFSET)))) {
      return port;
    }
    for (const p of wanted) handedOut.delete(p);
  }
  throw new Error('no free loopback port for a private store server');
}

/** Whether something accepts TCP connections on a loopback port: cheaper than a client. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => done(true));
  });
}

/**
 * Starts a server on a fresh port, and on another one if the start failed because something took
 * the port between the check and the bind (another harness, a test run).
 */
async function startOnFreePort(startAt, options) {
  for (let attempt = 1; ; attempt += 1) {
    const port = await freePort(options);
    try {
      await startAt(port);
      return port;
    } catch (error) {
      if (attempt >= 3 || (await portFree(port))) throw error;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Handles

/** A fresh private directory under the system's temporary one. */
function makeDir(kind) {
  return mkdtempSync(join(tmpdir(), `curfew-chaos-${kind}-`));
}

/**
 * The parts every handle shares: destroy (idempotent, async), the synchronous teardown of the
 * exit hook, and registration with destroyAll().
 *
 * @param {{ dir: string, servers: () => ServerProcess[], teardown?: () => void }} parts
 *   `teardown`: synchronous cleanup outside the directory, after the processes are killed.
 */
function trackHandle(parts) {
  let destroyed = false;
  const entry = {
    get destroyed() {
      return destroyed;
    },
    killSync() {
      for (const server of parts.servers()) for (const pid of server.pids()) sigkill(pid);
    },
    removeSync() {
      try {
        parts.teardown?.();
      } finally {
        rmSync(parts.dir, { recursive: true, force: true, maxRetries: 3 });
      }
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      handles.delete(entry);
      await Promise.all(parts.servers().map((server) => server.kill()));
      entry.removeSync();
    },
  };
  handles.add(entry);
  hookProcessExit();
  return entry;
}

/** Throws if the handle was destroyed: starting it again would start a server on no data. */
function assertUsable(entry, kind) {
  if (entry.destroyed) throw new Error(`this private ${kind} server was destroyed`);
}

/**
 * The lifecycle every single-server handle shares, with its own `fields` (url, port, clients).
 * `current` returns the server process as it is now: a restart may launch a new one, so `pid`,
 * `stop` and `kill` look it up on each call rather than keeping the first.
 */
function serverHandle(kind, entry, { current, stopSignal, relaunch }, fields) {
  return Object.assign(
    {
      kind,
      get pid() {
        return current().pid;
      },
      stop: () => current().stop(stopSignal),
      async start() {
        assertUsable(entry, kind);
        if (!current().running) await relaunch();
      },
      kill: () => current().kill(),
      destroy: () => entry.destroy(),
    },
    fields,
  );
}

let hooked = false;

/** Kills what is left at process exit (only synchronous work is possible there). */
function hookProcessExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const entry of handles) entry.killSync();
    for (const entry of handles) {
      try {
        entry.removeSync();
      } catch {
        // Exiting anyway: leave what cannot be removed.
      }
    }
    handles.clear();
  });
  // A signal ends the process without 'exit' unless someone listens. Alone, this listener exits
  // as the default action would (128 + the signal's number) so that the hook above runs; with
  // other listeners, they decide when to exit, and the hook runs then.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      if (process.listenerCount(signal) === 1) process.exit(128 + osConstants.signals[signal]);
    });
  }
}

/**
 * Destroys every private server this process started and not yet destroyed: each is SIGKILLed
 * and its directory removed. Also done at process exit, synchronously, for any left.
 *
 * @returns {Promise<void>}
 */
export async function destroyAll() {
  await Promise.all([...handles].map((entry) => entry.destroy()));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/** The bin folder of the newest PostgreSQL under /usr/lib/postgresql. */
function postgresBin() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const version = versions.find((name) => existsSync(join(root, name, 'bin', 'postgres')));
  if (version === undefined) throw new Error(`no PostgreSQL server under ${root}/*/bin`);
  return join(root, version, 'bin');
}

/** The uid and gid of a system user, from /etc/passwd. */
function systemUser(name) {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (line === undefined) throw new Error(`no system user ${name} to run PostgreSQL as`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Removes the System V shared memory segment a SIGKILLed postmaster leaves behind; a restart
 * would reuse it, but a destroyed server never restarts. Found by its key in postmaster.pid (a
 * key derived from this server's port) rather than by id, since an id may have been recycled.
 */
function removeOrphanedSegment(dataDir) {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const key = readFileSync(pidFile, 'utf8').split('\n')[6]?.trim().split(/\s+/)[0];
  if (key === undefined || !/^\d+$/.test(key)) return;
  try {
    execFileSync('ipcrm', ['-M', key], { stdio: 'ignore' });
  } catch {
    // Already removed by a clean stop or by the restart that reused it.
  }
}

/**
 * Starts a private PostgreSQL server: `initdb` (trust authentication, user `postgres`) in a new
 * temporary directory, then `postgres` on a spare loopback port, with its Unix socket in that
 * directory. Run as the `postgres` system user when this process is root, since PostgreSQL
 * refuses to run as root.
 *
 * Tuned for speed: fsync off and small shared buffers. Commits still reach the kernel before they
 * are acknowledged (synchronous_commit stays on) and full-page writes stay on, so a SIGKILL loses
 * nothing acknowledged; only an operating-system crash could.
 *
 * @returns {Promise<{
 *   kind: 'postgres', url: string, port: number, dir: string, dataDir: string,
 *   readonly pid: number | null,
 *   stop(): Promise<void>, start(): Promise<void>, kill(): Promise<void>,
 *   destroy(): Promise<void>, sql(text: string): Promise<string>,
 * }>} `url` is `postgres://postgres@127.0.0.1:PORT/postgres`; `pid` is the postmaster's;
 *   `stop` is a fast shutdown (SIGINT: sessions ended, checkpoint); `kill` SIGKILLs the
 *   postmaster and every backend; `sql` runs statements through psql and returns its
 *   unaligned, tuples-only output.
 */
export async function startPostgres() {
  const bin = postgresBin();
  const dir = makeDir('postgres');
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const asUser = process.getuid?.() === 0 ? systemUser('postgres') : {};
  if (asUser.uid !== undefined) chownSync(dir, asUser.uid, asUser.gid);
  const env = { PATH: CLIENT_ENV.PATH, LC_ALL: 'C' };
  let port = 0;
  let server = null;
  const entry = trackHandle({
    dir,
    servers: () => (server === null ? [] : [server]),
    teardown: () => removeOrphanedSegment(dataDir),
  });

  const sql = async (text) => {
    const connection = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'postgres'];
    const { stdout } = await run(
      join(bin, 'psql'),
      ['-X', '-w', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', ...connection, '-c', text],
      { env: { ...CLIENT_ENV, PGCONNECT_TIMEOUT: '3' }, timeout: 30_000 },
    );
    return stdout;
  };

  const settings = [
    'listen_addresses=127.0.0.1',
    'fsync=off',
    'shared_buffers=16MB',
    'max_connections=100',
    'huge_pages=off',
    // Dynamic shared memory as files in the data folder, not in /dev/shm, so that a SIGKILLed
    // server leaves nothing outside its directory.
    'dynamic_shared_memory_type=mmap',
  ].flatMap((setting) => ['-c', setting]);

  const startAt = async (at) => {
    port = at;
    server = new ServerProcess({
      command: join(bin, 'postgres'),
      args: ['-D', dataDir, '-p', String(port), '-k', dir, ...settings],
      logFile,
      env,
      ...asUser,
      withChildren: true,
    });
    server.launch();
    try {
      await waitReady(
        `postgres on port ${port}`,
        async () => (await accepts(port)) && (await sql('SELECT 1')).trim() === '1',
        { server, logFile },
      );
    } catch (error) {
      await server.kill();
      throw error;
    }
  };

  try {
    await runLogged(
      join(bin, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--no-instructions']
        // C locale: nothing to look up, and byte order, which the store's columns use anyway.
        .concat(['-E', 'UTF8', '--locale=C']),
      { logFile: join(dir, 'initdb.log'), env, ...asUser },
    );
    await startOnFreePort(startAt);
  } catch (error) {
    await entry.destroy();
    throw error;
  }

  return serverHandle(
    'postgres',
    entry,
    { current: () => server, stopSignal: 'SIGINT', relaunch: () => startAt(port) },
    { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, dir, dataDir, sql },
  );
}

// ---------------------------------------------------------------------------------------------
// MariaDB

/**
 * Starts a private MariaDB server: `mariadb-install-db` in a new temporary directory (root
 * without a password, no test database), then `mariadbd` on a spare loopback port with its socket
 * in that directory, and a database `test`. No option file is read (`--no-defaults`), so the
 * shared server's configuration never applies.
 *
 * Tuned for speed: a small buffer pool and `innodb_flush_log_at_trx_commit=2` (the log written
 * to the kernel at each commit, flushed to disk each second): a SIGKILL loses nothing
 * acknowledged, only an operating-system crash could.
 *
 * @returns {Promise<{
 *   kind: 'mariadb', url: string, port: number, dir: string, socket: string,
 *   readonly pid: number | null,
 *   stop(): Promise<void>, start(): Promise<void>, kill(): Promise<void>,
 *   destroy(): Promise<void>, sql(text: string, database?: string): Promise<string>,
 * }>} `url` is `mysql://root@127.0.0.1:PORT/test`; `stop` is a clean shutdown (SIGTERM);
 *   `sql` runs statements through the mariadb client over TCP (in `test` unless told) and
 *   returns its batch output without column names.
 */
export async function startMariadb() {
  const dir = makeDir('mariadb');
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mariadbd.sock');
  const logFile = join(dir, 'mariadbd.log');
  // The same InnoDB sizes at install and at every start, so no start has to resize the redo log.
  const innodb = ['--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M'];
  let port = 0;
  let server = null;
  const entry = trackHandle({ dir, servers: () => (server === null ? [] : [server]) });

  const client = async (args) => {
    const { stdout } = await run(
      MARIADB_CLIENT,
      ['--no-defaults', '-u', 'root', '--connect-timeout=3', '-N', '-B', ...args],
      { env: CLIENT_ENV, timeout: 30_000 },
    );
    return stdout;
  };
  const tcp = () => ['--protocol=TCP', '-h', '127.0.0.1', '-P', String(port)];
  const sql = (text, database = 'test') => client([...tcp(), '-e', text, database]);

  const startAt = async (at) => {
    port = at;
    server = new ServerProcess({
      command: MARIADBD,
      args: [
        // --no-defaults must come first: it keeps /etc/mysql (the shared server's) out.
        '--no-defaults',
        // mariadbd refuses to run as root unless told to.
        '--user=root',
        `--datadir=${dataDir}`,
        `--socket=${socket}`,
        `--pid-file=${join(dir, 'mariadbd.pid')}`,
        `--tmpdir=${dir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        '--skip-name-resolve',
        '--skip-log-bin',
        '--innodb-flush-log-at-trx-commit=2',
        ...innodb,
        '--max-connections=200',
        // Without an option file the server's default would be latin1.
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_unicode_ci',
      ],
      logFile,
    });
    server.launch();
    try {
      await waitReady(
        `mariadbd on port ${port}`,
        async () => (await accepts(port)) && (await client([...tcp(), '-e', 'SELECT 1'])) === '1\n',
        { server, logFile },
      );
    } catch (error) {
      await server.kill();
      throw error;
    }
  };

  try {
    await runLogged(
      MARIADB_INSTALL_DB,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--user=root',
        '--skip-test-db',
        // root@localhost, root@127.0.0.1 and root@::1, all without a password.
        '--auth-root-authentication-method=normal',
        '--skip-name-resolve',
        ...innodb,
      ],
      { logFile: join(dir, 'install.log') },
    );
    await startOnFreePort(startAt);
    // Over the socket: the database `test` does not exist yet for the TCP form of sql().
    await client([`--socket=${socket}`, '-e', 'CREATE DATABASE IF NOT EXISTS test']);
  } catch (error) {
    await entry.destroy();
    throw error;
  }

  return serverHandle(
    'mariadb',
    entry,
    { current: () => server, stopSignal: 'SIGTERM', relaunch: () => startAt(port) },
    { url: `mysql://root@127.0.0.1:${port}/test`, port, dir, socket, sql },
  );
}

// ---------------------------------------------------------------------------------------------
// Redis

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
