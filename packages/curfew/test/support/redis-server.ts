// Private redis-server processes for tests that must not touch the shared server: fault tests
// (kill, restart, out of memory) and the cluster harness. Every process started here is stopped
// by `stop()`, and killed when the test process exits, whatever happened.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A redis-server on a loopback port of its own, in a temporary directory. */
export interface PrivateRedis {
  readonly port: number;
  readonly dir: string;
  /** Starts it (again, on the same port and directory) and waits until it answers PING. */
  start(): Promise<void>;
  /** Kills it at once (SIGKILL by default): what a crash or an OOM kill looks like. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Stops it if running and removes its directory. */
  stop(): Promise<void>;
}

/** Whether nothing listens on a loopback port. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free loopback port whose cluster bus port (port + 10000) is free too, from a range below the
 * kernel's ephemeral ports so that outgoing connections do not take it meanwhile.
 */
export async function freePort(taken: ReadonlySet<number> = new Set()): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) return port;
  }
  throw new Error('no free port pair found for a private redis-server');
}

/** Resolves when the server on `port` answers PING with PONG (not LOADING), or throws. */
export async function waitForPong(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pong(port)) return;
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The process id of whatever redis-server answers on `port` (INFO server), or null. */
function answeringPid(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (pid: number | null) => {
      socket.destroy();
      resolve(pid);
    };
    socket.setTimeout(1_000, () => done(null));
    socket.once('error', () => done(null));
    socket.once('connect', () => socket.write('INFO server\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      const match = /process_id:(\d+)/.exec(reply);
      if (match !== null) done(Number(match[1]));
    });
  });
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
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
 * Starts a redis-server with `args` added to a safe base (loopback only, no RDB snapshots, its
 * own directory), on `port` or a free one.
 */
export async function startPrivateRedis(
  args: string[] = [],
  options: { port?: number; name?: string } = {},
): Promise<PrivateRedis> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await startOn(options.port ?? (await freePort()), args, options.name);
    } catch (error) {
      // Another test file took the port between the check and the bind: try another one.
      if (options.port !== undefined || attempt >= 5 || !(error instanceof PortTaken)) throw error;
    }
  }
}

class PortTaken extends Error {}

async function startOn(port: number, args: string[], name = 'redis'): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), `curfew-${name}-${port}-`));
  let child: ChildProcess | null = null;

  const start = async () => {
    if (child !== null) throw new Error('already running');
    const started = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--logfile',
        join(dir, 'redis.log'),
        ...args,
      ],
      { stdio: 'ignore' },
    );
    child = started;
    running.add(started);
    started.once('exit', () => {
      running.delete(started);
      if (child === started) child = null;
    });
    await waitForPong(port);
    // The PONG must come from this process, not from another test's server on the same port.
    if ((await answeringPid(port)) !== started.pid) {
      started.kill('SIGKILL');
      throw new PortTaken(`port ${port} is served by another redis-server`);
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const current = child;
    if (current === null) return;
    const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    current.kill(signal);
    const timer = setTimeout(() => current.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };

  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    dir,
    start,
    kill,
    async stop() {
      await kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
