// A throwaway MariaDB server for fault tests: its own data directory under the system temp folder,
// a spare loopback port, a socket in that directory. The tests stop and start it at will; the
// shared server of DEVELOPERS.md is never touched.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createConnection } from 'mysql2/promise';

const run = promisify(execFile);

function findBinary(name: string): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin'];
  return folders.map((folder) => join(folder, name)).find((path) => existsSync(path));
}

async function sparePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** A private mariadbd; root has no password and reaches it on 127.0.0.1:`port`. */
export class PrivateMariadb {
  readonly port: number;
  readonly #dir: string;
  readonly #server: string;
  #child: ChildProcess | undefined;

  private constructor(dir: string, port: number, server: string) {
    this.#dir = dir;
    this.port = port;
    this.#server = server;
  }

  /** Makes a data directory with mariadb-install-db and starts the server on it. */
  static async create(): Promise<PrivateMariadb> {
    const install = findBinary('mariadb-install-db');
    const server = findBinary('mariadbd');
    if (install === undefined || server === undefined) {
      throw new Error('mariadb-install-db and mariadbd are not installed');
    }
    const dir = mkdtempSync(join(tmpdir(), 'curfew-mariadb-'));
    const mariadb = new PrivateMariadb(dir, await sparePort(), server);
    try {
      await run(
        install,
        [
          '--no-defaults',
          `--datadir=${join(dir, 'data')}`,
          '--auth-root-authentication-method=normal',
          '--skip-test-db',
          ...mariadb.#asUser(),
        ],
        { timeout: 60_000 },
      );
      await mariadb.start();
    } catch (error) {
      await mariadb.destroy();
      throw error;
    }
    return mariadb;
  }

  /** Starts the server on the same data directory and port; resolves once it answers. */
  async start(): Promise<void> {
    const dir = this.#dir;
    const child = spawn(
      this.#server,
      [
        '--no-defaults',
        `--datadir=${join(dir, 'data')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--socket=${join(dir, 'mysqld.sock')}`,
        `--pid-file=${join(dir, 'mysqld.pid')}`,
        `--log-error=${join(dir, 'error.log')}`,
        '--skip-log-bin',
        '--innodb-buffer-pool-size=32M',
        ...this.#asUser(),
      ],
      { stdio: 'ignore' },
    );
    this.#child = child;
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`mariadbd exited with ${child.exitCode}`);
      try {
        const connection = await createConnection({
          host: '127.0.0.1',
          port: this.port,
          user: 'root',
          connectTimeout: 1_000,
        });
        await connection.end();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** Stops the server with `signal` (SIGTERM: a clean shutdown; SIGKILL: a crash). */
  async stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  /** Stops the server and removes its data directory. */
  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #asUser(): string[] {
    // mariadbd refuses to run as root unless told to; the directory is root's own here.
    return process.getuid?.() === 0 ? ['--user=root'] : [];
  }
}
