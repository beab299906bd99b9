// What every private server of the fault harness shares: a server process that can be stopped,
// SIGKILLed and started again with the same command; spare loopback ports; handles that remove
// their directory when destroyed; and the exit hook that kills whatever is left. The servers
// themselves are in postgres.js, mariadb.js and redis.js beside this file.
import { execFile, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** execFile as a promise: for the servers' own clients (psql, mariadb, redis-cli). */
export const run = promisify(execFile);

/** The longest a server may take to start (or a cluster to heal) before it counts as failed. */
export const READY_TIMEOUT_MS = 30_000;
/** The longest a clean stop may take before the server is SIGKILLed instead. */
const STOP_TIMEOUT_MS = 30_000;
const POLL_MS = 50;
// Ports come from below the kernel's ephemeral range (32768 and up on Linux) so that outgoing
// connections cannot take a server's port while it is stopped for a fault; a cluster node's bus
// port (port + 10000) stays below it too.
const PORT_MIN = 10_000;
const PORT_MAX = 20_000;
const CLUSTER_BUS_OFFSET = 10_000;

// Clients get a bare environment: PGHOST, PGPASSWORD, a ~/.pgpass or ~/.my.cnf of whoever runs
// the harness must not redirect them to another server.
export const CLIENT_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };

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
 * Spawns `command` with its output appended to `logFile`, as `uid`/`gid` when given, in `env` (by
 * default the bare client environment).
 */
function spawnLogged(command, args, { logFile, env, uid, gid }) {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(command, args, {
      stdio: ['ignore', fd, fd],
      env: env ?? CLIENT_ENV,
      ...(uid === undefined ? {} : { uid, gid }),
    });
  } finally {
    // The child has its own copy of the descriptor once spawned.
    closeSync(fd);
  }
}

/**
 * One server process, started again and again with the same command: its output appended to a
 * log file, its exit observed so that `stop` and `kill` resolve only once it is gone.
 */
export class ServerProcess {
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
    const { command, args, ...options } = this.spec;
    const child = spawnLogged(command, args, options);
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
export function runLogged(command, args, { timeoutMs = 60_000, ...options }) {
  const { logFile } = options;
  return new Promise((resolve, reject) => {
    const child = spawnLogged(command, args, options);
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
export async function waitReady(what, check, { server, logFile, timeoutMs = READY_TIMEOUT_MS }) {
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
export function accepts(port) {
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
export async function startOnFreePort(startAt, options) {
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
export function makeDir(kind) {
  return mkdtempSync(join(tmpdir(), `curfew-chaos-${kind}-`));
}

/**
 * The parts every handle shares: destroy (idempotent, async), the synchronous teardown of the
 * exit hook, and registration with destroyAll().
 *
 * @param {{ dir: string, servers: () => ServerProcess[], teardown?: () => void }} parts
 *   `teardown`: synchronous cleanup outside the directory, after the processes are killed.
 */
export function trackHandle(parts) {
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
export function assertUsable(entry, kind) {
  if (entry.destroyed) throw new Error(`this private ${kind} server was destroyed`);
}

/**
 * The lifecycle every single-server handle shares, with its own `fields` (url, port, clients).
 * `current` returns the server process as it is now: a restart may launch a new one, so `pid`,
 * `stop` and `kill` look it up on each call rather than keeping the first.
 */
export function serverHandle(kind, entry, { current, stopSignal, relaunch }, fields) {
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
